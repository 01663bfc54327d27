"""The comparison of export rows with charged tasks, on rows made by hand: each kind of difference, and none."""

from __future__ import annotations

from decimal import Decimal

from kling_gateway.reconcile.compare import ChargedTask, ExportRow, Kind, compare

RATE = 1_000_000  # ¥1 a video credit


def task(upstream_id: str, charge: int, *billing: dict[str, str], reason: str | None = None) -> ChargedTask:
    return ChargedTask(
        platform_id=f"video_{upstream_id}",
        upstream_task_id=upstream_id,
        status="succeed",
        billing=billing,
        rates={"video": RATE, "image": 25_000},
        rate_micros=RATE,
        charge_micros=charge,
        unbilled_reason=reason,
    )


def units(task_id: str, amount: str, product: str = "video") -> ExportRow:
    return ExportRow("package", task_id, Decimal(amount), product_type=product)


def cash(task_id: str, amount: str, currency: str = "CNY") -> ExportRow:
    return ExportRow("balance", task_id, Decimal(amount), currency=currency)


UNIT = {"charge_type": "unit", "amount": "2.5", "package_type": "video"}
CASH = {"charge_type": "cash", "amount": "0.7", "currency": "USD"}


def kinds(rows: list[ExportRow], tasks: list[ChargedTask], charged: set[str]) -> list[tuple[str, Kind]]:
    return [(d.upstream_task_id, d.kind) for d in compare(rows, tasks, charged_in_window=charged)]


def test_matching_units_and_cash_reconcile() -> None:
    tasks = [
        task("1", int(2.5 * RATE), UNIT),
        task("2", 123, CASH),
        task("3", 50_000, {**UNIT, "amount": "2", "package_type": "image"}),
    ]
    rows = [units("1", "2.5"), cash("2", "0.7", "USD"), units("3", "2", "image")]
    assert kinds(rows, tasks, {"1", "2", "3"}) == []


def test_every_kind_of_difference_is_found() -> None:
    tasks = [
        task("short", int(2.5 * RATE), UNIT),  # the upstream took 3
        task("unbilled", 0, UNIT, reason="billing[0] is in currency 'EUR'"),
        task("silent", RATE, UNIT),  # charged, no deduction listed
        task("cash", 1, CASH),
        task("altered", 2_400_000, UNIT),
    ]
    rows = [
        units("short", "3"),
        units("unbilled", "2.5"),
        cash("cash", "0.8", "USD"),
        units("altered", "2.5"),
        units("stranger", "1"),
    ]
    found = compare(rows, tasks, charged_in_window={"short", "silent", "cash", "altered"})
    assert sorted((d.upstream_task_id, d.kind) for d in found) == sorted(
        [
            ("short", Kind.UNITS_DIFFER),
            ("short", Kind.CHARGE_DIFFERS),
            ("unbilled", Kind.NOT_CHARGED),
            ("silent", Kind.NO_DEDUCTION),
            ("cash", Kind.CASH_DIFFERS),
            ("altered", Kind.CHARGE_DIFFERS),
            ("stranger", Kind.UNKNOWN_TASK),
        ]
    )
    [unbilled] = [d for d in found if d.kind is Kind.NOT_CHARGED]
    assert "EUR" in unbilled.detail
