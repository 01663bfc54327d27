"""Move a task forward from what the upstream reports: one conditional write, and what it did for the winner.

A transition writes the task alone and returns a `Move`: where the task went, what it costs, whether a client
callback is owed. The unit of work that called it records the move's effects (`tasks.effects.record`) in the
same transaction, so billing and callbacks happen only in the write that won.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncSession

from kling_gateway.billing.charges import Charge, legacy_entries, price
from kling_gateway.kling.schemas import Generation, Package, legacy_package
from kling_gateway.settings import BillingConfig
from kling_gateway.store.records import PolledTask, Task, TaskStatus
from kling_gateway.tasks import repository
from kling_gateway.tasks.repository import TaskChanges
from kling_gateway.tasks.states import may_move, upstream_status
from kling_gateway.upstream.client import UpstreamTask

DEDUCTION_CHARS = 32  # the width of tasks.final_unit_deduction
MAX_RACES = 3  # a task has at most three moves left, so a report can lose the race to another at most that often
DEFAULT_CURRENCY_MICROS: Mapping[str, int] = BillingConfig().currency_micros
# The package a legacy task's final_unit_deduction is drawn from, by family (elements and voices bill video).


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
    session: AsyncSession,
    task: PolledTask,
    report: UpstreamTask,
    *,
    now_ms: int,
    next_sync_at: int | None,
    currency_micros: Mapping[str, int] = DEFAULT_CURRENCY_MICROS,
) -> Move | None:
    """Apply an upstream report to a task; return the move, or None when late, repeated or backward reports change
    nothing.

    When another writer (a callback, another poll) moved the task between our read and our write, the write
    loses; the report is then weighed again against the task as it is now, so a `succeed` that raced a
    `processing` still lands. A success is charged what the upstream deducted, cash at `currency_micros` (µ¥ per
    unit of each currency).
    """
    for _ in range(MAX_RACES + 1):
        moved = await _advance_once(
            session, task, report, now_ms=now_ms, next_sync_at=next_sync_at, currency_micros=currency_micros
        )
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
    session: AsyncSession,
    task: PolledTask,
    report: UpstreamTask,
    *,
    now_ms: int,
    next_sync_at: int | None,
    currency_micros: Mapping[str, int],
) -> Move | _Lost | None:
    """Try one conditional write: the move if it won, None if the report moves nothing, _LOST if it lost."""
    current = task.status
    new = upstream_status(report.task_status)
    if new is None or not may_move(current, new):
        return None
    values = _reported(report, new, now_ms=now_ms, next_sync_at=next_sync_at, first=task.upstream_task_id is None)
    charge = Charge(0, _failure_note(report) if new is TaskStatus.FAILED else "")
    if new is TaskStatus.SUCCEED:
        entries = _billing_entries(task, report)
        charge = price(entries, rates=_rates(task), currency_micros=currency_micros)
        values["final_unit_deduction"] = _storable_deduction(report.final_unit_deduction)
        values["billing_json"] = orjson.dumps(entries).decode()
        values["unbilled_reason"] = charge.unbilled_reason
    if new.is_final:
        values["charge_micros"] = charge.micros
    if not await repository.transition(session, task_id=task.id, expected=current, changes=values):
        return _LOST
    return Move(task, new, now_ms, charge_micros=charge.micros, note=charge.note, report=report)


def first_move_alone(task: Task, report: UpstreamTask, *, now_ms: int, next_sync_at: int | None) -> TaskChanges | None:
    """What a queued task's first move on the upstream's word writes, when the move owes nothing else: it does not
    end the task (no money settles) and no client callback is told. Such a move can be written alone, in one
    statement; None when the move owes more (then `advance` and `effects.record`, in one transaction) or moves
    nothing."""
    new = upstream_status(report.task_status)
    if task.callback_url or new is None or new.is_final or not may_move(TaskStatus.QUEUED, new):
        return None
    # A queued task has no upstream id yet: only a move out of `queued` writes one.
    return _reported(report, new, now_ms=now_ms, next_sync_at=next_sync_at, first=True)


def _reported(
    report: UpstreamTask, new: TaskStatus, *, now_ms: int, next_sync_at: int | None, first: bool
) -> TaskChanges:
    """What any move on the upstream's word writes; `first`: the task has no upstream id yet (a new task, or one
    adopted after an unknown outcome), which the report names."""
    values: TaskChanges = {
        "status": new.value,
        "status_msg": _text(report.task_status_msg),
        "task_info_json": _task_info(report),
        "result_json": orjson.dumps(report.task_result).decode(),
        "updated_at": now_ms,
        "next_sync_at": None if new.is_final else next_sync_at,
        "absent_count": 0,  # the upstream has just shown it knows the task
        "absent_since": None,
    }
    if first:
        values["upstream_task_id"] = report.task_id
    return values


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


def _failure_note(report: UpstreamTask) -> str:
    """Say why a failure charges nothing."""
    return f"failed upstream: {_text(report.task_status_msg) or 'no reason given'}"


def _billing_entries(task: PolledTask, report: UpstreamTask) -> list[dict[str, Any]]:
    """The upstream's deductions as `billing[]` entries: as sent in a new-generation record, or made from a legacy
    task's final_unit_deduction (drawn from the package of its endpoint) and final_balance_deduction."""
    if report.generation is Generation.NEW:
        return list(report.billing)
    package = legacy_package(task.family, task.action)
    return legacy_entries(report.final_unit_deduction, report.final_balance_deduction, package=package.value)


def _rates(task: PolledTask) -> dict[str, int]:
    """µ¥ per credit of each package for this task, as fixed at submit.

    A legacy task's units are charged at the task's own rate, as they always were; a new-generation task at the
    rate of each entry's package; a row from before rates were kept per package (`{}`) at its one rate.
    """
    every = dict.fromkeys((package.value for package in Package), task.rate_micros)
    if task.generation != Generation.NEW.value:
        return every
    try:
        stored = orjson.loads(task.rates_json)
    except orjson.JSONDecodeError:
        return every
    if not isinstance(stored, dict) or not stored:
        return every
    return {str(name): rate for name, rate in stored.items() if isinstance(rate, int) and not isinstance(rate, bool)}


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
