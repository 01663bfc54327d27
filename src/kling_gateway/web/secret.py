"""The key that signs session cookies: the configured one, else one generated once and kept in the data dir."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from kling_gateway.settings import Settings

SECRET_FILE = "web-session-secret"  # noqa: S105 - the name of the file, not a secret
SECRET_BYTES = 32  # 256 bits, the size of an HMAC-SHA256 key
PRIVATE_FILE_MODE = 0o600
PRIVATE_DIRECTORY_MODE = 0o700


def session_secret(settings: Settings) -> bytes:
    """Return the signing key: `web.session_secret`, else the data dir's file, created on first use (every API
    process and every restart then reads the same one)."""
    configured = settings.web.session_secret
    if configured is not None:
        return configured.get_secret_value().encode()
    return kept_secret(settings.data_dir / SECRET_FILE)


def kept_secret(path: Path) -> bytes:
    """Read the secret in a file, or write a new one there for this user alone, whichever process comes first."""
    path.parent.mkdir(mode=PRIVATE_DIRECTORY_MODE, parents=True, exist_ok=True)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
    except FileExistsError:
        kept = path.read_text(encoding="ascii").strip()
        if kept:
            return kept.encode()
        # Another process has just made the file and is writing it: a second read finds it whole.
        return path.read_text(encoding="ascii").strip().encode()
    drawn = secrets.token_urlsafe(SECRET_BYTES)
    with os.fdopen(descriptor, "w", encoding="ascii") as file:
        file.write(drawn + "\n")
    return drawn.encode()
