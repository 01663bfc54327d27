"""Fail tasks still unfinished long after submit, asking the upstream one last time first."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from kling_gateway.channels.selection import ChannelChoice
from kling_gateway.clock import Clock
from kling_gateway.kling.schemas import Generation
from kling_gateway.settings import Settings
from kling_gateway.store.database import Database
from kling_gateway.store.records import PolledTask, TaskStatus
from kling_gateway.tasks import effects, repository, transitions
from kling_gateway.tasks.states import upstream_status
from kling_gateway.upstream.client import KlingClient, UpstreamTask
from kling_gateway.upstream.errors import UpstreamError

log = logging.getLogger(__name__)


class StuckTasks:
    """Settle the tasks unfinished `sync.stuck_after_s` after submit: with the upstream's final word if it has one,
    else by failing them with their hold released."""

    def __init__(self, db: Database, client: KlingClient, settings: Settings, clock: Clock) -> None:
        self.db = db
        self.client = client
        self.config = settings.sync
        self.currency_micros = settings.billing.currency_micros
        self.clock = clock

    async def settle(self, channels: Mapping[int, ChannelChoice]) -> int:
        """Fail tasks unfinished long after submit; one still upstream is asked first, in case it just finished
        (after a long downtime many are overdue, and the upstream may well have their results)."""
        moment = self.clock.now_ms()
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
            if task.status is TaskStatus.QUEUED and task.channel_id is not None:
                continue  # its create may have taken effect: the lost-answer check settles it first
            report = await self._last_word(task, channels)
            async with self.db.session() as session, session.begin():
                status = None if report is None else upstream_status(report.task_status)
                if report is not None and status is not None and status.is_final:
                    move = await transitions.advance(
                        session, task, report, now_ms=moment, next_sync_at=None, currency_micros=self.currency_micros
                    )
                else:
                    move = await transitions.fail(session, task, message, now_ms=moment)
                await effects.record(session, move, callback_give_up_s=self.config.callback_give_up_s)
        return len(stuck)

    async def _last_word(self, task: PolledTask, channels: Mapping[int, ChannelChoice]) -> UpstreamTask | None:
        channel = None if task.channel_id is None else channels.get(task.channel_id)
        if channel is None or task.upstream_task_id is None:
            return None
        try:
            if task.generation == Generation.NEW.value:
                found = await self.client.tasks_by_ids(channel.credentials, [task.upstream_task_id])
                return next((report for report in found if report.task_id == task.upstream_task_id), None)
            return await self.client.get(channel.credentials, task.family, task.action, task.upstream_task_id)
        except UpstreamError as error:
            log.warning("could not ask about stuck task %s: %s", task.platform_id, error)
            return None


def _duration(seconds: float) -> str:
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{seconds / 3600:g} h"
    return f"{seconds:g} s"
