"""Choose upstream channels for a task: highest priority first, healthy before degraded within a priority, then
weighted among those with free capacity; a channel down or misconfigured gets none while it is so."""

from __future__ import annotations

import random
from collections import namedtuple
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from kling_gateway.kling.schemas import Generation, PackType
from kling_gateway.store.database import Executor, fetch_all
from kling_gateway.store.models import CHANNELS
from kling_gateway.upstream.client import ChannelCredentials
from kling_gateway.upstream.health import HealthState

NONE_CONFIGURED = "no upstream channel is configured"


@dataclass(frozen=True)
class ChannelChoice:
    """An enabled channel as selection sees it."""

    id: int
    name: str
    credentials: ChannelCredentials
    priority: int
    weight: int
    limits: Mapping[PackType, int]
    webhook_secret: str | None = field(default=None, repr=False)  # whsec_…: its callbacks must be signed with it
    misconfigured: str | None = None  # why the upstream refused its credentials; None while they are accepted
    enabled: bool = True
    health: HealthState = HealthState.UNKNOWN  # what its calls say (`channels.health.with_health`)
    health_reason: str = ""  # why it is not healthy, for a person


# Built once: every submit offers its task to the channels (a submit's read adds to it: `tasks.repository`).
KEPT = select(CHANNELS).where(CHANNELS.c.removed_at.is_(None))
_ENABLED = KEPT.where(CHANNELS.c.enabled.is_(True))
_ChannelRow: Any = namedtuple("_ChannelRow", [str(column.key) for column in KEPT.selected_columns])  # type: ignore[misc]
_channel_row: Callable[[Sequence[Any]], Any] = _ChannelRow._make


async def enabled_channels(session: Executor) -> list[ChannelChoice]:
    """Load every enabled channel (`usable` takes them all, to say why none is left)."""
    return await all_channels(session, enabled_only=True)


async def all_channels(session: Executor, *, enabled_only: bool = False) -> list[ChannelChoice]:
    """Load the channels; tasks already on a disabled channel still need it to finish. A removed channel is left
    out: it is removed only once no unfinished task is on it, and none can be sent to it after."""
    rows = await fetch_all(session, _ENABLED if enabled_only else KEPT, {}, _channel_row)
    return [choice_of(row) for row in rows]


def choice_of(row: Any) -> ChannelChoice:
    """Make a channel's choice of a row that names its columns (a row of `KEPT`, or of a read that adds to it)."""
    return ChannelChoice(
        id=row.id,
        name=row.name,
        credentials=ChannelCredentials(
            row.base_url, row.access_key, row.secret_key, row.api_key, name=row.name, channel_id=row.id
        ),
        priority=row.priority,
        weight=row.weight,
        limits={
            PackType.VIDEO: row.video_concurrency,
            PackType.IMAGE: row.image_concurrency,
            PackType.TRY_ON: row.try_on_concurrency,
        },
        webhook_secret=row.webhook_secret,
        misconfigured=row.misconfigured,
        enabled=row.enabled,
    )


async def channel_name(session: Executor, *, channel_id: int) -> str:
    """Name a channel by its id ("" for one that no longer exists)."""
    name = (await session.execute(select(CHANNELS.c.name).where(CHANNELS.c.id == channel_id))).scalar_one_or_none()
    return name or ""


def refused_reason(channel: ChannelChoice, message: str) -> str:
    """Say which of a channel's credentials the upstream refused (the API key when it has one: it is what is sent)."""
    refused = "API key" if channel.credentials.api_key is not None else "key pair's JWT"
    return f"the upstream refused the {refused}: {message}"


def usable(channels: Sequence[ChannelChoice], generation: Generation | str) -> tuple[list[ChannelChoice], str]:
    """Keep the channels a task of `generation` may go to: enabled, credentials accepted, an API key for the new
    generation (it takes nothing else), and not down nor misconfigured by their calls' account. When none is left,
    also say why, for the task's error."""
    keyed_only = Generation(generation) is Generation.NEW
    left = [
        c
        for c in channels
        if c.enabled
        and c.misconfigured is None
        and c.health.takes_tasks
        and (c.credentials.api_key is not None or not keyed_only)
    ]
    return left, "" if left else _why_none(channels, keyed_only=keyed_only)


def _why_none(channels: Sequence[ChannelChoice], *, keyed_only: bool) -> str:
    if not channels:
        return NONE_CONFIGURED
    enabled = [c for c in channels if c.enabled]
    if not enabled:
        return (
            f"every upstream channel is disabled ({', '.join(c.name for c in channels)}); an admin enables one "
            "with `kling-gateway channels enable NAME`"
        )
    candidates, which = enabled, "every channel"
    if keyed_only:
        candidates, which = [c for c in enabled if c.credentials.api_key is not None], "every channel with an API key"
        if not candidates:
            return (
                "no channel with an API key, which the new generation's endpoints require; an admin adds one "
                "with `kling-gateway channels update NAME --api-key KEY`"
            )
    if all(c.misconfigured is not None for c in candidates):
        return f"{which} is misconfigured: " + _reasons(candidates)
    if all(c.health is HealthState.DOWN for c in candidates):
        return "every upstream channel is down: " + _reasons(candidates)
    return "every upstream channel is down or misconfigured: " + _reasons(candidates)


def _reasons(channels: Sequence[ChannelChoice]) -> str:
    return "; ".join(f"{c.name}: {c.misconfigured or c.health_reason or c.health.value}" for c in channels)


def rank(
    channels: Sequence[ChannelChoice],
    in_use: Mapping[int, int],
    pack_type: PackType,
    slots: int,
    rng: random.Random,
) -> list[ChannelChoice]:
    """Keep the channels with `slots` free, highest priority first; within a priority the degraded after the
    others, each weighted-random (the operator's priorities stand: a degraded channel still answers)."""
    free = [c for c in channels if c.limits[pack_type] - in_use.get(c.id, 0) >= slots]
    ordered: list[ChannelChoice] = []
    for priority in sorted({c.priority for c in free}, reverse=True):
        for degraded in (False, True):
            tier = [c for c in free if c.priority == priority and (c.health is HealthState.DEGRADED) is degraded]
            # Weighted sampling without replacement (Efraimidis-Spirakis): weight 3 comes first 3x as often.
            ordered += sorted(tier, key=lambda c: rng.random() ** (1 / c.weight), reverse=True)
    return ordered
