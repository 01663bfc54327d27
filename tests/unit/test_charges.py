"""Pricing what the upstream deducted: units at the task's rate per package, cash per currency, nothing guessed."""

from __future__ import annotations

from typing import Any

import pytest

from kling_gateway.billing.charges import NO_DEDUCTION, legacy_entries, price

RATES = {"video": 1_000_000, "image": 25_000, "audio": 500_000}
CURRENCIES = {"CNY": 1_000_000, "USD": 7_100_000}


def unit(amount: object, package: str = "video") -> dict[str, Any]:
    return {"charge_type": "unit", "amount": amount, "package_type": package}


def cash(amount: object, currency: str = "CNY") -> dict[str, Any]:
    return {"charge_type": "cash", "amount": amount, "currency": currency, "cash_type": "balance", "list_price": "9"}


@pytest.mark.parametrize(
    ("entries", "micros"),
    [
        ([unit("2.4")], 2_400_000),
        ([unit("2.4"), unit("8", "image")], 2_600_000),  # a task split over two packs
        ([unit("0.05", "audio")], 25_000),
        ([unit(3)], 3_000_000),  # a whole number is tolerated, as legacy final_unit_deduction always was
        ([unit("0")], 0),
        ([cash("1.5")], 1_500_000),
        ([cash("0.333333", "USD")], 2_366_664),  # 2 366 664.3 µ¥, rounded half up
        ([unit("0.0000005", "image")], 0),  # 0.0125 µ¥
        ([unit("1"), cash("0.2")], 1_200_000),
    ],
)
def test_each_entry_is_charged_at_its_package_or_currency_rate(entries: list[dict[str, Any]], micros: int) -> None:
    charge = price(entries, rates=RATES, currency_micros=CURRENCIES)
    assert (charge.micros, charge.unbilled_reason) == (micros, None)
    assert charge.note.startswith("succeeded; deducted upstream: ")


@pytest.mark.parametrize(
    ("entries", "reason"),
    [
        ([], NO_DEDUCTION),
        ([unit("1"), cash("1", "EUR")], "billing[1] is '1' in currency 'EUR', which has no rate"),
        ([cash("1", None)], "currency None"),  # type: ignore[arg-type]
        ([unit("1", "music")], "billing[0] is drawn from package 'music', which has no credit rate here"),
        ([{"charge_type": "coupon", "amount": "1"}], "charge_type 'coupon'; only unit and cash are known"),
        ([unit("-1")], "outside 0 to"),
        ([unit("abc")], "'abc', not a decimal figure"),
        ([unit("NaN")], "outside 0 to"),
        ([unit("1e12")], "outside 0 to"),
        ([unit(2.4)], "2.4, not a decimal string"),  # a float is not how the upstream writes amounts
        ([unit(True)], "True, not a decimal string"),
        ([unit(None)], "None, not a decimal string"),
        ([unit("1" * 40)], "longer than 32 characters"),
        ([unit("999999999")] * 20_000, "more than any task costs"),
    ],
)
def test_an_entry_it_cannot_price_leaves_the_task_unbilled_saying_why(
    entries: list[dict[str, Any]], reason: str
) -> None:
    charge = price(entries, rates=RATES, currency_micros=CURRENCIES)
    assert charge.micros == 0
    assert charge.unbilled_reason is not None
    assert reason in charge.unbilled_reason
    assert charge.note == f"succeeded; {charge.unbilled_reason}, so nothing is charged"


def test_legacy_deductions_read_as_the_entries_the_new_generation_reports() -> None:
    assert legacy_entries("5", None, package="image") == [unit("5", "image")]
    assert legacy_entries(None, {"quota": "2.5", "list_price": "3"}, package="video") == [
        {"charge_type": "cash", "amount": "2.5", "currency": "CNY", "list_price": "3"}
    ]
    assert legacy_entries("1", {"quota": ""}, package="video") == [unit("1")]
    assert legacy_entries(None, None, package="video") == []
