"""Move a task forward from what the upstream reports: one conditional write, billing only in the winner."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncSession

from kling_gateway.billing import ledger
from kling_gateway.billing.money import cost_micros
from kling_gateway.channels.affinity import remember_videos
from kling_gateway.sync import outbox
from kling_gateway.tasks import repository
from kling_gateway.tasks.repository import TaskRow
from kling_gateway.tasks.states import TaskStatus, may_move, upstream_status
from kling_gateway.upstream.client import UpstreamTask

MAX_RACES = 3  # a task has at most three moves left, so a report can lose the race to another at most that often


async def advance(
    session: AsyncSession, task: TaskRow, report: UpstreamTask, *, now_ms: int, next_sync_at: int | None
) -> bool:
    """Apply an upstream report to a task; tell whether it moved. Late, repeated or backward reports change nothing.

    When another writer (a callback, another poll) moved the task between our read and our write, the write
    loses; the report is then weighed again against the task as it is now, so a `succeed` that raced a
    `processing` still lands.
    """
    for _ in range(MAX_RACES + 1):
        moved = await _advance_once(session, task, report, now_ms=now_ms, next_sync_at=next_sync_at)
        if moved is not None:
            return moved
        fresh = await repository.find_by_platform_id(session, task.platform_id)
        if fresh is None:
            return False
        task = fresh
    return False


async def _advance_once(
    session: AsyncSession, task: TaskRow, report: UpstreamTask, *, now_ms: int, next_sync_at: int | None
) -> bool | None:
    """Try one conditional write: True if it moved the task, False if the report moves nothing, None if it lost."""
    current = TaskStatus(task.status)
    new = upstream_status(report.task_status)
    if new is None or not may_move(current, new):
        return False
    values: dict[str, Any] = {
        "status": new.value,
        "status_msg": report.task_status_msg,
        "task_info_json": _task_info(report),
        "result_json": orjson.dumps(report.task_result).decode(),
        "updated_at": now_ms,
        "next_sync_at": None if new.is_final else next_sync_at,
    }
    if task.upstream_task_id is None:  # adopted after an unknown outcome: the report names the upstream id
        values["upstream_task_id"] = report.task_id
    charge = 0
    if new is TaskStatus.SUCCEED:
        deduction = _units(report.final_unit_deduction)
        values["final_unit_deduction"] = report.final_unit_deduction
        charge = 0 if deduction is None else cost_micros(deduction, task.rate_micros)
    if new.is_final:
        values["charge_micros"] = charge
    if not await repository.transition(session, task_id=task.id, expected=current, values=values):
        return None
    if new.is_final:
        await _settle(session, task, charge, report, new)
    if new is TaskStatus.SUCCEED and task.channel_id is not None:
        # Later extend / lip-sync calls on these videos must go to the account that made them.
        await remember_videos(session, user_id=task.user_id, channel_id=task.channel_id, report=report, now_ms=now_ms)
    await outbox.enqueue(session, task_id=task.id, now_ms=now_ms)
    return True


async def fail(session: AsyncSession, task: TaskRow, message: str, *, now_ms: int) -> bool:
    """Fail an unfinished task on the gateway's own account (e.g. stuck too long) and release its hold."""
    current = TaskStatus(task.status)
    values = {"status": TaskStatus.FAILED.value, "status_msg": message, "updated_at": now_ms, "next_sync_at": None}
    if not await repository.transition(
        session, task_id=task.id, expected=current, values=values | {"charge_micros": 0}
    ):
        return False
    await ledger.settle(
        session,
        user_id=task.user_id,
        task_platform_id=task.platform_id,
        hold_micros=task.hold_micros,
        charge_micros=0,
        note=message,
    )
    await outbox.enqueue(session, task_id=task.id, now_ms=now_ms)
    return True


async def _settle(session: AsyncSession, task: TaskRow, charge: int, report: UpstreamTask, new: TaskStatus) -> None:
    if new is TaskStatus.FAILED:
        note = f"failed upstream: {report.task_status_msg or 'no reason given'}"
    elif report.final_unit_deduction is None:
        note = "succeeded; the upstream reported no deduction, so nothing is charged"
    else:
        note = f"succeeded; {report.final_unit_deduction} credits deducted upstream"
    await ledger.settle(
        session,
        user_id=task.user_id,
        task_platform_id=task.platform_id,
        hold_micros=task.hold_micros,
        charge_micros=charge,
        note=note,
    )


def _units(text: str | None) -> Decimal | None:
    """Read `final_unit_deduction`; None when absent, unreadable or not positive (then nothing is billed)."""
    if text is None:
        return None
    try:
        units = Decimal(text)
    except InvalidOperation:
        return None
    return units if units.is_finite() and units > 0 else None


def _task_info(report: UpstreamTask) -> str:
    """Keep the upstream's task_info but its external_task_id, which is our platform_id, not the user's id."""
    info = {key: value for key, value in report.task_info.items() if key != "external_task_id"}
    return orjson.dumps(info).decode() if info else "{}"
