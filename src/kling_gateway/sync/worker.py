"""The sync worker: bring every in-flight task forward until it finishes, however the upstream tells it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections import defaultdict
from collections.abc import Sequence

from kling_gateway.channels.selection import ChannelChoice, all_channels
from kling_gateway.clock import now_ms
from kling_gateway.settings import Settings, SyncConfig
from kling_gateway.store.database import Database
from kling_gateway.store.migrate import ensure_schema
from kling_gateway.sync.schedule import next_look
from kling_gateway.tasks import repository, transitions
from kling_gateway.tasks.repository import TaskRow
from kling_gateway.upstream.client import KlingClient, UpstreamTask
from kling_gateway.upstream.errors import UpstreamError
from kling_gateway.upstream.pool import upstream_http

log = logging.getLogger(__name__)

MAX_PAGE_NUM = 1000  # the upstream list endpoint accepts pageNum up to 1000


class Worker:
    """Poll due tasks (one list call per page of a channel's action, single GETs for the few), fail stuck ones."""

    def __init__(self, db: Database, client: KlingClient, config: SyncConfig) -> None:
        self.db = db
        self.client = client
        self.config = config
        self.rounds = 0  # completed rounds, for tests and health checks

    async def run(self, stop: asyncio.Event) -> None:
        """Run rounds until `stop` is set; an error in one round is logged and the next round goes on."""
        while not stop.is_set():
            try:
                looked_at = await self.run_once()
            except Exception:
                log.exception("sync round failed; retrying after a pause")
                looked_at = 0
            if looked_at == 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=self.config.idle_sleep_s)

    async def run_once(self) -> int:
        """Do one round; return how many tasks it looked at."""
        moment = now_ms()
        looked_at = await self._fail_stuck(moment) + await self._resolve_unknown(moment)
        async with self.db.session() as session:
            due = await repository.due_for_sync(session, now_ms=moment, limit=self.config.claim_limit)
            channels = {channel.id: channel for channel in await all_channels(session)}
        groups: dict[tuple[int, str, str], list[TaskRow]] = defaultdict(list)
        for task in due:
            groups[(task.channel_id, task.family, task.action)].append(task)
        for (channel_id, family, action), tasks in groups.items():
            await self._sync_group(channels[channel_id], family, action, tasks)
        self.rounds += 1
        return looked_at + len(due)

    async def _sync_group(self, channel: ChannelChoice, family: str, action: str, tasks: Sequence[TaskRow]) -> None:
        try:
            reports = await self._fetch(channel, family, action, tasks)
        except UpstreamError as error:
            log.warning("sync of %d %s tasks on channel %s failed: %s", len(tasks), action, channel.name, error)
            reports = {}
        await self._apply(tasks, reports)

    async def _fetch(
        self, channel: ChannelChoice, family: str, action: str, tasks: Sequence[TaskRow]
    ) -> dict[str, UpstreamTask]:
        """Read the tasks' upstream state: list pages while they cover the tasks, then GET the rest one by one."""
        wanted = {task.upstream_task_id for task in tasks}
        found: dict[str, UpstreamTask] = {}
        if len(wanted) >= self.config.batch_min_tasks:
            size = self.config.list_page_size
            pages = min(MAX_PAGE_NUM, math.ceil(len(wanted) / size) + 1)  # one spare page for newer foreign tasks
            for page_num in range(1, pages + 1):
                page = await self.client.list(channel.credentials, family, action, page_num=page_num, page_size=size)
                found |= {report.task_id: report for report in page if report.task_id in wanted}
                if len(page) < size or len(found) == len(wanted):
                    break
        for task_id in wanted - found.keys():
            report = await self.client.get(channel.credentials, family, action, task_id)
            if report is not None:
                found[task_id] = report
        return found

    async def _apply(self, tasks: Sequence[TaskRow], reports: dict[str, UpstreamTask]) -> None:
        """Write each move in its own short transaction, then schedule the next look at the rest in one statement.

        A move touches the task and its owner's balance; keeping each in its own transaction means a callback
        moving another task of the same owner at the same moment never waits on (or deadlocks with) a whole group.
        """
        moment = now_ms()
        next_sync_at = next_look(moment, self.config.poll_interval_s)
        for task in tasks:
            report = reports.get(task.upstream_task_id)
            if report is not None and report.task_status != task.status:
                async with self.db.session() as session, session.begin():
                    await transitions.advance(session, task, report, now_ms=moment, next_sync_at=next_sync_at)
        async with self.db.session() as session, session.begin():
            await repository.reschedule(session, task_ids=[task.id for task in tasks], next_sync_at=next_sync_at)

    async def _fail_stuck(self, moment: int) -> int:
        limit_s = self.config.stuck_after_s
        async with self.db.session() as session, session.begin():
            stuck = await repository.stuck(
                session, created_before_ms=moment - int(limit_s * 1000), limit=self.config.claim_limit
            )
            for task in stuck:
                message = (
                    f"no result from the upstream within {_duration(limit_s)} of submitting; "
                    "the gateway failed the task and released its hold"
                )
                await transitions.fail(session, task, message, now_ms=moment)
        return len(stuck)

    async def _resolve_unknown(self, moment: int) -> int:
        """Settle submits whose answer was lost: adopt the upstream task if it exists, else fail and release."""
        grace_ms = int(self.config.poll_interval_s * 1000)
        async with self.db.session() as session:
            pending = await repository.unknown_submits(
                session, updated_before_ms=moment - grace_ms, limit=self.config.claim_limit
            )
            channels = {channel.id: channel for channel in await all_channels(session)} if pending else {}
        for task in pending:
            try:
                report = await self.client.get(
                    channels[task.channel_id].credentials, task.family, task.action, task.platform_id
                )
            except UpstreamError as error:
                log.warning("could not resolve the submit of %s yet: %s", task.platform_id, error)
                continue
            async with self.db.session() as session, session.begin():
                if report is None:
                    await transitions.fail(
                        session, task, "the upstream never confirmed the task; its hold was released", now_ms=moment
                    )
                else:
                    await transitions.advance(
                        session,
                        task,
                        report,
                        now_ms=moment,
                        next_sync_at=next_look(moment, self.config.poll_interval_s),
                    )
        return len(pending)


def _duration(seconds: float) -> str:
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{seconds / 3600:g} h"
    return f"{seconds:g} s"


async def run_standalone(settings: Settings, stop: asyncio.Event) -> None:
    """Run a worker process: its own database pool and upstream pool, until `stop` is set."""
    db = Database(settings.resolved_database_url())
    await ensure_schema(db)
    async with upstream_http(settings.sync) as http:
        try:
            await Worker(db, KlingClient(http), settings.sync).run(stop)
        finally:
            await db.dispose()
