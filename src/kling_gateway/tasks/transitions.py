"""Move a task forward from what the upstream reports: one conditional write, and what it did for the winner.

A transition writes the task alone and returns a `Move`: where the task went, what it costs, whether a client
callback is owed. The unit of work that called it records the move's effects (`tasks.effects.record`) in the
same transaction, so billing and callbacks happen only in the write that won.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

import orjson
from sqlalchemy.ext.asyncio import AsyncSession

from kling_gateway.billing.money import cost_micros
from kling_gateway.store.records import PolledTask, TaskStatus
from kling_gateway.tasks import repository
from kling_gateway.tasks.repository import TaskChanges
from kling_gateway.tasks.states import may_move, upstream_status
from kling_gateway.upstream.client import UpstreamTask

MAX_UNITS = Decimal(10**9)  # credits: far beyond any task, small enough to price without overflow
MAX_CHARGE_MICROS = 2**63 - 1  # what the ledger's 64-bit columns hold
DEDUCTION_CHARS = 32  # the width of tasks.final_unit_deduction
MAX_RACES = 3  # a task has at most three moves left, so a report can lose the race to another at most that often


@dataclass(frozen=True, slots=True)
class Move:
    """What a won transition did: the task as it was, where it went, and what the move owes."""

    task: PolledTask
    status: TaskStatus
    at_ms: int
    charge_micros: int = 0  # taken from the owner's balance when the move is final (0: nothing is billed)
    note: str = ""  # why, for the ledger entries of a final move
    report: UpstreamTask | None = None  # the upstream's word, when it made the move (None: the gateway's own)

    @property
    def settles(self) -> bool:
        """Whether the move ends the task, so its hold is released (and its charge taken)."""
        return self.status.is_final

    @property
    def callback_owed(self) -> bool:
        """Whether the task's client is told: only a task submitted with a callback_url (it never changes)."""
        return bool(self.task.callback_url)


async def advance(
    session: AsyncSession, task: PolledTask, report: UpstreamTask, *, now_ms: int, next_sync_at: int | None
) -> Move | None:
    """Apply an upstream report to a task; return the move, or None when late, repeated or backward reports change
    nothing.

    When another writer (a callback, another poll) moved the task between our read and our write, the write
    loses; the report is then weighed again against the task as it is now, so a `succeed` that raced a
    `processing` still lands.
    """
    for _ in range(MAX_RACES + 1):
        moved = await _advance_once(session, task, report, now_ms=now_ms, next_sync_at=next_sync_at)
        if not isinstance(moved, _Lost):
            return moved
        fresh = await repository.find_polled(session, task_id=task.id)
        if fresh is None:
            return None
        task = fresh
    return None


class _Lost:
    """The conditional write lost to another writer: weigh the report again."""


_LOST = _Lost()


async def _advance_once(
    session: AsyncSession, task: PolledTask, report: UpstreamTask, *, now_ms: int, next_sync_at: int | None
) -> Move | _Lost | None:
    """Try one conditional write: the move if it won, None if the report moves nothing, _LOST if it lost."""
    current = task.status
    new = upstream_status(report.task_status)
    if new is None or not may_move(current, new):
        return None
    values: TaskChanges = {
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
    if not await repository.transition(session, task_id=task.id, expected=current, changes=values):
        return _LOST
    note = _note(report, new, deduction) if new.is_final else ""
    return Move(task, new, now_ms, charge_micros=charge, note=note, report=report)


async def fail(session: AsyncSession, task: PolledTask, message: str, *, now_ms: int) -> Move | None:
    """Fail an unfinished task on the gateway's own account (e.g. stuck too long), charging nothing; a task
    already final (whatever the record handed in says) is left as it is."""
    if task.status.is_final:
        return None
    values: TaskChanges = {
        "status": TaskStatus.FAILED.value,
        "status_msg": message,
        "updated_at": now_ms,
        "next_sync_at": None,
        "charge_micros": 0,
    }
    if not await repository.transition(session, task_id=task.id, expected=task.status, changes=values):
        return None
    return Move(task, TaskStatus.FAILED, now_ms, note=message)


def _note(report: UpstreamTask, new: TaskStatus, deduction: Decimal | None) -> str:
    """Say why a final move charges what it does."""
    if new is TaskStatus.FAILED:
        return f"failed upstream: {_text(report.task_status_msg) or 'no reason given'}"
    if report.final_unit_deduction is None:
        return "succeeded; the upstream reported no deduction, so nothing is charged"
    if deduction is None:
        shown = _storable_deduction(report.final_unit_deduction) or "(unreadable)"
        return f"succeeded; the upstream's deduction {shown} is not a usable figure, so nothing is charged"
    return f"succeeded; {report.final_unit_deduction} credits deducted upstream"


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
