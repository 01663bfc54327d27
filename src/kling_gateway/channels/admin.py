"""Add, list, enable and disable channels (upstream Kling accounts), set their credentials and webhook secrets,
and mark those whose credentials the upstream refused; every admin query about them lives here."""

from __future__ import annotations

import base64
import binascii
from enum import Enum
from urllib.parse import urlsplit

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from kling_gateway.clock import now_ms
from kling_gateway.errors import InvalidRequest
from kling_gateway.store.models import CHANNELS, Channel
from kling_gateway.users.service import check_name

TEXT_MAX_CHARS = 255  # the width of the base URL and key columns
WHSEC_PREFIX = "whsec_"


class Keep(Enum):
    """A credential `update_credentials` leaves as it is."""

    KEEP = "keep"


KEEP = Keep.KEEP


async def add_channel(
    session: AsyncSession,
    *,
    name: str,
    base_url: str,
    access_key: str | None = None,
    secret_key: str | None = None,
    api_key: str | None = None,
    priority: int = 0,
    weight: int = 1,
    video_concurrency: int = 5,
    image_concurrency: int = 10,
    try_on_concurrency: int = 5,
    webhook_secret: str | None = None,
) -> Channel:
    """Add an enabled channel after checking every value; the base URL is kept without a trailing slash.

    It needs an API key, an access-key/secret-key pair, or both: the new generation takes only the API key.
    """
    check_name(name, what="channel name")
    check_credentials(access_key=access_key, secret_key=secret_key, api_key=api_key)
    for what, value in (
        ("weight", weight),
        ("video concurrency", video_concurrency),
        ("image concurrency", image_concurrency),
        ("try-on concurrency", try_on_concurrency),
    ):
        if value < 1:
            raise InvalidRequest(f"the {what} is {value}; it must be 1 or more")
    if webhook_secret is not None:
        check_webhook_secret(webhook_secret)
    channel = Channel(
        name=name,
        base_url=normalized_base_url(base_url),
        access_key=access_key,
        secret_key=secret_key,
        api_key=api_key,
        priority=priority,
        weight=weight,
        video_concurrency=video_concurrency,
        image_concurrency=image_concurrency,
        try_on_concurrency=try_on_concurrency,
        enabled=True,
        created_at=now_ms(),
        webhook_secret=webhook_secret,
    )
    session.add(channel)
    try:
        await session.flush()
    except IntegrityError:
        # Also the outcome of two admins racing for one name: the unique index decides, not a prior read.
        raise InvalidRequest(f"a channel named {name!r} already exists; choose another name") from None
    return channel


def check_credentials(*, access_key: str | None, secret_key: str | None, api_key: str | None) -> None:
    """Refuse a channel's credentials unless they are an API key, a whole key pair, or both; never echo a secret."""
    if (access_key is None) != (secret_key is None):
        raise InvalidRequest(
            "the access key and the secret key come together: give both --access-key and --secret-key, or neither"
        )
    if access_key is None and api_key is None:
        raise InvalidRequest(
            "a channel needs credentials: --api-key KEY (both API generations), --access-key AK --secret-key SK "
            "(the legacy /v1 endpoints only), or both"
        )
    if access_key is not None:
        check_name(access_key, what="access key", max_chars=TEXT_MAX_CHARS)
    for what, secret in (("secret key", secret_key), ("API key", api_key)):
        if secret is not None and (not secret or len(secret) > TEXT_MAX_CHARS or not secret.isprintable()):
            raise InvalidRequest(f"the {what} must be 1 to {TEXT_MAX_CHARS} printable characters")
        if secret is not None and secret != secret.strip():
            raise InvalidRequest(f"the {what} starts or ends with a space; paste it exactly as the console shows it")


