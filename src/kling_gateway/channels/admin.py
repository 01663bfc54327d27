"""Add, list, update, enable, disable and remove channels (upstream Kling accounts), and mark those whose
credentials the upstream refused; every admin query about them lives here.

A removed channel that nothing refers to is deleted. One that has run tasks (or made videos, sessions, elements or
voices that later tasks name) is retired instead: its row stays, disabled, without its secrets, so that each of its
tasks still says where it ran; listings, selection and every admin command by name leave it out.
"""

from __future__ import annotations

import base64
import binascii
from enum import Enum
from typing import NamedTuple, TypedDict
from urllib.parse import urlsplit

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from kling_gateway.clock import now_ms
from kling_gateway.errors import InvalidRequest
from kling_gateway.store.models import CHANNELS, TASKS, Channel
from kling_gateway.store.records import TaskStatus
from kling_gateway.upstream import health_rows
from kling_gateway.users.service import check_name

TEXT_MAX_CHARS = 255  # the width of the base URL and key columns
WHSEC_PREFIX = "whsec_"
_UNFINISHED = [status.value for status in TaskStatus if not status.is_final]


class ChannelChanges(TypedDict, total=False):
    """What `update_channel` changes besides credentials; a field left out stays as it is."""

    base_url: str
    priority: int
    weight: int
    video_concurrency: int
    image_concurrency: int
    try_on_concurrency: int
    webhook_secret: str | None  # None: callbacks need no signature from now on


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
    settings = checked_changes(
        {
            "base_url": base_url,
            "priority": priority,
            "weight": weight,
            "video_concurrency": video_concurrency,
            "image_concurrency": image_concurrency,
            "try_on_concurrency": try_on_concurrency,
            "webhook_secret": webhook_secret,
        }
    )
    channel = Channel(
        name=name,
        access_key=access_key,
        secret_key=secret_key,
        api_key=api_key,
        enabled=True,
        created_at=now_ms(),
        **settings,
    )
    if await session.scalar(select(CHANNELS.c.removed_at).where(CHANNELS.c.name == name)) is not None:
        raise InvalidRequest(
            f"a removed channel named {name!r} keeps its name for the tasks that ran on it; choose another name"
        )
    session.add(channel)
    try:
        await session.flush()
    except IntegrityError:
        # Also the outcome of two admins racing for one name: the unique index decides, not a prior read.
        raise InvalidRequest(f"a channel named {name!r} already exists; choose another name") from None
    return channel


def checked_changes(changes: ChannelChanges) -> ChannelChanges:
    """Check each setting of a channel being added or updated, the same way for both; return them with the base
    URL normalized (no trailing slash)."""
    checked = changes.copy()
    if "base_url" in checked:
        checked["base_url"] = normalized_base_url(checked["base_url"])
    for what, value in (
        ("weight", checked.get("weight")),
        ("video concurrency", checked.get("video_concurrency")),
        ("image concurrency", checked.get("image_concurrency")),
        ("try-on concurrency", checked.get("try_on_concurrency")),
    ):
        if value is not None and value < 1:
            raise InvalidRequest(f"the {what} is {value}; it must be 1 or more")
    secret = checked.get("webhook_secret")
    if secret is not None:
        check_webhook_secret(secret)
    return checked


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

    The channel is left with at least one credential, and any earlier refusal of its credentials (or of its
    account, by its calls) is forgotten: the next task tries the new ones.
    """
    channel = await find_channel(session, name)
    if channel is None:
        return None
    if not isinstance(key_pair, Keep):
        channel.access_key, channel.secret_key = key_pair if key_pair is not None else (None, None)
    if not isinstance(api_key, Keep):
        channel.api_key = api_key
    check_credentials(access_key=channel.access_key, secret_key=channel.secret_key, api_key=channel.api_key)
    channel.misconfigured = None
    await session.flush()
    await health_rows.clear_account_fault(session, channel_id=channel.id)
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


async def find_channel(session: AsyncSession, name: str, *, removed_too: bool = False) -> Channel | None:
    """Look a channel up by name; a removed one only when asked (`removed_too`)."""
    query = select(Channel).where(Channel.name == name)
    if not removed_too:
        query = query.where(Channel.removed_at.is_(None))
    found: Channel | None = await session.scalar(query)
    return found


async def list_channels(session: AsyncSession, *, removed_too: bool = False) -> list[Channel]:
    """List every channel (the removed ones too, when asked), the first to be tried first (highest priority),
    then by name."""
    query = select(Channel).order_by(Channel.priority.desc(), Channel.name)
    if not removed_too:
        query = query.where(Channel.removed_at.is_(None))
    return list((await session.scalars(query)).all())


async def update_channel(session: AsyncSession, *, name: str, changes: ChannelChanges) -> Channel | None:
    """Change a channel's base URL, priority, weight, concurrency limits or webhook secret, each checked as
    `add_channel` checks it; None for an unknown name. Tasks already on the channel stay there: a lower limit only
    holds back new ones until enough have finished."""
    if not changes:
        raise InvalidRequest("nothing to change: give a base URL, priority, weight, concurrency or webhook secret")
    checked = checked_changes(changes)
    channel = await find_channel(session, name)
    if channel is not None:
        for field, value in checked.items():
            setattr(channel, field, value)
        await session.flush()
    return channel


async def set_webhook_secret(session: AsyncSession, *, name: str, webhook_secret: str | None) -> Channel | None:
    """Make a channel's callbacks need signatures with this secret, or none (None); None for an unknown name."""
    return await update_channel(session, name=name, changes={"webhook_secret": webhook_secret})


