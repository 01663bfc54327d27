"""Price what the upstream deducted for a task, entry by entry, in exact micro-yuan, or say why it cannot be.

The upstream reports its deductions as `billing[]` entries (the new generation) or as `final_unit_deduction` and
`final_balance_deduction` (the legacy one, turned into the same entries here). A `unit` entry costs its amount at
the task's rate for the entry's package; a `cash` entry is money, turned into yuan by a configured rate per
currency. Nothing is guessed: an entry of an unknown kind, package or currency, or an amount that is not a sane
decimal figure, leaves the whole task unbilled with the reason.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from kling_gateway.billing.money import cost_micros, format_yuan

MAX_AMOUNT = Decimal(10**9)  # credits or money of one entry: far beyond any task, small enough to price exactly
MAX_CHARGE_MICROS = 2**63 - 1  # what the ledger's 64-bit columns hold
AMOUNT_CHARS = 32  # the longest amount read; longer text is no figure a real deduction has
LEGACY_CURRENCY = "CNY"  # the legacy `final_balance_deduction` carries no currency; the legacy API bills in yuan
NO_DEDUCTION = "the upstream reported no deduction"


@dataclass(frozen=True, slots=True)
class Charge:
    """What a success costs its owner, the ledger note saying why, and, when it cannot be billed, the reason."""

    micros: int
    note: str
    unbilled_reason: str | None = None


class _Unbillable(Exception):
    """An entry the gateway will not price; its message says why."""


def price(
    entries: Sequence[Mapping[str, Any]], *, rates: Mapping[str, int], currency_micros: Mapping[str, int]
) -> Charge:
    """Price a success's deduction entries: units at `rates` (µ¥ per credit, by package), cash at
    `currency_micros` (µ¥ per unit of currency); unbilled (0) with the reason when any entry is unusable."""
    if not entries:
        return _unbilled(NO_DEDUCTION)
    total, parts = 0, []
    for index, entry in enumerate(entries):
        try:
            micros, described = _price_entry(entry, rates, currency_micros)
        except _Unbillable as why:
            return _unbilled(f"billing[{index}] {why}")
        total += micros
        parts.append(described)
    if total > MAX_CHARGE_MICROS:
        return _unbilled(f"the deductions add up to {total} µ¥, more than any task costs")
    return Charge(total, f"succeeded; deducted upstream: {', '.join(parts)}; charged ¥{format_yuan(total)}")


def legacy_entries(
    final_unit_deduction: str | None, final_balance_deduction: Mapping[str, Any] | None, *, package: str
) -> list[dict[str, Any]]:
    """Write a legacy task's deductions as the `billing[]` entries the new generation would report for it."""
    entries: list[dict[str, Any]] = []
    if final_unit_deduction is not None:
        entries.append({"charge_type": "unit", "amount": final_unit_deduction, "package_type": package})
    quota = None if final_balance_deduction is None else final_balance_deduction.get("quota")
    if final_balance_deduction is not None and quota not in (None, ""):
        entry: dict[str, Any] = {"charge_type": "cash", "amount": quota, "currency": LEGACY_CURRENCY}
        if final_balance_deduction.get("list_price") is not None:
            entry["list_price"] = final_balance_deduction["list_price"]
        entries.append(entry)
    return entries


def _price_entry(
    entry: Mapping[str, Any], rates: Mapping[str, int], currency_micros: Mapping[str, int]
) -> tuple[int, str]:
    """Price one entry; return its µ¥ and how the note shows it."""
    kind = entry.get("charge_type")
    if kind == "unit":
        package = entry.get("package_type")
        if not isinstance(package, str) or package not in rates:
            known = ", ".join(sorted(rates))
            raise _Unbillable(f"is drawn from package {package!r}, which has no credit rate here (known: {known})")
        units = _amount(entry.get("amount"))
        return cost_micros(units, rates[package]), f"{units} {package} credits × ¥{format_yuan(rates[package])}"
    if kind == "cash":
        currency = entry.get("currency")
        if not isinstance(currency, str) or currency not in currency_micros:
            known = ", ".join(sorted(currency_micros)) or "none"
            raise _Unbillable(
                f"is {entry.get('amount')!r} in currency {currency!r}, which has no rate in "
                f"billing.currency_micros (known: {known})"
            )
        money = _amount(entry.get("amount"))
        return cost_micros(money, currency_micros[currency]), f"{money} {currency} cash"
    raise _Unbillable(f"has charge_type {kind!r}; only unit and cash are known")


def _amount(value: object) -> Decimal:
    """Read an entry's amount: a decimal string (a whole number is tolerated), 0 to MAX_AMOUNT."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise _Unbillable(f"has an amount of {value!r}, not a decimal string")
    text = str(value)
    if len(text) > AMOUNT_CHARS:
        raise _Unbillable(f"has an amount longer than {AMOUNT_CHARS} characters")
    try:
        amount = Decimal(text)
    except InvalidOperation:
        raise _Unbillable(f"has an amount of {text!r}, not a decimal figure") from None
    if not amount.is_finite() or not 0 <= amount <= MAX_AMOUNT:
        raise _Unbillable(f"has an amount of {text!r}, outside 0 to {MAX_AMOUNT}")
    return amount


def _unbilled(reason: str) -> Charge:
    return Charge(0, f"succeeded; {reason}, so nothing is charged", reason)
