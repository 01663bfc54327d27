"""The sync worker: send queued tasks, bring every in-flight task forward until it finishes, deliver callbacks.

Polling, sending and the lost-create checks run in rounds; client callbacks are delivered beside them, by a loop of
their own with its own claims, so a receiver that is slow or never answers delays no round.

Any number of workers may share one PostgreSQL database. Each claims what it works on with a lease (polls,
lost creates and callbacks alike), so two workers never work on one task at once, and the tasks of a worker that
dies, even by SIGKILL, come due again for the others when its lease runs out. A poll's lease ends at the task's
next look on the poll grid, so a task found unchanged needs no second write. Whatever a worker does twice after
such a death is harmless: a status change is one conditional write, and billing and client callbacks happen only
in the write that won it.

Legacy tasks are read from each channel's list pages (and single GETs for a few); new-generation tasks twenty at a
time with `GET /tasks`. A task the upstream no longer finds, in either, is failed once it has been missing long
enough (`sync.absence`).
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import time
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import NamedTuple

import httpx

from kling_gateway.channels.selection import ChannelChoice, all_channels
from kling_gateway.clock import Clock, SystemClock
from kling_gateway.egress import clients as egress_clients
from kling_gateway.kling.schemas import Generation
from kling_gateway.observability.metrics import LEASE_LOSSES, WORKER_ROUND_SECONDS
from kling_gateway.outbox.delivery import Deliverer
from kling_gateway.redaction import install as redact_logs
from kling_gateway.settings import Settings
from kling_gateway.store.database import Database
from kling_gateway.store.migrate import ensure_schema
from kling_gateway.store.records import PolledTask
from kling_gateway.sync.absence import Absences
from kling_gateway.sync.batched import BatchedPoll
from kling_gateway.sync.channel_probes import ChannelProbes
from kling_gateway.sync.heartbeat import Heartbeat
from kling_gateway.sync.lag import PollLag
from kling_gateway.sync.stuck import StuckTasks
from kling_gateway.sync.supervision import StoreOutage, rest, supervise
from kling_gateway.tasks import effects, repository, transitions
from kling_gateway.tasks.dispatch import Dispatcher
from kling_gateway.tasks.schedule import next_look, poll_interval
from kling_gateway.upstream.client import KlingClient, UpstreamTask
from kling_gateway.upstream.errors import ChannelMisconfigured, UpstreamError
from kling_gateway.upstream.pool import upstream_http

log = logging.getLogger(__name__)

MAX_PAGE_NUM = 1000  # the upstream list endpoint accepts pageNum up to 1000
# A sweep reads pages down to this much before the oldest task it looks for (by the gateway's clock, the upstream
# stamps created_at by its own), so a task is not missed for a clock off by less; past that, single GETs find it.
CLOCK_SKEW_MS = 10 * 60_000
FINAL_REPORTS = frozenset({"succeed", "failed"})  # an upstream status after which a task is never looked at again


class Worker:
    """Each round: poll due tasks (one list call per page of a channel's action, single GETs for the few), settle
    lost creates, send queued tasks to channels with room, fail stuck tasks. Beside the rounds: deliver client
    callbacks, and report channel health and probe the channels that cooled down."""

    def __init__(
        self,
        db: Database,
        client: KlingClient,
        settings: Settings,
        *,
        callbacks_http: httpx.AsyncClient | None = None,
        rng: random.Random | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.db = db
        self.client = client
        self.config = settings.sync
        self.currency_micros = settings.billing.currency_micros
        self.clock = clock or SystemClock()
        self.dispatcher = Dispatcher(db, client, settings, rng or random.Random(), clock=self.clock)
        self.absences = Absences(db, self.config, self.clock)
        self.stuck = StuckTasks(db, client, settings, self.clock)
        self.batched = BatchedPoll(
            db,
            client,
            self.config,
            self.clock,
            apply=self._apply,
            note_misconfigured=self.dispatcher.note_misconfigured,
        )
        self._own_callbacks_http = callbacks_http is None
        self.callbacks_http = callbacks_http or egress_clients.callbacks_http(self.config)
        self.deliverer = Deliverer(
            db,
            self.callbacks_http,
            self.config,
            allow_private=settings.allow_private_callbacks,
            clock=self.clock,
        )
        self.outage = StoreOutage(
            first_pause_s=self.config.store_retry_s, longest_pause_s=self.config.store_retry_max_s
        )
        self.rounds = 0  # completed rounds, for tests and health checks
        self.heartbeat = Heartbeat(
            db, every_ms=round(settings.health.heartbeat_every_s * 1000), started_at=self.clock.now_ms()
        )
        self.probes = ChannelProbes(db, client, settings, self.clock)
        self.lag = PollLag(forget_after_ms=round(4 * max(self.config.max_poll_interval_s, self.config.lease_s) * 1000))

    async def run(self, stop: asyncio.Event) -> None:
        """Run rounds, and deliver callbacks beside them, until `stop` is set; a loop that fails is told in a line
        (with its traceback only when it is a bug, not the database being down) and goes on after a pause."""
        pause_s = self.config.idle_sleep_s
        try:
            await asyncio.gather(
                supervise("the sync round", self._rounds, stop, outage=self.outage, pause_s=pause_s),
                supervise("callback delivery", self._deliveries, stop, outage=self.outage, pause_s=pause_s),
                supervise("channel health", self.probes.run, stop, outage=self.outage, pause_s=pause_s),
            )
        finally:
            await self.aclose()

    async def _rounds(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            worked_on = await self.run_once()
            self.outage.recovered()
            if worked_on == 0:
                await rest(stop, self.config.idle_sleep_s)

    async def _deliveries(self, stop: asyncio.Event) -> None:
        await self.deliverer.run(stop, idle_s=self.config.idle_sleep_s)

    async def aclose(self) -> None:
        """Let a health report under way finish; close the client that delivers callbacks, if it is the worker's
        own."""
        await self.probes.health.settle()
        if self._own_callbacks_http:
            await self.callbacks_http.aclose()

    async def run_once(self) -> int:
        """Do one round; return how many tasks it worked on."""
        started = time.perf_counter()
        async with self.db.session() as session:
            channels = {channel.id: channel for channel in await all_channels(session)}
        worked_on = await self._poll(channels)
        worked_on += await self.dispatcher.resolve_unknown(channels)
        worked_on += await self.dispatcher.dispatch_waiting()
        worked_on += await self.stuck.settle(channels)
        self.rounds += 1
        WORKER_ROUND_SECONDS.observe(time.perf_counter() - started)
        moment = self.clock.now_ms()
        self.lag.prune(now_ms=moment)
        await self.heartbeat.round_done(now_ms=moment, rounds=self.rounds)
        return worked_on

    # -- polling -------------------------------------------------------------------------------------------------

    async def _poll(self, channels: Mapping[int, ChannelChoice]) -> int:
        """Claim the due tasks a chunk at a time and, meanwhile, bring each channel's action up to date; return
        how many tasks were claimed.

        Claiming (the database's work) and reading the upstream (this process's) overlap: each action's sweep
        starts with the first chunk and matches what later chunks bring. The claim itself schedules each task's
        next look on the poll grid (within the lease), so a task found unchanged costs one write per look.
        """
        budget: Counter[int] = Counter()  # upstream calls made per channel this round
        sweeps: dict[tuple[int, str, str], _Sweep] = {}
        batched: dict[int, dict[str, PolledTask]] = defaultdict(dict)  # new generation: by channel, upstream id
        running: list[asyncio.Task[None]] = []
        claimed = 0
        lease_until = self._poll_lease(self.clock.now_ms())
        try:
            async for chunk in self._claim_due(lease_until):
                claimed += len(chunk)
                for polled in _grouped(chunk, Generation.NEW).values():
                    for upstream_task_id, task in polled:
                        batched[task.channel_id or 0][upstream_task_id] = task
                for (channel_id, family, action), tasks in _grouped(chunk, Generation.LEGACY).items():
                    sweep = sweeps.get((channel_id, family, action))
                    if sweep is None:
                        channel = channels.get(channel_id)
                        if channel is None:  # cannot happen by design; one bad row must not stop every round
                            log.error(
                                "%d tasks in flight name no known channel, e.g. %s",
                                len(tasks),
                                tasks[0].task.platform_id,
                            )
                            continue
                        sweep = sweeps[(channel_id, family, action)] = _Sweep(channel, family, action)
                        running.append(asyncio.create_task(self._sync_group(sweep, budget)))
                    sweep.add(tasks)
            for channel_id, by_upstream_id in batched.items():
                channel = channels.get(channel_id)
                if channel is None:  # cannot happen by design, as above
                    log.error("%d tasks in flight name no known channel", len(by_upstream_id))
                    continue
                running.append(asyncio.create_task(self.batched.sync(channel, by_upstream_id, budget)))
        finally:
            for sweep in sweeps.values():
                sweep.close()
            failures = [error for error in await asyncio.gather(*running, return_exceptions=True) if error]
            if claimed and self.clock.now_ms() > lease_until:  # the claims ran out while the round read them
                LEASE_LOSSES.labels("poll").inc(claimed)
            if failures:
                raise failures[0]
        return claimed

    def _poll_lease(self, moment: int) -> int:
        """Say until when a poll round's claims hold: the task's next look on the grid, at most the lease."""
        return min(next_look(moment, self.config.poll_interval_s), moment + round(self.config.lease_s * 1000))

    async def _claim_due(self, lease_until: int) -> AsyncIterator[list[PolledTask]]:
        """Claim the due tasks, up to `poll_claim_limit`, newest first, a chunk per transaction: a claim holds its
        rows' locks until it commits, and an upstream callback about one of them waits that long."""
        moment = self.clock.now_ms()
        claimed = 0
        while claimed < self.config.poll_claim_limit:
            size = min(self.config.claim_chunk, self.config.poll_claim_limit - claimed)
            async with self.db.session() as session, session.begin():
                chunk = await repository.claim_due(session, now_ms=moment, lease_until=lease_until, limit=size)
            claimed += len(chunk)
            if chunk:
                yield chunk
            if len(chunk) < size:
                return

    async def _sync_group(self, sweep: _Sweep, budget: Counter[int]) -> None:
        """Read one action's claimed tasks upstream: list pages while they cover the tasks, then single GETs,
        within the channel's budget of calls for the round; apply what was read as it comes.

        Tasks left unread for lack of budget come due next round; after an upstream error the rest keep the next
        look their claim gave them, so a failing upstream is not asked again at once.
        """
        channel, family, action = sweep.channel, sweep.family, sweep.action
        try:
            await sweep.wait(lambda: sweep.claimed_all or len(sweep.waiting) >= self.config.batch_min_tasks)
            if len(sweep.waiting) >= self.config.batch_min_tasks:
                await self._sweep(sweep, budget)
            await sweep.wait(lambda: sweep.claimed_all)
            await self._apply(channel, sweep.take_early())
            for task_id in sorted(sweep.waiting):
                if budget[channel.id] >= self.config.requests_per_round:
                    break
                budget[channel.id] += 1
                report = await self.client.get(channel.credentials, family, action, task_id)  # None: not found
                await self._apply(channel, [(sweep.waiting.pop(task_id), report)])
        except UpstreamError as error:
            log.warning("sync of %s tasks on channel %s failed: %s", action, channel.name, error)
            sweep.waiting.clear()
            if isinstance(error, ChannelMisconfigured):
                await self.dispatcher.note_misconfigured(channel, error)
            return
        if sweep.waiting:
            unread = [task.id for task in sweep.waiting.values()]
            async with self.db.session() as session, session.begin():
                await repository.reschedule(session, task_ids=unread, next_sync_at=self.clock.now_ms())

    async def _sweep(self, sweep: _Sweep, budget: Counter[int]) -> None:
        """Read the action's list pages from the newest, a few at once, until every claimed task is found, the
        list ends, a page is older than the oldest claimed task, or the budget is spent; apply what was found.

        The list is sorted newest first, so the pages down to the oldest task cover every task, ours and others':
        one call reads up to a page's worth of tasks, wherever they are in the list. While the claim goes on, a
        report whose task is not claimed yet is kept for when it is, and the sweep keeps no further ahead of the
        claim than EARLY_REPORTS.
        """
        size = self.config.list_page_size
        page_num = 1
        while page_num <= MAX_PAGE_NUM:
            await sweep.wait(lambda: sweep.claimed_all or len(sweep.early) < EARLY_REPORTS)
            await self._apply(sweep.channel, sweep.take_early())
            if sweep.claimed_all and not sweep.waiting:
                return
            room = self.config.requests_per_round - budget[sweep.channel.id]
            wanted = math.ceil(len(sweep.waiting) / size) if sweep.claimed_all else self.config.list_read_ahead
            ahead = min(self.config.list_read_ahead, wanted, room, MAX_PAGE_NUM + 1 - page_num)
            if ahead <= 0:
                return
            budget[sweep.channel.id] += ahead
            pages = await asyncio.gather(
                *(
                    self.client.list(
                        sweep.channel.credentials, sweep.family, sweep.action, page_num=number, page_size=size
                    )
                    for number in range(page_num, page_num + ahead)
                )
            )
            for page in pages:
                await self._apply(sweep.channel, sweep.match(page))
            oldest_ms = sweep.oldest_ms - CLOCK_SKEW_MS
            if any(len(page) < size or (sweep.claimed_all and page[-1].created_at < oldest_ms) for page in pages):
                return
            page_num += ahead

    async def _apply(self, channel: ChannelChoice, looked_at: Sequence[tuple[PolledTask, UpstreamTask | None]]) -> None:
        """Write each move in its own short transaction, then reschedule the tasks running long in a few statements,
        and count an absence for each task the look missed (its report None).

        A move touches the task and its owner's balance; keeping each in its own transaction means a callback
        moving another task of the same owner at the same moment never waits on (or deadlocks with) a whole group.
        The claim already put every task's next look on the base grid; a task running long is looked at less often.
        """
        later: dict[int, list[int]] = defaultdict(list)
        for task, report in looked_at:
            moment = self.clock.now_ms()
            if report is not None:
                self.lag.found(task, now_ms=moment, final=report.task_status in FINAL_REPORTS)
            interval = poll_interval(  # counted from its last change: time in the queue is not time running
                age_ms=moment - task.updated_at,
                expected_ms=task.expected_ms,
                base_s=self.config.poll_interval_s,
                longest_s=self.config.max_poll_interval_s,
            )
            next_sync_at = next_look(moment, interval)
            if report is not None and report.task_status != task.status:
                async with self.db.session() as session, session.begin():
                    move = await transitions.advance(
                        session,
                        task,
                        report,
                        now_ms=moment,
                        next_sync_at=next_sync_at,
                        currency_micros=self.currency_micros,
                    )
                    await effects.record(session, move, callback_give_up_s=self.config.callback_give_up_s)
            elif interval > self.config.poll_interval_s:
                later[next_sync_at].append(task.id)
        if later:
            async with self.db.session() as session, session.begin():
                for next_sync_at, task_ids in later.items():
                    await repository.reschedule(session, task_ids=task_ids, next_sync_at=next_sync_at)
        await self.absences.note(
            channel,
            found=[task for task, report in looked_at if report is not None],
            missed=[task for task, report in looked_at if report is None],
        )


EARLY_REPORTS = 10_000  # upstream reports a sweep keeps for tasks not claimed yet, at most, before it waits


class _Sweep:
    """One channel's action in one poll round: the claimed tasks not read yet, the reports read before their
    task was claimed, and whether the claim has ended."""

    def __init__(self, channel: ChannelChoice, family: str, action: str) -> None:
        self.channel = channel
        self.family = family
        self.action = action
        self.waiting: dict[str, PolledTask] = {}  # by upstream task id
        self.early: dict[str, UpstreamTask] = {}
        self.oldest_ms = 2**63  # the created_at of the oldest task claimed
        self.claimed_all = False
        self._changed = asyncio.Event()

    def add(self, tasks: Sequence[_Polled]) -> None:
        """Take newly claimed tasks."""
        for upstream_task_id, task in tasks:
            self.waiting[upstream_task_id] = task
            self.oldest_ms = min(self.oldest_ms, task.created_at)
        self._changed.set()

    def close(self) -> None:
        """Note that the claim has ended: every task of the round is known."""
        self.claimed_all = True
        self._changed.set()

    async def wait(self, ready: Callable[[], bool]) -> None:
        """Wait until `ready()` holds, looking again whenever tasks come or the claim ends."""
        while not ready():
            self._changed.clear()
            await self._changed.wait()

    def match(self, page: Sequence[UpstreamTask]) -> list[tuple[PolledTask, UpstreamTask | None]]:
        """Pair a page's reports with their waiting tasks; keep the others while more tasks may come."""
        found: list[tuple[PolledTask, UpstreamTask | None]] = []
        for report in page:
            task = self.waiting.pop(report.task_id, None)
            if task is not None:
                found.append((task, report))
            elif not self.claimed_all:
                self.early[report.task_id] = report
        return found

    def take_early(self) -> list[tuple[PolledTask, UpstreamTask | None]]:
        """Pair the kept reports with tasks claimed since; drop them all once the claim has ended."""
        # Intersecting two key views walks the smaller of them.
        both = self.early.keys() & self.waiting.keys()
        found: list[tuple[PolledTask, UpstreamTask | None]] = [
            (self.waiting.pop(task_id), self.early.pop(task_id)) for task_id in both
        ]
        if self.claimed_all:
            self.early.clear()
        return found


def _grouped(tasks: Sequence[PolledTask], generation: Generation) -> dict[tuple[int, str, str], list[_Polled]]:
    """Group the tasks of one generation by channel and action, each under its upstream id."""
    groups: dict[tuple[int, str, str], list[_Polled]] = defaultdict(list)
    for task in tasks:
        if task.generation != generation.value:
            continue
        if task.channel_id is None or task.upstream_task_id is None:
            # Cannot happen by design (a task in flight knows its channel and upstream id); one bad row must not
            # stop every round.
            log.error("task %s is in flight with no channel or no upstream id; it is not polled", task.platform_id)
            continue
        groups[(task.channel_id, task.family, task.action)].append(_Polled(task.upstream_task_id, task))
    return groups


class _Polled(NamedTuple):
    """A claimed task in flight, under the upstream id that it is listed and looked up by."""

    upstream_task_id: str
    task: PolledTask


async def run_standalone(settings: Settings, stop: asyncio.Event) -> None:
    """Run a worker process: its own database pool and upstream pool, until `stop` is set."""
    redact_logs()
    db = Database(settings.resolved_database_url(), timeouts=settings.store.timeouts())
    await ensure_schema(db)
    async with upstream_http(settings.sync) as http:
        try:
            await Worker(db, KlingClient(http), settings).run(stop)
        finally:
            await db.dispose()
