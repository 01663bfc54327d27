"""The one settings object: typed, validated at start-up, read from `KLING_GATEWAY_*` variables or `.env`."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

LogLevel = Literal["critical", "error", "warning", "info", "debug"]


class SandboxSettings(BaseModel):
    """Defaults of `kling-gateway sandbox`; each has a command-line option of the same name."""

    host: str = "127.0.0.1"
    port: int = Field(default=8001, ge=0, le=65535)
    speed: float = Field(default=1.0, gt=0)
    failure_rate: float = Field(default=0.0, ge=0, le=1)
    error_rate: float = Field(default=0.0, ge=0, le=1)
    lost_response_rate: float = Field(default=0.0, ge=0, le=1)
    video_concurrency: int = Field(default=5, ge=1)
    image_concurrency: int = Field(default=10, ge=1)
    try_on_concurrency: int = Field(default=5, ge=1)
    resource_pack_units: int = Field(default=10_000, ge=0)
    webhook_secret: SecretStr | None = None
    public_url: str | None = None


class Settings(BaseSettings):
    """Every knob of kling-gateway, e.g. `KLING_GATEWAY_DATA_DIR`, `KLING_GATEWAY_SANDBOX__SPEED`."""

    model_config = SettingsConfigDict(
        env_prefix="KLING_GATEWAY_", env_nested_delimiter="__", env_file=".env", extra="ignore"
    )

    data_dir: Path = Path("data")
    log_level: LogLevel = "info"
    sandbox: SandboxSettings = SandboxSettings()


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Load the settings once per process."""
    return Settings()
