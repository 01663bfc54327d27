"""Everything a running gateway holds: the database, the upstream client, the services and the worker."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import httpx

from kling_gateway.api.auth import KeyCache
from kling_gateway.channels.health import tracker_of
from kling_gateway.clock import Clock, SystemClock
from kling_gateway.dialects.record import KeptRecords
from kling_gateway.egress.clients import downloads_http
from kling_gateway.egress.downloads import Downloads
from kling_gateway.settings import Settings
from kling_gateway.store.database import Database
from kling_gateway.store.migrate import ensure_schema
from kling_gateway.store.probe import Probe
from kling_gateway.sync.supervision import rest
from kling_gateway.sync.worker import Worker
from kling_gateway.tasks.listing import TaskRecords
from kling_gateway.tasks.service import TaskService
from kling_gateway.tasks.session_calls import SessionCalls
from kling_gateway.upstream.client import KlingClient
from kling_gateway.upstream.pool import upstream_http

log = logging.getLogger(__name__)


class Runtime:
    """Start and stop the gateway's parts together."""

    def __init__(
        self,
        settings: Settings,
        *,
        http: httpx.AsyncClient | None = None,
        downloads_transport: httpx.AsyncBaseTransport | None = None,
        run_worker: bool = True,
        clock: Clock | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock or SystemClock()
        self.db = Database(settings.resolved_database_url(), timeouts=settings.store.timeouts())
        self.probe = Probe(settings.resolved_database_url(), timeout_s=settings.health.check_timeout_s)  # readiness
        self._own_http = http is None
        self.http = http or upstream_http(settings.sync)
        self.client = KlingClient(self.http)
        self.health = tracker_of(self.client, self.db, settings.channel_health, self.clock)  # one per process
        # Result files stream through a pool of their own: a download never holds an upstream API connection.
        self.downloads = Downloads(
            settings.downloads, downloads_http(settings.downloads, transport=downloads_transport)
        )
        self.tasks = TaskService(self.db, self.client, settings, clock=self.clock)
        self.sessions = SessionCalls(self.db, self.client, settings, clock=self.clock)
        self.records = TaskRecords(self.db)
        self.finished_records = KeptRecords()  # the `/tasks` records of finished tasks, encoded once
        self.keys = KeyCache.for_settings(self.db, settings, clock=self.clock)
        self.worker = Worker(self.db, self.client, settings, clock=self.clock) if run_worker else None
        self._stop = asyncio.Event()
        self._worker_task: asyncio.Task[None] | None = None
        self._report_task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Create the schema on an empty database, then start the worker if this process runs one (else a loop
        that reports what this process's calls said of the channels: the worker's reports them with its own)."""
        await ensure_schema(self.db)
        if self.worker is not None:
            self._worker_task = asyncio.create_task(self.worker.run(self._stop), name="sync-worker")
        else:
            self._report_task = asyncio.create_task(self._report_health(), name="channel-health")

    async def _report_health(self) -> None:
        """Write, at the report interval, the calls a submit has not reported itself; never stop for a failure."""
        while not self._stop.is_set():
            try:
                await self.health.report()
            except Exception:  # a bug: told, and the loop goes on, as the worker's loops do
                log.exception("reporting channel health failed")
            await rest(self._stop, self.settings.channel_health.report_every_s)

    async def stop(self) -> None:
        """Let the worker finish its round, then close connections."""
        self._stop.set()
        for task in (self._worker_task, self._report_task):
            if task is not None:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await self.health.settle()
        if self._own_http:
            await self.http.aclose()
        await self.downloads.http.aclose()
        await self.db.dispose()
        await self.probe.dispose()
