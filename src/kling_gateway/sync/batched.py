"""Poll new-generation tasks twenty at a time with `GET /tasks`, and fail those the upstream keeps leaving out.

The batched query answers only about the ids it knows: a task missing from an answer is not visible, never failed.
Each answer that leaves a task out counts one more absence (an answer that lists it again starts the count over);
only after `absent_limit_answers` of them in a row is the task failed, which releases its hold and its slot
instead of keeping them until the stuck-task limit.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime

from kling_gateway.channels.selection import ChannelChoice
from kling_gateway.clock import Clock
from kling_gateway.settings import SyncConfig
from kling_gateway.store.database import Database
from kling_gateway.store.records import PolledTask
from kling_gateway.tasks import effects, repository, transitions
from kling_gateway.upstream.client import TASKS_PER_QUERY, KlingClient, UpstreamTask
from kling_gateway.upstream.errors import ChannelMisconfigured, UpstreamError

log = logging.getLogger(__name__)

Apply = Callable[[Sequence[tuple[PolledTask, UpstreamTask | None]]], Awaitable[None]]
NoteMisconfigured = Callable[[ChannelChoice, ChannelMisconfigured], Awaitable[str]]


class BatchedPoll:
    """Read one round's claimed new-generation tasks of a channel, `GET /tasks` by `GET /tasks`."""

    def __init__(
        self,
        db: Database,
        client: KlingClient,
        config: SyncConfig,
        clock: Clock,
        *,
        apply: Apply,
        note_misconfigured: NoteMisconfigured,
    ) -> None:
        self.db = db
        self.client = client
        self.config = config
        self.clock = clock
        self._apply = apply  # moves the tasks an answer lists, as every poll does
        self._note_misconfigured = note_misconfigured

    async def sync(self, channel: ChannelChoice, tasks: Mapping[str, PolledTask], budget: Counter[int]) -> None:
        """Read the tasks (by upstream id), twenty ids a call and a few calls at once, within the channel's budget
        of calls for the round; apply each answer as it comes.

        Tasks left unread for lack of budget come due next round; after an upstream error the rest keep the next
        look their claim gave them.
        """
        ids = sorted(tasks)
        batches = [ids[start : start + TASKS_PER_QUERY] for start in range(0, len(ids), TASKS_PER_QUERY)]
        done = 0
        try:
            while done < len(batches):
                room = max(0, self.config.requests_per_round - budget[channel.id])
                group = batches[done : done + min(self.config.list_read_ahead, room)]
                if not group:
                    break
                budget[channel.id] += len(group)
                answers = await asyncio.gather(
                    *(self.client.tasks_by_ids(channel.credentials, batch) for batch in group)
                )
                done += len(group)
                for batch, reports in zip(group, answers, strict=True):
                    await self._take_answer(channel, [tasks[task_id] for task_id in batch], reports)
        except UpstreamError as error:
            log.warning("sync of new-generation tasks on channel %s failed: %s", channel.name, error)
            if isinstance(error, ChannelMisconfigured):
                await self._note_misconfigured(channel, error)
            return
        unread = [tasks[task_id].id for batch in batches[done:] for task_id in batch]
        if unread:
            async with self.db.session() as session, session.begin():
                await repository.reschedule(session, task_ids=unread, next_sync_at=self.clock.now_ms())

    async def _take_answer(
        self, channel: ChannelChoice, tasks: Sequence[PolledTask], reports: Sequence[UpstreamTask]
    ) -> None:
        """Move the tasks one answer lists; count one more absence for each it leaves out, and fail those left out
        `absent_limit_answers` times in a row."""
        by_id = {report.task_id: report for report in reports}
        seen = [(task, by_id[task.upstream_task_id]) for task in tasks if task.upstream_task_id in by_id]
        absent = [task for task in tasks if task.upstream_task_id not in by_id]
        await self._apply(seen)
        back = [task.id for task, _ in seen if task.absent_count]
        async with self.db.session() as session, session.begin():
            if back:
                await repository.reset_absence(session, task_ids=back)
            counts = await repository.count_absence(session, task_ids=[task.id for task in absent]) if absent else {}
        for task in absent:
            if counts.get(task.id, 0) >= self.config.absent_limit_answers:
                await self._fail_lost(channel, task, counts[task.id])

    async def _fail_lost(self, channel: ChannelChoice, task: PolledTask, absences: int) -> None:
        moment = self.clock.now_ms()
        message = (
            f"the upstream no longer knows this task: absent from {absences} answers in a row of GET /tasks on "
            f"channel {channel.name}, the last at {_iso(moment)}; the gateway failed it and released its hold"
        )
        async with self.db.session() as session, session.begin():
            move = await transitions.fail(session, task, message, now_ms=moment)
            await effects.record(session, move, callback_give_up_s=self.config.callback_give_up_s)


def _iso(moment_ms: int) -> str:
    return datetime.fromtimestamp(moment_ms / 1000, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
