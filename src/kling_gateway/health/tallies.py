"""Read, in a few statements, what the store says about the gateway now: unfinished tasks, channels and their
limits, the callback backlog and the workers' heartbeats."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import NamedTuple

from sqlalchemy import func, select

from kling_gateway.channels.health import ChannelHealth, overview, with_health
from kling_gateway.channels.selection import ChannelChoice, all_channels
from kling_gateway.kling.schemas import PackType
from kling_gateway.outbox import repository as outbox
from kling_gateway.settings import ChannelHealthConfig
from kling_gateway.store.database import Executor
from kling_gateway.store.models import TASKS
from kling_gateway.sync.heartbeat import Beat, latest
from kling_gateway.tasks.states import UNFINISHED
from kling_gateway.upstream import health_rows

_t = TASKS.c


class Unfinished(NamedTuple):
    """Unfinished tasks of one kind, where they are: how many, and the concurrency slots they take."""

    status: str
    family: str
    action: str
    generation: str
    pack_type: str
    channel_id: int | None  # the channel it runs on (or is being sent to); None while it waits
    required_channel_id: int | None  # the only channel it may go to, if any
    tasks: int
    slots: int


_UNFINISHED = (
    select(
        _t.status,
        _t.family,
        _t.action,
        _t.generation,
        _t.pack_type,
        _t.channel_id,
        _t.required_channel_id,
        func.count(),
        func.coalesce(func.sum(_t.slots), 0),
    )
    .where(_t.status.in_([status.value for status in UNFINISHED]))
    .group_by(_t.status, _t.family, _t.action, _t.generation, _t.pack_type, _t.channel_id, _t.required_channel_id)
)


@dataclass(frozen=True)
class Snapshot:
    """What the store says now."""

    unfinished: list[Unfinished]
    channels: list[ChannelChoice]  # each with its health state now
    health: list[ChannelHealth]  # in the same order
    callbacks_pending: int
    callback_due_ms: int | None  # when the most overdue pending callback was due
    beats: list[Beat]  # the workers' latest, most recent first

    def channel_names(self) -> dict[int, str]:
        """Name each channel by its id."""
        return {channel.id: channel.name for channel in self.channels}

    def slots_in_use(self) -> dict[tuple[int, str], int]:
        """Sum the slots unfinished tasks take on each channel, by pack type (as selection counts them)."""
        used: dict[tuple[int, str], int] = {}
        for row in self.unfinished:
            if row.channel_id is not None:
                key = (row.channel_id, row.pack_type)
                used[key] = used.get(key, 0) + row.slots
        return used

    def waiting(self) -> dict[tuple[int | None, str], int]:
        """Count the tasks waiting for a channel, by the channel they must go to (None: any) and pack type."""
        counts: dict[tuple[int | None, str], int] = {}
        for row in self.unfinished:
            if row.channel_id is None:
                key = (row.required_channel_id, row.pack_type)
                counts[key] = counts.get(key, 0) + row.tasks
        return counts


def limits(channel: ChannelChoice) -> Mapping[str, int]:
    """A channel's concurrency limit by pack type."""
    return {PackType(pack).value: limit for pack, limit in channel.limits.items()}


async def snapshot(reader: Executor, *, now_ms: int, config: ChannelHealthConfig) -> Snapshot:
    """Read the store's view of the gateway now: one grouped statement over the unfinished tasks, and a small one
    each for the channels, their health, the callback backlog and the heartbeats."""
    rows = (await reader.execute(_UNFINISHED)).all()
    pending, due = await outbox.backlog(reader)
    channels, records = await all_channels(reader), await health_rows.read_all(reader)
    return Snapshot(
        unfinished=[Unfinished(*row) for row in rows],
        channels=with_health(channels, records, now_ms=now_ms, config=config),
        health=overview(channels, records, now_ms=now_ms, config=config),
        callbacks_pending=pending,
        callback_due_ms=due,
        beats=await latest(reader),
    )
