"""Choose upstream channels for a task: highest priority first, then weighted among those with free capacity."""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from sqlalchemy import select

from kling_gateway.kling.schemas import PackType
from kling_gateway.store.database import Executor
from kling_gateway.store.models import CHANNELS
from kling_gateway.upstream.client import ChannelCredentials


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


async def enabled_channels(session: Executor) -> list[ChannelChoice]:
    """Load every enabled channel."""
    return await all_channels(session, enabled_only=True)


async def all_channels(session: Executor, *, enabled_only: bool = False) -> list[ChannelChoice]:
    """Load the channels; tasks already on a disabled channel still need it to finish."""
    query = select(CHANNELS).where(CHANNELS.c.enabled.is_(True)) if enabled_only else select(CHANNELS)
    rows = (await session.execute(query)).all()
    return [
        ChannelChoice(
            id=row.id,
            name=row.name,
            credentials=ChannelCredentials(row.base_url, row.access_key, row.secret_key),
            priority=row.priority,
            weight=row.weight,
            limits={
                PackType.VIDEO: row.video_concurrency,
                PackType.IMAGE: row.image_concurrency,
                PackType.TRY_ON: row.try_on_concurrency,
            },
            webhook_secret=row.webhook_secret,
        )
        for row in rows
    ]


def rank(
    channels: Sequence[ChannelChoice],
    in_use: Mapping[int, int],
    pack_type: PackType,
    slots: int,
    rng: random.Random,
) -> list[ChannelChoice]:
    """Keep the channels with `slots` free, highest priority first, weighted-random within a priority."""
    free = [c for c in channels if c.limits[pack_type] - in_use.get(c.id, 0) >= slots]
    ordered: list[ChannelChoice] = []
    for priority in sorted({c.priority for c in free}, reverse=True):
        tier = [c for c in free if c.priority == priority]
        # Weighted sampling without replacement (Efraimidis-Spirakis): a channel of weight 3 comes first 3x as often.
        ordered += sorted(tier, key=lambda c: rng.random() ** (1 / c.weight), reverse=True)
    return ordered
