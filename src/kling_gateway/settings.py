"""The one settings object: typed, validated at start-up, read from `KLING_GATEWAY_*` variables or `.env`."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from kling_gateway.sandbox.config import SandboxConfig

LogLevel = Literal["critical", "error", "warning", "info", "debug"]


class Settings(BaseSettings):
    """Every knob of kling-gateway, e.g. `KLING_GATEWAY_DATA_DIR`, `KLING_GATEWAY_SANDBOX__SPEED`.

    Lists and nested objects are given as JSON, e.g.
    `KLING_GATEWAY_SANDBOX__ACCOUNTS='[{"access_key": "AK", "secret_key": "SK"}]'`.
    """

    model_config = SettingsConfigDict(
        env_prefix="KLING_GATEWAY_", env_nested_delimiter="__", env_file=".env", extra="ignore"
    )

    data_dir: Path = Path("data")
    log_level: LogLevel = "info"
    sandbox: SandboxConfig = Field(default_factory=SandboxConfig)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Load the settings once per process."""
    return Settings()
