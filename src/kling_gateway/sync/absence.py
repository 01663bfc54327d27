"""Fail a task the upstream no longer knows (its store was reset, the task dropped), on either API generation.

A look upstream that does not find a task in flight counts one absence: a legacy GET of the task answering "task
not found", a `GET /tasks` answer leaving the task out. A look that finds it starts the count over. A task just
created may be missing for a moment, while the upstream's reads catch up with its writes, so a missing task is not
failed at once: only once `absent_limit_answers` looks in a row have missed it, over at least `absent_grace_s`.
Then it fails saying so, which releases its hold (nothing is charged), frees its channel slot and tells its
client, instead of all three waiting for the stuck-task limit.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from kling_gateway.channels.selection import ChannelChoice
from kling_gateway.clock import Clock
from kling_gateway.kling.schemas import Generation
from kling_gateway.settings import SyncConfig
from kling_gateway.store.database import Database
from kling_gateway.store.records import PolledTask
from kling_gateway.tasks import effects, repository, transitions


class Absences:
    """Keep count of the looks upstream that missed each task in flight, and fail those missing long enough."""

    def __init__(self, db: Database, config: SyncConfig, clock: Clock) -> None:
        self.db = db
        self.config = config
        self.clock = clock

    async def note(self, channel: ChannelChoice, *, found: Sequence[PolledTask], missed: Sequence[PolledTask]) -> None:
        """Start the count over for the tasks a look found, count one more absence for those it missed, and fail
        those missed by `absent_limit_answers` looks in a row over at least `absent_grace_s`."""
        back = [task.id for task in found if task.absent_count]
        if not back and not missed:
            return
        moment = self.clock.now_ms()
        async with self.db.session() as session, session.begin():
            if back:
                await repository.reset_absence(session, task_ids=back)
            counts = {}
            if missed:
                counts = await repository.count_absence(session, task_ids=[task.id for task in missed], now_ms=moment)
        grace_ms = round(self.config.absent_grace_s * 1000)
        for task in missed:
            count, since = counts.get(task.id, (0, moment))  # not counted: no longer in flight
            if count >= self.config.absent_limit_answers and moment - since >= grace_ms:
                await self._fail(channel, task, count, since, moment)

    async def _fail(self, channel: ChannelChoice, task: PolledTask, count: int, since: int, moment: int) -> None:
        message = (
            f"the upstream no longer knows this task: {_looks(task)} on channel {channel.name} missed it "
            f"{count} times in a row, from {_iso(since)} to {_iso(moment)}; the gateway failed it and released "
            "its hold"
        )
        async with self.db.session() as session, session.begin():
            move = await transitions.fail(session, task, message, now_ms=moment)
            await effects.record(session, move, callback_give_up_s=self.config.callback_give_up_s)


def _looks(task: PolledTask) -> str:
    """Say how the upstream was asked about the task, and what it answered."""
    if task.generation == Generation.NEW.value:
        return f"GET /tasks?task_ids={task.upstream_task_id} (the answer left it out)"
    return f"GET /v1/{task.family}/{task.action}/{task.upstream_task_id} (task not found)"


def _iso(moment_ms: int) -> str:
    return datetime.fromtimestamp(moment_ms / 1000, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
