"""What one sandbox run is configured with: its accounts, speed, limits and injected faults."""

from __future__ import annotations

import base64
import binascii
import secrets
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Account:
    """One Kling account: the key pair that signs JWTs and, optionally, a static API key."""

    access_key: str
    secret_key: str
    api_key: str | None = None

    @classmethod
    def generate(cls) -> Account:
        """Create a fresh demo account with random keys."""
        return cls(
            access_key="ak_" + secrets.token_hex(12),
            secret_key="sk_" + secrets.token_hex(32),
            api_key="kling_" + secrets.token_hex(20),
        )


@dataclass(frozen=True, slots=True)
class SandboxConfig:
    """Tune a sandbox; every rate is a probability in [0, 1] and every limit a count of slots."""

    accounts: tuple[Account, ...] = field(default_factory=lambda: (Account.generate(),))
    speed: float = 1.0  # durations of reference §6.1 are divided by this
    failure_rate: float = 0.0  # tasks that end `failed`
    error_rate: float = 0.0  # requests answered 500/503/504 before anything is done
    lost_response_rate: float = 0.0  # creates that are stored but answered with a 5xx
    video_concurrency: int = 5  # running video tasks per account
    image_concurrency: int = 10  # running image slots per account (an image task takes `n`)
    try_on_concurrency: int = 5  # running virtual try-on tasks per account
    webhook_secret: str | None = None  # whsec_… : sign callbacks with Standard Webhooks headers
    public_url: str | None = None  # base of result URLs; the request's own host when unset
    resource_pack_units: int = 10_000  # size of each account's video, image and try-on packs
    callback_timeout_s: float = 10.0
    seed: int | None = None  # fixes the random draws, for reproducible runs

    def __post_init__(self) -> None:
        for name in ("failure_rate", "error_rate", "lost_response_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1 (got {value})")
        if self.speed <= 0:
            raise ValueError(f"speed must be greater than 0 (got {self.speed})")
        for name in ("video_concurrency", "image_concurrency", "try_on_concurrency"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1 (got {getattr(self, name)})")
        if not self.accounts:
            raise ValueError("at least one account is needed")
        if self.webhook_secret is not None:
            _check_webhook_secret(self.webhook_secret)
        if self.resource_pack_units < 0:
            raise ValueError(f"resource_pack_units must not be negative (got {self.resource_pack_units})")


def _check_webhook_secret(secret: str) -> None:
    """Refuse a secret that is not `whsec_` followed by Base64, as Standard Webhooks secrets are."""
    try:
        if not secret.startswith("whsec_"):
            raise ValueError("no whsec_ prefix")
        base64.b64decode(secret.removeprefix("whsec_"), validate=True)
    except (ValueError, binascii.Error) as error:
        raise ValueError(f"webhook_secret must be whsec_ followed by Base64 ({error})") from None
