"""What one sandbox run is configured with: its accounts, speed, limits and injected faults.

The same model is the `sandbox` part of the settings (`KLING_GATEWAY_SANDBOX__*`), the base the command line
overlays its options on, and what tests build directly.
"""

from __future__ import annotations

import base64
import binascii
import secrets
from collections.abc import Callable
from decimal import Decimal
from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

Now = Callable[[], int]  # reads a clock, in milliseconds since the epoch like every Kling timestamp
Rate = Annotated[float, Field(ge=0.0, le=1.0)]
Slots = Annotated[int, Field(ge=1)]
Currency = Literal["CNY", "USD"]
# What one unit of each pack costs when paid in cash. §8: a video unit is $0.14 and an image unit $0.0035; the
# CNY rate is not published, so 1 yuan a video unit (and image units in the same 40:1 ratio) stands in for it.
DEFAULT_UNIT_PRICES: dict[Currency, dict[str, Decimal]] = {
    "USD": {"video": Decimal("0.14"), "image": Decimal("0.0035"), "audio": Decimal("0.14")},
    "CNY": {"video": Decimal("1"), "image": Decimal("0.025"), "audio": Decimal("1")},
}


class Account(BaseModel):
    """One Kling account: the key pair that signs JWTs and, optionally, a static API key."""

    model_config = ConfigDict(frozen=True)

    access_key: str = Field(min_length=1)
    secret_key: str = Field(min_length=1, repr=False)  # never in a log line or a traceback
    api_key: str | None = Field(default=None, repr=False)
    api_key_name: str = "default"  # the console name of the API key, as the deduction exports show it
    pays_cash: Currency | None = None  # None: deductions come from resource packs; else from a cash balance

    @classmethod
    def generate(cls) -> Self:
        """Create a fresh demo account with random keys."""
        return cls(
            access_key="ak_" + secrets.token_hex(12),
            secret_key="sk_" + secrets.token_hex(32),
            api_key="kling_" + secrets.token_hex(20),
        )


class SandboxConfig(BaseModel):
    """Tune a sandbox; every rate is a probability in [0, 1] and every limit a count of slots."""

    model_config = ConfigDict(frozen=True)

    host: str = "127.0.0.1"  # where `kling-gateway sandbox` listens
    port: int = Field(default=8001, ge=0, le=65535)
    accounts: tuple[Account, ...] = Field(default_factory=lambda: (Account.generate(),), min_length=1)
    speed: float = Field(default=1.0, gt=0)  # durations of reference §6.1 are divided by this
    failure_rate: Rate = 0.0  # tasks that end `failed`
    error_rate: Rate = 0.0  # requests answered 500/503/504 before anything is done
    lost_response_rate: Rate = 0.0  # creates that are stored but answered with a 5xx
    video_concurrency: Slots = 5  # running video tasks per account
    image_concurrency: Slots = 10  # running image slots per account (an image task takes `n`)
    try_on_concurrency: Slots = 5  # running virtual try-on tasks per account
    resource_pack_units: int = Field(default=10_000, ge=0)  # size of each account's video, image and try-on packs
    webhook_secret: SecretStr | None = None  # whsec_…: sign callbacks with Standard Webhooks headers
    public_url: str | None = None  # base of result URLs; the request's own host when unset
    callback_timeout_s: float = Field(default=10.0, gt=0)
    # MiB of an MP4 `free` box (which players skip) after each result video: files as large as real ones, for
    # download load runs; 0 serves the bare clips.
    video_padding_mb: int = Field(default=0, ge=0, le=1024)
    seed: int | None = None  # fixes the random draws, for reproducible runs
    # Models the video endpoints answer "has been discontinued" for when a request names them (2026 §1 [obs]).
    retired_models: tuple[str, ...] = ("kling-v1",)
    unit_prices: dict[Currency, dict[str, Decimal]] = Field(default_factory=lambda: DEFAULT_UNIT_PRICES)
    cash_discount: Decimal = Field(default=Decimal("1"), gt=0, le=1)  # what a cash account pays of the list price
    cash_balance: Decimal = Field(default=Decimal("10000"), ge=0)  # each cash account's starting balance

    @field_validator("webhook_secret")
    @classmethod
    def _whsec(cls, secret: SecretStr | None) -> SecretStr | None:
        """Refuse a secret that is not `whsec_` followed by Base64, as Standard Webhooks secrets are."""
        if secret is None:
            return None
        value = secret.get_secret_value()
        try:
            if not value.startswith("whsec_"):
                raise ValueError("no whsec_ prefix")
            base64.b64decode(value.removeprefix("whsec_"), validate=True)
        except (ValueError, binascii.Error) as error:
            raise ValueError(f"must be whsec_ followed by Base64 ({error})") from None
        return secret