async def update_credentials(
    session: AsyncSession,
    *,
    name: str,
    key_pair: tuple[str, str] | Keep | None = KEEP,
    api_key: str | Keep | None = KEEP,
) -> Channel | None:
    """Set (a value), clear (None) or keep (KEEP) a channel's key pair and API key; None for an unknown name.

    The channel is left with at least one credential, and any earlier refusal of its credentials is forgotten:
    the next task tries the new ones.
    """
    channel: Channel | None = await session.scalar(select(Channel).where(Channel.name == name))
    if channel is None:
        return None
    if not isinstance(key_pair, Keep):
        channel.access_key, channel.secret_key = key_pair if key_pair is not None else (None, None)
    if not isinstance(api_key, Keep):
        channel.api_key = api_key
    check_credentials(access_key=channel.access_key, secret_key=channel.secret_key, api_key=channel.api_key)
    channel.misconfigured = None
    await session.flush()
    return channel


async def mark_misconfigured(session: AsyncSession, *, channel_id: int, reason: str) -> None:
    """Note why the upstream refused a channel's credentials; selection skips it until they are updated."""
    await session.execute(update(CHANNELS).where(CHANNELS.c.id == channel_id).values(misconfigured=reason))


def check_webhook_secret(secret: str) -> None:
    """Refuse a webhook secret that is not `whsec_` and Base64, as the Kling console shows it; never echo it."""
    form = "it must be whsec_ followed by Base64, exactly as the Kling console shows it (e.g. whsec_dGVzdA==)"
    if not secret.startswith(WHSEC_PREFIX):
        raise InvalidRequest(f"the webhook secret does not start with {WHSEC_PREFIX}; {form}")
    if len(secret) > TEXT_MAX_CHARS:
        raise InvalidRequest(f"the webhook secret is longer than {TEXT_MAX_CHARS} characters; {form}")
    try:
        key = base64.b64decode(secret.removeprefix(WHSEC_PREFIX), validate=True)
    except binascii.Error:
        raise InvalidRequest(f"the webhook secret's part after {WHSEC_PREFIX} is not Base64; {form}") from None
    if not key:
        raise InvalidRequest(f"the webhook secret is empty after {WHSEC_PREFIX}; {form}")


def normalized_base_url(base_url: str) -> str:
    """Check that a base URL is http(s) with a host and nothing after the path; drop a trailing slash."""
    example = "e.g. https://api-beijing.klingai.com"
    parts = urlsplit(base_url.strip())
    try:
        parts.port  # noqa: B018 - reading it is what validates the port
    except ValueError:
        raise InvalidRequest(f"the base URL {base_url!r} has an invalid port; {example}") from None
    if parts.scheme not in {"http", "https"} or not parts.hostname or parts.query or parts.fragment:
        raise InvalidRequest(
            f"the base URL {base_url!r} must be http:// or https:// with a host and no query or fragment; {example}"
        )
    normalized = parts.geturl().rstrip("/")
    if len(normalized) > TEXT_MAX_CHARS:
        raise InvalidRequest(f"the base URL is longer than {TEXT_MAX_CHARS} characters")
    return normalized


async def list_channels(session: AsyncSession) -> list[Channel]:
    """List every channel, the first to be tried first (highest priority), then by name."""
    query = select(Channel).order_by(Channel.priority.desc(), Channel.name)
    return list((await session.scalars(query)).all())


async def set_webhook_secret(session: AsyncSession, *, name: str, webhook_secret: str | None) -> Channel | None:
    """Make a channel's callbacks need signatures with this secret, or none (None); None for an unknown name."""
    if webhook_secret is not None:
        check_webhook_secret(webhook_secret)
    channel: Channel | None = await session.scalar(select(Channel).where(Channel.name == name))
    if channel is not None:
        channel.webhook_secret = webhook_secret
        await session.flush()
    return channel


async def set_channel_enabled(session: AsyncSession, *, name: str, enabled: bool) -> Channel | None:
    """Let a channel take new tasks, or stop it; None for an unknown name."""
    channel: Channel | None = await session.scalar(select(Channel).where(Channel.name == name))
    if channel is not None:
        channel.enabled = enabled
        await session.flush()
    return channel
