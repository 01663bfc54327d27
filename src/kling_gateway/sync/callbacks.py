"""Where the upstream calls back about a task, and how the gateway knows the call is genuine."""

from __future__ import annotations

import hashlib
import hmac

CALLBACK_PREFIX = "/upstream/callbacks"


def callback_token(secret_key: str, platform_id: str) -> str:
    """Sign a task's callback path with its channel's secret, so only that upstream account can advance it."""
    return hmac.new(secret_key.encode(), platform_id.encode(), hashlib.sha256).hexdigest()[:32]


def callback_url(public_url: str, secret_key: str, platform_id: str) -> str:
    """Build the callback URL the upstream is given for a task."""
    return f"{public_url.rstrip('/')}{CALLBACK_PREFIX}/{platform_id}/{callback_token(secret_key, platform_id)}"


def token_matches(secret_key: str, platform_id: str, token: str) -> bool:
    """Check a callback path's token in constant time."""
    return hmac.compare_digest(callback_token(secret_key, platform_id), token)
