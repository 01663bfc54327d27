"""Poll new-generation tasks twenty at a time with `GET /tasks`.

The batched query answers only about the ids it knows: a task missing from an answer is not visible, never failed
by that alone. The worker counts it as a look that missed the task (`sync.absence`), as it does a legacy GET that
answers "task not found".
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence

from kling_gateway.channels.selection import ChannelChoice
from kling_gateway.clock import Clock
from kling_gateway.settings import SyncConfig
from kling_gateway.store.database import Database
from kling_gateway.store.records import PolledTask
from kling_gateway.tasks import repository
from kling_gateway.upstream.client import TASKS_PER_QUERY, KlingClient, UpstreamTask
from kling_gateway.upstream.errors import ChannelMisconfigured, UpstreamError

log = logging.getLogger(__name__)

# Moves the tasks a look found and counts an absence for each it missed (reported as None), as every poll does.
Apply = Callable[[ChannelChoice, Sequence[tuple[PolledTask, UpstreamTask | None]]], Awaitable[None]]
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
        self._apply = apply
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
        """Apply one answer: each task it lists with its record, each it leaves out as missed."""
        by_id = {report.task_id: report for report in reports}
        await self._apply(channel, [(task, by_id.get(task.upstream_task_id or "")) for task in tasks])
