"""Compare what the upstream says it deducted (its export rows) with what the gateway charged (its tasks and
ledger): pure, so every kind of difference is tested with rows made by hand.

Each export row names a task by the upstream's id (a synchronous call without one by its answer's request_id, as
the gateway keeps it). A task's own record of the deductions is its `billing[]` entries (a legacy task's
`final_unit_deduction` when it has none), and its charge is the ledger's: units at the task's rate for their
package, so an altered charge shows as well as a missing one.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any, Literal

import orjson

from kling_gateway.billing.money import cost_micros, format_yuan

Ledger = Literal["package", "balance"]  # the export: units (`/account/billing/package`) or cash (`.../balance`)
# The exports spell product types their own way (2026 reference §5.4): try-on tasks draw on the image pack's rate.
PACKAGE_OF_PRODUCT = {"video": "video", "image": "image", "audio": "audio", "try-on": "image"}


class Kind(StrEnum):
    """What differs."""

    UNKNOWN_TASK = "unknown_task"  # the upstream deducted for a task the gateway does not have on that channel
    NOT_CHARGED = "not_charged"  # the upstream deducted, the gateway charged nothing (unbilled, or charged 0)
    NO_DEDUCTION = "no_deduction"  # the gateway charged, the upstream deducted nothing
    UNITS_DIFFER = "units_differ"  # the units deducted are not those the task recorded
    CASH_DIFFERS = "cash_differs"  # the cash deducted is not what the task recorded, in some currency
    CHARGE_DIFFERS = "charge_differs"  # the ledger's charge is not the deducted units at the task's rates


@dataclass(frozen=True, slots=True)
class ExportRow:
    """One deduction as an export lists it."""

    ledger: Ledger
    task_id: str
    amount: Decimal  # units (package) or money (balance)
    product_type: str | None = None  # package rows
    currency: str | None = None  # balance rows
    deduction_ms: int = 0


@dataclass(frozen=True, slots=True)
class ChargedTask:
    """A task of the channel as the gateway stored and charged it."""

    platform_id: str
    upstream_task_id: str
    status: str
    billing: tuple[Mapping[str, Any], ...]  # the upstream's deductions as the task recorded them
    rates: Mapping[str, int]  # µ¥ per credit, by package
    rate_micros: int  # its one rate, for a package it has none for
    charge_micros: int  # what the ledger took for it (0: nothing)
    unbilled_reason: str | None = None


@dataclass(frozen=True, slots=True)
class Difference:
    """One difference between the upstream's exports and the ledger."""

    kind: Kind
    upstream_task_id: str
    platform_id: str | None
    upstream: str  # what the upstream says
    gateway: str  # what the gateway has
    detail: str


def compare(
    rows: Iterable[ExportRow], tasks: Iterable[ChargedTask], *, charged_in_window: set[str]
) -> list[Difference]:
    """List every difference: rows for unknown or uncharged tasks, charges without a deduction, amounts that differ.

    `tasks` are the channel's tasks the rows name plus those charged in the window; `charged_in_window` (upstream
    ids) are the ones whose charge must have a deduction in these rows."""
    by_task: dict[str, list[ExportRow]] = defaultdict(list)
    for row in rows:
        by_task[row.task_id].append(row)
    known = {task.upstream_task_id: task for task in tasks}
    found: list[Difference] = []
    for task_id, listed in by_task.items():
        task = known.get(task_id)
        if task is None:
            found.append(Difference(Kind.UNKNOWN_TASK, task_id, None, _described(listed), "no task", _unknown(listed)))
        else:
            found.extend(_task_differences(task, listed))
    for task_id in sorted(charged_in_window - by_task.keys()):
        task = known[task_id]
        if task.charge_micros > 0:
            found.append(
                Difference(
                    Kind.NO_DEDUCTION,
                    task_id,
                    task.platform_id,
                    "no deduction",
                    f"charged ¥{format_yuan(task.charge_micros)}",
                    "the gateway charged for this task but the upstream's exports list no deduction for it",
                )
            )
    return found


