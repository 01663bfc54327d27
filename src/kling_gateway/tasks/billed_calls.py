"""The synchronous calls Kling bills (reference 2026 §4.0): TTS, image recognition and face identification.

Each is kept as a task that is final at once (`sync_call`), so it is billed once and reconciled like any task:
before the call its documented price is held (the balance must cover it), and in the write that finishes the row
the hold is released and the call's own deduction (`final_unit_deduction` in its answer) is charged at the user's
rate of its package. The row's `upstream_task_id` is the answer's `task_id`, or the envelope's `request_id` when the
answer has none, so that the reconciliation can match the upstream's ledger to it. The ledger's unique key (task,
kind) means a call can never be charged twice, whatever happens between the two writes; a process that dies in
between leaves the row processing, and the worker fails it (releasing the hold) once it is stuck.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

import orjson
from pydantic import BaseModel

from kling_gateway.billing import charges, ledger
from kling_gateway.billing.money import cost_micros, format_yuan
from kling_gateway.errors import InsufficientBalance
from kling_gateway.keys.service import Principal
from kling_gateway.kling.pricing import sync_call_cost
from kling_gateway.kling.schemas import SYNC_SPECS, Family, Package, PackType
from kling_gateway.settings import Settings
from kling_gateway.store.database import Database
from kling_gateway.store.records import Task, TaskDraft, TaskStatus
from kling_gateway.tasks import repository
from kling_gateway.tasks.ids import new_platform_id
from kling_gateway.tasks.repository import TaskChanges
from kling_gateway.users.service import rates_for_new_task


@dataclass(frozen=True, slots=True)
class BilledCall:
    """A synchronous call Kling bills: its path, body schema, the pack it draws on and its documented price."""

    family: Family
    call: str  # the path after /v1/<family>/
    schema: type[BaseModel]
    package: Package
    price_units: Decimal

    @property
    def path(self) -> str:
        """The call's path upstream."""
        return f"/v1/{self.family.value}/{self.call}"


BILLED_CALLS: Mapping[tuple[Family, str], BilledCall] = {
    key: BilledCall(spec.family, spec.call, spec.schema, spec.package, sync_call_cost(spec.family, spec.call))
    for key, spec in SYNC_SPECS.items()
    if spec.package is not None
}
"""TTS, identify-face and image-recognize (reference 2026 §4.0), by (family, path after /v1/<family>/)."""


async def hold_call(
    db: Database, settings: Settings, owner: Principal, call: BilledCall, raw: Mapping[str, Any], *, now_ms: int
) -> Task:
    """Store the call as a task in flight and hold its price, in one transaction; refuse it if the balance falls
    short (then nothing is stored)."""
    platform_id = new_platform_id(call.family)
    canonical = orjson.dumps(dict(raw), option=orjson.OPT_SORT_KEYS)
    async with db.session() as session, session.begin():
        rates = await rates_for_new_task(session, user_id=owner.user_id, settings=settings)
        rate = rates.of(call.package)
        price = cost_micros(call.price_units, rate)
        if await ledger.hold(session, user_id=owner.user_id, task_platform_id=platform_id, amount_micros=price) is None:
            balance, held = await ledger.balance_of(session, user_id=owner.user_id)
            raise InsufficientBalance(
                f"insufficient balance: {call.call} costs ¥{format_yuan(price)} ({call.price_units} credits × "
                f"¥{format_yuan(rate)}), but only ¥{format_yuan(balance - held)} is available; top up and retry"
            )
        draft = TaskDraft(
            platform_id=platform_id,
            user_id=owner.user_id,
            key_id=owner.key_id,
            dialect=None,
            required_channel_id=None,
            family=call.family.value,
            action=call.call,
            external_task_id=None,
            body_hash=hashlib.sha256(canonical).hexdigest(),
            request_json=orjson.dumps(dict(raw)).decode(),
            callback_url=None,
            pack_type=PackType.VIDEO.value,
            slots=0,  # a synchronous call takes none of a channel's task concurrency
            watermark=False,
            rate_micros=rate,
            hold_micros=price,
            created_at=now_ms,
            next_sync_at=None,
            model=None,
            seconds=None,
            width=None,
            height=None,
            fps=None,
            expected_ms=None,
            sync_call=True,
            rates_json=rates.as_json(),
        )
        task = await repository.insert(session, draft)
        # In flight, never queued: the dispatcher sends queued tasks, and this one is sent by its caller.
        await repository.transition(
            session,
            task_id=task.id,
            expected=TaskStatus.QUEUED,
            changes={"status": TaskStatus.PROCESSING.value, "updated_at": now_ms},
        )
    return task


async def charge_call(
    db: Database,
    task: Task,
    data: Mapping[str, Any],
    *,
    request_id: str | None,
    channel_id: int | None,
    package: Package,
    now_ms: int,
    currency_micros: Mapping[str, int],
) -> None:
    """Finish a call that answered: keep its result and deduction, release the hold and charge the deduction (units
    at the call's rate, a cash deduction at `currency_micros`, as a task's are), in the one write that finishes it."""
    deduction = _units(data.get("final_unit_deduction"))
    cash = data.get("final_balance_deduction")
    entries = charges.legacy_entries(deduction, cash if isinstance(cash, Mapping) else None, package=package.value)
    priced = charges.price(entries, rates={package.value: task.rate_micros}, currency_micros=currency_micros)
    charge = priced.micros
    result = data.get("task_result")
    upstream_id = data.get("task_id")
    changes: TaskChanges = {
        "status": TaskStatus.SUCCEED.value,
        "updated_at": now_ms,
        "result_json": orjson.dumps(result if isinstance(result, dict) else {}).decode(),
        "final_unit_deduction": deduction,
        "billing_json": orjson.dumps(entries).decode(),
        "upstream_task_id": str(upstream_id) if upstream_id else (request_id or ""),
        "charge_micros": charge,
    }
    if priced.unbilled_reason is not None:
        changes["unbilled_reason"] = priced.unbilled_reason
    if channel_id is not None:
        changes["channel_id"] = channel_id
    async with db.session() as session, session.begin():
        won = await repository.transition(
            session,
            task_id=task.id,
            expected=TaskStatus.PROCESSING,
            changes=changes,
        )
        if won:
            await ledger.settle(session, task, charge_micros=charge, note=f"{task.action}: {priced.note}")


async def fail_call(db: Database, task: Task, reason: str, *, now_ms: int) -> None:
    """Finish a call that was refused or went unanswered: release its hold, charge nothing."""
    async with db.session() as session, session.begin():
        won = await repository.transition(
            session,
            task_id=task.id,
            expected=TaskStatus.PROCESSING,
            changes={"status": TaskStatus.FAILED.value, "status_msg": reason, "updated_at": now_ms},
        )
        if won:
            await ledger.settle(session, task, charge_micros=0, note=reason)


def _units(raw: object) -> str | None:
    """The units of a deduction as the upstream wrote them; None when it wrote none (then nothing is charged)."""
    if not isinstance(raw, str | int | float) or isinstance(raw, bool) or raw == "":
        return None
    try:
        units = Decimal(str(raw))
    except InvalidOperation:
        return None
    return str(raw) if units.is_finite() and units >= 0 else None
