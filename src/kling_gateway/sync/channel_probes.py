"""The worker's side loop on channel health: write what the worker saw of each channel, and probe each channel
whose breaker has cooled down, so that one cheap call decides whether it takes tasks again.

A probe reads one item of a legacy task list (`channel_health.probe_path`): it needs the channel's credentials and
a working upstream, and neither creates nor costs anything. Its outcome is folded in like any call's: a success
closes the breaker, a failure opens it again for twice as long.
"""

from __future__ import annotations

import asyncio
import logging

from kling_gateway.channels.health import tracker_of
from kling_gateway.channels.selection import all_channels
from kling_gateway.clock import Clock
from kling_gateway.settings import Settings
from kling_gateway.store.database import Database
from kling_gateway.sync.supervision import rest
from kling_gateway.upstream import health_rows
from kling_gateway.upstream.client import KlingClient
from kling_gateway.upstream.errors import UpstreamError
from kling_gateway.upstream.health import probe_due

log = logging.getLogger(__name__)


class ChannelProbes:
    """Every report interval: report this worker's calls, then probe the channels whose cool-down is over."""

    def __init__(self, db: Database, client: KlingClient, settings: Settings, clock: Clock) -> None:
        self.db = db
        self.client = client
        self.config = settings.channel_health
        self.clock = clock
        self.health = tracker_of(client, db, self.config, clock)
        self._probed_at: dict[int, int] = {}  # by channel id: a probe that decided nothing waits a cool-down

    async def run(self, stop: asyncio.Event) -> None:
        """Report and probe until `stop` is set."""
        while not stop.is_set():
            await self.run_once()
            await rest(stop, self.config.report_every_s)

    async def run_once(self) -> int:
        """Report, then probe each enabled channel whose breaker is half-open; return how many were probed."""
        await self.health.report()
        async with self.db.read() as connection:
            channels = await all_channels(connection, enabled_only=True)
            records = await health_rows.read_all(connection)  # the store's word now, not a cached one
        moment = self.clock.now_ms()
        wait_ms = round(self.config.cooldown_s * 1000)
        probed = 0
        for channel in channels:
            record = records.get(channel.id)
            # A refused credential waits for the operator: a probe would only be refused again.
            if record is None or channel.misconfigured is not None or not probe_due(record, moment):
                continue
            if moment - self._probed_at.get(channel.id, moment - wait_ms) < wait_ms:
                continue
            self._probed_at[channel.id] = moment
            probed += 1
            try:
                await self.client.records(channel.credentials, self.config.probe_path, page_num=1, page_size=1)
            except UpstreamError as error:
                log.warning("probe of channel %s failed: %s", channel.name, error.message)
            else:
                log.warning("probe of channel %s succeeded: it takes tasks again", channel.name)
        if probed:
            await self.health.report(force=True)
        return probed
