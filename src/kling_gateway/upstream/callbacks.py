"""Where the upstream calls back about a task, and how the gateway knows the call is genuine.

Two checks: the path's token, derived from the channel's secret key (its API key when it has no key pair), says
which channel the task was sent through; a channel with a webhook secret (`whsec_…`) also signs each callback with
Standard Webhooks headers (`webhook-id`, `webhook-timestamp`, `webhook-signature`), which must match the raw body
and be recent.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from datetime import UTC, datetime

from standardwebhooks.webhooks import Webhook

from kling_gateway.errors import Unauthenticated

CALLBACK_PREFIX = "/upstream/callbacks"
SIGNATURE_HEADERS = ("webhook-id", "webhook-timestamp", "webhook-signature")
SIGNATURE_TOLERANCE_S = 300  # a callback signed further than this from the gateway's clock is refused


def callback_token(secret_key: str, platform_id: str) -> str:
    """Sign a task's callback path with its channel's secret, so only that upstream account can advance it."""
    return hmac.new(secret_key.encode(), platform_id.encode(), hashlib.sha256).hexdigest()[:32]


def callback_url(public_url: str, secret_key: str, platform_id: str) -> str:
    """Build the callback URL the upstream is given for a task."""
    return f"{public_url.rstrip('/')}{CALLBACK_PREFIX}/{platform_id}/{callback_token(secret_key, platform_id)}"


def token_matches(secret_key: str, platform_id: str, token: str) -> bool:
    """Check a callback path's token in constant time."""
    return hmac.compare_digest(callback_token(secret_key, platform_id).encode(), token.encode())


def verify_signature(webhook_secret: str, body: bytes, headers: Mapping[str, str], *, now_s: float) -> None:
    """Check a callback's Standard Webhooks signature of `body` and its timestamp; refuse it saying what is wrong."""
    values = {name: headers.get(name, "") for name in SIGNATURE_HEADERS}
    missing = [name for name, value in values.items() if not value]
    if missing:
        raise Unauthenticated(
            f"the callback is not signed: it lacks the {', '.join(missing)} header(s); this channel has a webhook "
            "secret, so every callback must carry Standard Webhooks headers signed with it"
        )
    message_id, stamp, offered = values.values()
    if not stamp.isascii() or not stamp.isdigit():
        raise Unauthenticated(f"the webhook-timestamp header must be whole seconds since 1970, not {stamp!r}")
    signed_at = int(stamp)
    if abs(now_s - signed_at) > SIGNATURE_TOLERANCE_S:
        raise Unauthenticated(
            f"the webhook-timestamp {signed_at} is more than {SIGNATURE_TOLERANCE_S // 60} minutes from the gateway's "
            f"clock ({int(now_s)}, seconds since 1970); only callbacks signed within that window are accepted"
        )
    try:
        text = body.decode()
    except UnicodeDecodeError:
        raise Unauthenticated("the callback body is not UTF-8 text, so no signature can match it") from None
    expected = Webhook(webhook_secret).sign(message_id, datetime.fromtimestamp(signed_at, UTC), text).encode()
    # During a secret rotation the header lists several space-separated signatures; one match is enough.
    if not any(hmac.compare_digest(expected, signature.encode()) for signature in offered.split()):
        raise Unauthenticated(
            "the webhook-signature header has no v1 signature that matches the body with this channel's webhook secret"
        )
