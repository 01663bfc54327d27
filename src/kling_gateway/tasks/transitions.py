"""Move a task forward from what the upstream reports: one conditional write, billing only in the winner."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncSession

from kling_gateway.billing import ledger
from kling_gateway.billing.money import cost_micros
from kling_gateway.channels.affinity import remember_videos
from kling_gateway.store.records import TaskStatus
from kling_gateway.sync import outbox
from kling_gateway.tasks import repository
from kling_gateway.tasks.repository import TaskRow
from kling_gateway.tasks.states import may_move, upstream_status
from kling_gateway.upstream.client import UpstreamTask

MAX_UNITS = Decimal(10**9)  # credits: far beyond any task, small enough to price without overflow
MAX_CHARGE_MICROS = 2**63 - 1  # what the ledger's 64-bit columns hold
DEDUCTION_CHARS = 32  # the width of tasks.final_unit_deduction
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
        "status_msg": _text(report.task_status_msg),
        "task_info_json": _task_info(report),
        "result_json": orjson.dumps(report.task_result).decode(),
        "updated_at": now_ms,
        "next_sync_at": None if new.is_final else next_sync_at,
    }
    if task.upstream_task_id is None:  # adopted after an unknown outcome: the report names the upstream id
        values["upstream_task_id"] = report.task_id
    charge, deduction = 0, None
    if new is TaskStatus.SUCCEED:
        deduction = _units(report.final_unit_deduction)
        charge = 0 if deduction is None else cost_micros(deduction, task.rate_micros)
        if charge > MAX_CHARGE_MICROS:  # no real task costs this: a garbled figure is not billed
            deduction, charge = None, 0
        values["final_unit_deduction"] = _storable_deduction(report.final_unit_deduction)
    if new.is_final:
        values["charge_micros"] = charge
    if not await repository.transition(session, task_id=task.id, expected=current, values=values):
        return None
    if new.is_final:
        await _settle(session, task, report, new, deduction, charge)
    if new is TaskStatus.SUCCEED and task.channel_id is not None:
        # Later extend / lip-sync calls on these videos must go to the account that made them.
        await remember_videos(session, user_id=task.user_id, channel_id=task.channel_id, report=report, now_ms=now_ms)
    if task.callback_url:  # set at submit and never changed; without one there is nothing to queue
        await outbox.enqueue(session, task_id=task.id, now_ms=now_ms)
    return True


async def fail(session: AsyncSession, task: TaskRow, message: str, *, now_ms: int) -> bool:
    """Fail an unfinished task on the gateway's own account (e.g. stuck too long) and release its hold; a task
    already final (whatever the row handed in says) is left as it is."""
    current = TaskStatus(task.status)
    if current.is_final:
        return False
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
    if task.callback_url:  # set at submit and never changed; without one there is nothing to queue
        await outbox.enqueue(session, task_id=task.id, now_ms=now_ms)
    return True


async def _settle(
    session: AsyncSession, task: TaskRow, report: UpstreamTask, new: TaskStatus, deduction: Decimal | None, charge: int
) -> None:
    if new is TaskStatus.FAILED:
        note = f"failed upstream: {_text(report.task_status_msg) or 'no reason given'}"
    elif report.final_unit_deduction is None:
        note = "succeeded; the upstream reported no deduction, so nothing is charged"
    elif deduction is None:
        shown = _storable_deduction(report.final_unit_deduction) or "(unreadable)"
        note = f"succeeded; the upstream's deduction {shown} is not a usable figure, so nothing is charged"
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
    """Read `final_unit_deduction`; None when absent, unreadable, not positive, absurdly large or longer than the
    column keeps (then nothing is billed)."""
    if text is None or len(text) > DEDUCTION_CHARS:
        return None
    try:
        units = Decimal(text)
    except InvalidOperation:
        return None
    return units if units.is_finite() and 0 < units <= MAX_UNITS else None


def _storable_deduction(text: str | None) -> str | None:
    """Keep the upstream's figure as it wrote it, to show the client, when the column can hold it."""
    if text is None or len(text) > DEDUCTION_CHARS or "\x00" in text:
        return None
    return text


def _text(text: str) -> str:
    """Keep upstream text storable: PostgreSQL text holds no NUL character."""
    return text.replace("\x00", "")


def _task_info(report: UpstreamTask) -> str:
    """Keep the upstream's task_info but its external_task_id, which is our platform_id, not the user's id."""
    info = {key: value for key, value in report.task_info.items() if key != "external_task_id"}
    return orjson.dumps(info).decode() if info else "{}"