def _task_differences(task: ChargedTask, rows: Sequence[ExportRow]) -> list[Difference]:
    upstream_units = sum((row.amount for row in rows if row.ledger == "package"), Decimal(0))
    upstream_cash = _cash(row for row in rows if row.ledger == "balance")
    recorded_units, recorded_cash = _recorded(task.billing)
    base = (task.upstream_task_id, task.platform_id, _described(rows))
    if task.charge_micros == 0 and (upstream_units > 0 or any(upstream_cash.values())):
        why = task.unbilled_reason or f"the task is {task.status} and was charged nothing"
        return [Difference(Kind.NOT_CHARGED, *base, "charged ¥0.00", f"the upstream deducted, but {why}")]
    found = []
    if upstream_units != recorded_units:
        found.append(
            Difference(
                Kind.UNITS_DIFFER,
                *base,
                f"{_units(recorded_units)} units recorded",
                "the units the upstream deducted are not those the task's billing recorded",
            )
        )
    if upstream_cash != recorded_cash:
        found.append(
            Difference(
                Kind.CASH_DIFFERS,
                *base,
                _money(recorded_cash) + " recorded",
                "the cash the upstream deducted is not what the task's billing recorded",
            )
        )
    if not upstream_cash:  # cash is charged at a currency rate the exports cannot check
        expected = sum(cost_micros(row.amount, _rate(task, row)) for row in rows if row.ledger == "package")
        if expected != task.charge_micros:
            found.append(
                Difference(
                    Kind.CHARGE_DIFFERS,
                    *base,
                    f"charged ¥{format_yuan(task.charge_micros)}",
                    f"the deducted units at the task's rates cost ¥{format_yuan(expected)}",
                )
            )
    return found


def _rate(task: ChargedTask, row: ExportRow) -> int:
    package = PACKAGE_OF_PRODUCT.get(row.product_type or "", row.product_type or "")
    return task.rates.get(package, task.rate_micros)


def _recorded(billing: Iterable[Mapping[str, Any]]) -> tuple[Decimal, dict[str, Decimal]]:
    """The units and the cash by currency a task's billing entries say were deducted."""
    units, cash = Decimal(0), defaultdict[str, Decimal](Decimal)
    for entry in billing:
        amount = _decimal(entry.get("amount"))
        if entry.get("charge_type") == "unit":
            units += amount
        elif entry.get("charge_type") == "cash":
            cash[str(entry.get("currency"))] += amount
    return units, {currency: amount for currency, amount in cash.items() if amount}


def _cash(rows: Iterable[ExportRow]) -> dict[str, Decimal]:
    cash = defaultdict[str, Decimal](Decimal)
    for row in rows:
        cash[str(row.currency)] += row.amount
    return {currency: amount for currency, amount in cash.items() if amount}


def _decimal(value: object) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return Decimal(0)
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        return Decimal(0)
    return amount if amount.is_finite() else Decimal(0)


def _described(rows: Sequence[ExportRow]) -> str:
    units = sum((row.amount for row in rows if row.ledger == "package"), Decimal(0))
    cash = _cash(row for row in rows if row.ledger == "balance")
    parts = [f"{_units(units)} units"] if any(row.ledger == "package" for row in rows) else []
    if cash:
        parts.append(_money(cash))
    return " + ".join(parts) or "nothing"


def _unknown(rows: Sequence[ExportRow]) -> str:
    return "the upstream deducted for a task the gateway has no record of on this channel"


def _units(units: Decimal) -> str:
    return f"{units.normalize():f}"


def _money(cash: Mapping[str, Decimal]) -> str:
    return ", ".join(f"{amount.normalize():f} {currency}" for currency, amount in sorted(cash.items())) or "no cash"


def billing_of(billing_json: str, final_unit_deduction: str | None, package: str) -> tuple[Mapping[str, Any], ...]:
    """A stored task's record of its deductions: its billing entries, or its legacy final_unit_deduction."""
    try:
        entries = orjson.loads(billing_json)
    except orjson.JSONDecodeError:
        entries = []
    if isinstance(entries, list) and entries:
        return tuple(entry for entry in entries if isinstance(entry, dict))
    if final_unit_deduction is None:
        return ()
    return ({"charge_type": "unit", "amount": final_unit_deduction, "package_type": package},)


def rates_of(rates_json: str, rate_micros: int, *, generation: str) -> dict[str, int]:
    """A stored task's µ¥ per credit by package: a new-generation task's as fixed at submit, a legacy task's (and
    one from before rates were kept per package) its one rate for every package."""
    rates = {"video": rate_micros, "image": rate_micros, "audio": rate_micros}
    if generation != "new":
        return rates
    try:
        stored = orjson.loads(rates_json)
    except orjson.JSONDecodeError:
        stored = {}
    if isinstance(stored, dict):
        rates |= {str(k): v for k, v in stored.items() if isinstance(v, int) and not isinstance(v, bool)}
    return rates
