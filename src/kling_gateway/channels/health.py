"""Each channel's health as every process sees it: what this process's calls said, written to the store at most
once a second per channel, and what the store says of every channel, read again every few seconds.

`overview` is the one account of the channels' health that the CLI, `status`, `/metrics` and `/readyz` give.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from kling_gateway.channels.selection import ChannelChoice, all_channels
from kling_gateway.clock import Clock
from kling_gateway.settings import ChannelHealthConfig
from kling_gateway.store.database import Database, Executor
from kling_gateway.store.outages import unavailable_reason
from kling_gateway.upstream import health_rows
from kling_gateway.upstream.calls import FinishedCall
from kling_gateway.upstream.client import KlingClient
from kling_gateway.upstream.health import HealthRecord, HealthState, Observed, summarize

log = logging.getLogger(__name__)


class HealthTracker:
    """Keep the calls this process made to each channel until they are written, and the store's word on every
    channel for a few seconds; one per process, among its upstream client's observers."""

    def __init__(self, db: Database, config: ChannelHealthConfig, clock: Clock) -> None:
        self.db = db
        self.config = config
        self.clock = clock
        self._pending: dict[int, list[Observed]] = defaultdict(list)
        self._written_at: dict[int, int] = {}
        self._records: dict[int, HealthRecord] = {}
        self._read_at: int | None = None
        self._lock = asyncio.Lock()
        self._reporting: asyncio.Task[None] | None = None
        # While the store cannot take them, keep this many calls of a channel at most: enough to open its breaker.
        self._keep = max(config.window_calls, config.breaker_faults)

    def observe(self, call: FinishedCall) -> None:
        """Keep a finished call of a channel, to write with the next report."""
        if call.channel_id is None:
            return
        pending = self._pending[call.channel_id]
        pending.append(Observed(self.clock.now_ms(), call.kind, round(call.seconds * 1000), call.detail))
        del pending[: -self._keep]

    async def report(self, *, force: bool = False) -> int:
        """Write what this process saw of each channel last written a report interval ago (every one with calls,
        when `force`); return how many were written. A store that cannot be used keeps them for the next time."""
        async with self._lock:
            moment = self.clock.now_ms()
            every_ms = round(self.config.report_every_s * 1000)
            due = [
                channel_id
                for channel_id, calls in self._pending.items()
                if calls and (force or moment - self._written_at.get(channel_id, moment - every_ms) >= every_ms)
            ]
            for written, channel_id in enumerate(due):
                calls = self._pending.pop(channel_id)
                try:
                    async with self.db.session() as session, session.begin():
                        record = await health_rows.fold_in(
                            session, channel_id=channel_id, calls=calls, config=self.config, now_ms=moment
                        )
                except Exception as error:
                    reason = unavailable_reason(error)
                    if reason is None:
                        raise
                    self._pending[channel_id][:0] = calls
                    log.warning("could not write the health of channel %d yet: %s", channel_id, reason)
                    return written
                self._written_at[channel_id] = moment
                self._records[channel_id] = record
            return len(due)

    def report_soon(self) -> None:
        """Report in the background, so that whoever made the calls (a submit) does not wait for the write."""
        if self._reporting is None or self._reporting.done():
            self._reporting = asyncio.create_task(self._report_quietly(), name="channel-health-report")

    async def _report_quietly(self) -> None:
        try:
            await self.report()
        except Exception:  # a bug: told; the calls are reported by the next report
            log.exception("reporting channel health failed")

    async def settle(self) -> None:
        """Wait for a background report under way, before the database goes."""
        if self._reporting is not None:
            await self._reporting

    async def records(self, reader: Executor | None = None) -> dict[int, HealthRecord]:
        """Every channel's stored record, as read at most `cache_s` ago (with this process's own writes since)."""
        moment = self.clock.now_ms()
        if self._read_at is None or moment - self._read_at >= round(self.config.cache_s * 1000):
            if reader is None:
                async with self.db.read() as connection:
                    self._records = await health_rows.read_all(connection)
            else:
                self._records = await health_rows.read_all(reader)
            self._read_at = moment
        return dict(self._records)

    async def judged(self, channels: Sequence[ChannelChoice], reader: Executor | None = None) -> list[ChannelChoice]:
        """The channels, each with its state now."""
        return with_health(channels, await self.records(reader), now_ms=self.clock.now_ms(), config=self.config)


def tracker_of(client: KlingClient, db: Database, config: ChannelHealthConfig, clock: Clock) -> HealthTracker:
    """The tracker among a client's observers, added if it has none: one per client, so no call counts twice."""
    for observer in client.observers:
        if isinstance(observer, HealthTracker):
            return observer
    tracker = HealthTracker(db, config, clock)
    client.observers.append(tracker)
    return tracker


def with_health(
    channels: Sequence[ChannelChoice], records: Mapping[int, HealthRecord], *, now_ms: int, config: ChannelHealthConfig
) -> list[ChannelChoice]:
    """Give each channel the state its record says now."""
    judged = []
    for channel in channels:
        summary = summarize(records.get(channel.id), now_ms, config, refused=channel.misconfigured)
        judged.append(replace(channel, health=summary.state, health_reason=summary.reason))
    return judged


@dataclass(frozen=True)
class ChannelHealth:
    """One channel's health as an operator reads it."""

    id: int
    name: str
    enabled: bool
    state: HealthState
    reason: str
    calls: int  # in the window
    error_ratio: float
    p50_ms: int | None
    p95_ms: int | None
    last_success_at: int | None
    last_error_at: int | None
    last_error: str
    down_until: int | None  # while the breaker is open: when its cool-down ends (a probe is due from then on)

    def as_json(self) -> dict[str, Any]:
        return {
            "state": self.state.value,
            "reason": self.reason,
            "calls": self.calls,
            "error_ratio": round(self.error_ratio, 4),
            "p50_ms": self.p50_ms,
            "p95_ms": self.p95_ms,
            "last_success_at": self.last_success_at,
            "last_error_at": self.last_error_at,
            "last_error": self.last_error,
            "down_until": self.down_until,
        }


def overview(
    channels: Sequence[ChannelChoice], records: Mapping[int, HealthRecord], *, now_ms: int, config: ChannelHealthConfig
) -> list[ChannelHealth]:
    """Say each channel's health now, in the order given."""
    described = []
    for channel in channels:
        record = records.get(channel.id) or HealthRecord()
        summary = summarize(record, now_ms, config, refused=channel.misconfigured)
        described.append(
            ChannelHealth(
                id=channel.id,
                name=channel.name,
                enabled=channel.enabled,
                state=summary.state,
                reason=summary.reason,
                calls=summary.calls,
                error_ratio=summary.error_ratio,
                p50_ms=summary.p50_ms,
                p95_ms=summary.p95_ms,
                last_success_at=record.last_success_at,
                last_error_at=record.last_error_at,
                last_error=record.last_error,
                down_until=record.open_until,
            )
        )
    return described


async def read_overview(reader: Executor, *, now_ms: int, config: ChannelHealthConfig) -> list[ChannelHealth]:
    """Read every channel (removed ones left out) and say its health now."""
    channels = await all_channels(reader)
    return overview(channels, await health_rows.read_all(reader), now_ms=now_ms, config=config)
