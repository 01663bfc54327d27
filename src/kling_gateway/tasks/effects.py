"""Record what a move did, in the transaction that made it: the money, the videos it made, the callback it owes.

Every unit of work that moves a task (a poll, an upstream callback, the create's answer, the gateway failing a
task) calls `record` with the `Move` its transition returned, before it commits: so a move and its effects are
written together or not at all, and only by the writer that won the move.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from kling_gateway.billing import ledger
from kling_gateway.channels.affinity import remember_results
from kling_gateway.channels.selection import channel_name
from kling_gateway.dialects.shapes import callback_body
from kling_gateway.observability.metrics import TASK_SECONDS, TASKS_FINISHED, on_commit
from kling_gateway.outbox import repository as outbox
from kling_gateway.outbox.targets import callback_target
from kling_gateway.store.records import TaskStatus
from kling_gateway.tasks import repository
from kling_gateway.tasks.transitions import Move


async def record(session: AsyncSession, move: Move | None, *, callback_give_up_s: float) -> None:
    """Write a move's effects (nothing for None, a report that moved nothing): settle the money of a final move,
    remember the videos, elements and voices a success made on its channel, and queue the client callback the move
    owes."""
    if move is None:
        return
    task = move.task
    if move.settles:
        await ledger.settle(session, task, charge_micros=move.charge_micros, note=move.note)
        channel = "" if task.channel_id is None else await channel_name(session, channel_id=task.channel_id)
        on_commit(session, lambda: count_finished(move, channel))
    if move.status is TaskStatus.SUCCEED and move.report is not None and task.channel_id is not None:
        # Later calls on these videos, elements and voices must go to the account that made them.
        await remember_results(
            session,
            user_id=task.user_id,
            channel_id=task.channel_id,
            report=move.report,
            now_ms=move.at_ms,
            task_id=task.id,
        )
    if move.callback_owed:
        await queue_callback(session, task_id=task.id, now_ms=move.at_ms, give_up_s=callback_give_up_s)


def count_finished(move: Move, channel: str) -> None:
    """Count a task that reached its final status on a channel, and how long it took from its submit."""
    task, status = move.task, move.status.value
    TASKS_FINISHED.labels(status, task.family, task.action, task.generation, channel).inc()
    TASK_SECONDS.labels(task.family, task.action, status).observe(max(move.at_ms - task.created_at, 0) / 1000)


async def queue_callback(session: AsyncSession, *, task_id: int, now_ms: int, give_up_s: float) -> None:
    """Queue a client callback of the task as it is now, rendered in its dialect, retried for `give_up_s`.

    Nothing is queued for a task without a `callback_url`, nor for `queued` (the create answer already said it).
    """
    found = await repository.find_for_callback(session, task_id=task_id)
    if found is None or found[0].status is TaskStatus.QUEUED:
        return
    view, dialect, url = found
    await outbox.enqueue(
        session,
        task_id=task_id,
        status=view.status.value,
        body=callback_body(view, dialect, now_ms),
        target=callback_target(url),
        now_ms=now_ms,
        give_up_at=now_ms + round(give_up_s * 1000),
    )
