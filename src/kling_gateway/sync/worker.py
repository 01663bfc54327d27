"""The sync worker: send queued tasks, bring every in-flight task forward until it finishes, deliver callbacks.

Any number of workers may share one PostgreSQL database. Each claims what it works on with a lease (polls,
lost creates and callbacks alike), so two workers never work on one task at once, and the tasks of a worker that
dies, even by SIGKILL, come due again for the others when its lease runs out. Whatever a worker does twice after
such a death is harmless: a status change is one conditional write, and billing and client callbacks happen only
in the write that won it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence

import httpx

from kling_gateway.channels.selection import ChannelChoice, all_channels
from kling_gateway.clock import now_ms
from kling_gateway.settings import Settings
from kling_gateway.store.database import Database
from kling_gateway.store.migrate import ensure_schema
from kling_gateway.sync.outbox import Deliverer
from kling_gateway.sync.schedule import next_look, poll_interval
from kling_gateway.tasks import repository, transitions
from kling_gateway.tasks.dispatch import Dispatcher
from kling_gateway.tasks.repository import TaskRow
from kling_gateway.tasks.states import TaskStatus, upstream_status
from kling_gateway.upstream.client import KlingClient, UpstreamTask
from kling_gateway.upstream.errors import UpstreamError
from kling_gateway.upstream.pool import upstream_http

log = logging.getLogger(__name__)

MAX_PAGE_NUM = 1000  # the upstream list endpoint accepts pageNum up to 1000


class Worker:
    """Each round: poll due tasks (one list call per page of a channel's action, single GETs for the few), settle
    lost creates, send queued tasks to channels with room, fail stuck tasks, deliver client callbacks."""

    def __init__(
        self,
        db: Database,
        client: KlingClient,
        settings: Settings,
        *,
        callbacks_http: httpx.AsyncClient | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.db = db
        self.client = client
        self.config = settings.sync
        self.dispatcher = Dispatcher(db, client, settings, rng or random.Random())
        self._own_callbacks_http = callbacks_http is None
        self.callbacks_http = callbacks_http or httpx.AsyncClient(timeout=self.config.callback_timeout_s)
        self.deliverer = Deliverer(db, self.callbacks_http, self.config, allow_private=settings.allow_private_callbacks)
        self.rounds = 0  # completed rounds, for tests and health checks

    async def run(self, stop: asyncio.Event) -> None:
        """Run rounds until `stop` is set; an error in one round is logged and the next round goes on."""
        try:
            while not stop.is_set():
                try:
                    worked_on = await self.run_once()
                except Exception:
                    log.exception("sync round failed; retrying after a pause")
                    worked_on = 0
                if worked_on == 0:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), timeout=self.config.idle_sleep_s)
        finally:
            await self.aclose()

    async def aclose(self) -> None:
        """Close the client that delivers callbacks, if it is the worker's own."""
        if self._own_callbacks_http:
            await self.callbacks_http.aclose()

    async def run_once(self) -> int:
        """Do one round; return how many tasks and callbacks it worked on."""
        async with self.db.session() as session:
            channels = {channel.id: channel for channel in await all_channels(session)}
        worked_on = await self._poll(channels)
        worked_on += await self.dispatcher.resolve_unknown(channels)
        worked_on += await self.dispatcher.dispatch_waiting()
        worked_on += await self._settle_stuck(channels)
        worked_on += await self.deliverer.run_once()
        self.rounds += 1
        return worked_on

    # -- polling -------------------------------------------------------------------------------------------------

    async def _poll(self, channels: Mapping[int, ChannelChoice]) -> int:
        moment = now_ms()
        async with self.db.session() as session, session.begin():
            due = await repository.claim_due(
                session,
                now_ms=moment,
                lease_until=moment + round(self.config.lease_s * 1000),
                limit=self.config.claim_limit,
            )
        groups: dict[tuple[int, str, str], list[TaskRow]] = defaultdict(list)
        for task in due:
            groups[(task.channel_id, task.family, task.action)].append(task)
        budget: Counter[int] = Counter()  # upstream calls made per channel this round
        for (channel_id, family, action), tasks in groups.items():
            channel = channels.get(channel_id)
            if channel is None:  # cannot happen by design; one bad row must not stop every round
                log.error("%d tasks in flight name no known channel, e.g. %s", len(tasks), tasks[0].platform_id)
                continue
            await self._sync_group(channel, family, action, tasks, budget)
        return len(due)

    async def _sync_group(
        self, channel: ChannelChoice, family: str, action: str, tasks: Sequence[TaskRow], budget: Counter[int]
    ) -> None:
        reports: dict[str, UpstreamTask] = {}
        unread: set[str] = set()
        try:
            unread = await self._fetch(channel, family, action, tasks, reports, budget)
        except UpstreamError as error:
            log.warning("sync of %d %s tasks on channel %s failed: %s", len(tasks), action, channel.name, error)
        await self._apply(tasks, reports, unread)

    async def _fetch(
        self,
        channel: ChannelChoice,
        family: str,
        action: str,
        tasks: Sequence[TaskRow],
        found: dict[str, UpstreamTask],
        budget: Counter[int],
    ) -> set[str]:
        """Read the tasks' upstream state into `found`: list pages while they cover the tasks, then GET the rest
        one by one, within the channel's budget of calls for the round; return the ids left unread."""
        wanted = {task.upstream_task_id for task in tasks}
        limit = self.config.requests_per_round
        if len(wanted) >= self.config.batch_min_tasks:
            size = self.config.list_page_size
            pages = min(MAX_PAGE_NUM, math.ceil(len(wanted) / size) + 1)  # one spare page for newer foreign tasks
            for page_num in range(1, pages + 1):
                if budget[channel.id] >= limit:
                    break
                budget[channel.id] += 1
                page = await self.client.list(channel.credentials, family, action, page_num=page_num, page_size=size)
                found |= {report.task_id: report for report in page if report.task_id in wanted}
                if len(page) < size or len(found) == len(wanted):
                    break
        unread = wanted - found.keys()
        for task_id in sorted(unread):
            if budget[channel.id] >= limit:
                break
            budget[channel.id] += 1
            report = await self.client.get(channel.credentials, family, action, task_id)
            unread.discard(task_id)
            if report is not None:
                found[task_id] = report
        return unread

    async def _apply(self, tasks: Sequence[TaskRow], reports: dict[str, UpstreamTask], unread: set[str]) -> None:
        """Write each move in its own short transaction, then schedule the next looks in a few statements.

        A move touches the task and its owner's balance; keeping each in its own transaction means a callback
        moving another task of the same owner at the same moment never waits on (or deadlocks with) a whole group.
        Tasks running long are looked at less often; tasks left unread for lack of budget come due next round.
        """
        moment = now_ms()
        schedule: dict[int, list[int]] = defaultdict(list)
        for task in tasks:
            report = reports.get(task.upstream_task_id)
            interval = poll_interval(  # counted from its last change: time in the queue is not time running
                age_ms=moment - task.updated_at,
                expected_ms=task.expected_ms,
                base_s=self.config.poll_interval_s,
                longest_s=self.config.max_poll_interval_s,
            )
            next_sync_at = moment if task.upstream_task_id in unread else next_look(moment, interval)
            if report is not None and report.task_status != task.status:
                async with self.db.session() as session, session.begin():
                    await transitions.advance(session, task, report, now_ms=moment, next_sync_at=next_sync_at)
            schedule[next_sync_at].append(task.id)
        async with self.db.session() as session, session.begin():
            for next_sync_at, task_ids in schedule.items():
                await repository.reschedule(session, task_ids=task_ids, next_sync_at=next_sync_at)

    # -- stuck tasks ---------------------------------------------------------------------------------------------

    async def _settle_stuck(self, channels: Mapping[int, ChannelChoice]) -> int:
        """Fail tasks unfinished long after submit; one still upstream is asked first, in case it just finished
        (after a long downtime many are overdue, and the upstream may well have their results)."""
        moment = now_ms()
        limit_s = self.config.stuck_after_s
        async with self.db.session() as session:
            stuck = await repository.stuck(
                session, created_before_ms=moment - int(limit_s * 1000), limit=self.config.claim_limit
            )
        message = (
            f"no result from the upstream within {_duration(limit_s)} of submitting; "
            "the gateway failed the task and released its hold"
        )
        for task in stuck:
            if task.status == TaskStatus.QUEUED.value and task.channel_id is not None:
                continue  # its create may have taken effect: the lost-answer check settles it first
            report = await self._last_word(task, channels)
            async with self.db.session() as session, session.begin():
                status = None if report is None else upstream_status(report.task_status)
                if report is not None and status is not None and status.is_final:
                    await transitions.advance(session, task, report, now_ms=moment, next_sync_at=None)
                else:
                    await transitions.fail(session, task, message, now_ms=moment)
        return len(stuck)

    async def _last_word(self, task: TaskRow, channels: Mapping[int, ChannelChoice]) -> UpstreamTask | None:
        channel = channels.get(task.channel_id)
        if channel is None or task.upstream_task_id is None:
            return None
        try:
            return await self.client.get(channel.credentials, task.family, task.action, task.upstream_task_id)
        except UpstreamError as error:
            log.warning("could not ask about stuck task %s: %s", task.platform_id, error)
            return None


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
            await Worker(db, KlingClient(http), settings).run(stop)
        finally:
            await db.dispose()