async def set_channel_enabled(session: AsyncSession, *, name: str, enabled: bool) -> Channel | None:
    """Let a channel take new tasks, or stop it; None for an unknown name."""
    channel = await find_channel(session, name)
    if channel is not None:
        channel.enabled = enabled
        await session.flush()
    return channel


class Removal(NamedTuple):
    """What removing a channel did: deleted it (nothing referred to it) or retired it, keeping its row."""

    channel: Channel
    deleted: bool


async def remove_channel(session: AsyncSession, *, name: str, now_ms: int) -> Removal | None:
    """Remove a channel that holds no unfinished task: delete it when nothing refers to it, else retire it (row
    kept, disabled, secrets wiped) so that its tasks keep their channel. None for an unknown name.

    Refuse, saying how many tasks and in which statuses, while tasks run on it or wait that only it may take. Its
    row is locked first (on PostgreSQL; SQLite has one writer), so a task cannot be claimed for it meanwhile.
    """
    channel: Channel | None = await session.scalar(
        select(Channel).where(Channel.name == name, Channel.removed_at.is_(None)).with_for_update()
    )
    if channel is None:
        return None
    unfinished = await unfinished_on_channel(session, channel_id=channel.id)
    if unfinished:
        statuses = ", ".join(f"{unfinished[status]} {status}" for status in TaskStatus if status in unfinished)
        raise InvalidRequest(
            f"channel {name!r} still has {sum(unfinished.values())} unfinished tasks ({statuses}); "
            f"`channels disable {name}` stops new ones, then remove it once these have finished"
        )
    try:
        async with session.begin_nested():  # the foreign keys of tasks and remembered objects decide
            await session.execute(delete(CHANNELS).where(CHANNELS.c.id == channel.id))
    except IntegrityError:
        pass
    else:
        await health_rows.forget(session, channel_id=channel.id)
        return Removal(channel, deleted=True)
    channel.removed_at, channel.enabled = now_ms, False
    channel.secret_key = channel.api_key = channel.webhook_secret = None
    await session.flush()
    await health_rows.forget(session, channel_id=channel.id)
    return Removal(channel, deleted=False)


async def unfinished_on_channel(session: AsyncSession, *, channel_id: int) -> dict[TaskStatus, int]:
    """Count the unfinished tasks a channel holds, by status: those on it, and those waiting that only it may take."""
    on_it = (TASKS.c.channel_id == channel_id) & TASKS.c.status.in_(_UNFINISHED)
    bound = (TASKS.c.status == TaskStatus.QUEUED.value) & (TASKS.c.required_channel_id == channel_id)
    query = select(TASKS.c.status, func.count()).where(or_(on_it, bound)).group_by(TASKS.c.status)
    return {TaskStatus(status): int(count) for status, count in (await session.execute(query)).all()}
