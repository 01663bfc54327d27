"""Over the sandbox, a task is charged what its upstream account says it deducted, to the micro-yuan: units at the
task's rate, cash as money."""

from __future__ import annotations

from decimal import Decimal

from kling_gateway.sandbox import Account
from tests.gateway import KLING_T2V, GatewayFactory
from tests.helpers import create, wait_until


def test_a_legacy_task_paid_from_a_cash_balance_is_charged_that_money_as_yuan(gateway_factory: GatewayFactory) -> None:
    cash = Account.generate().model_copy(update={"pays_cash": "CNY"})
    gw = gateway_factory(sandbox={"accounts": (cash,), "cash_discount": "0.8"})
    with gw.client() as client:
        platform_id = create(client, KLING_T2V, {"prompt": "a fox"})["platform_id"]
        done = wait_until(client, f"{KLING_T2V}/{platform_id}")
    assert (done["task_status"], done["final_unit_deduction"]) == ("succeed", "0")
    [deduction] = [d for d in gw.sandbox.state.deductions(cash.access_key) if d.task_id == done["task_id"]]
    assert deduction.amount == Decimal("0.8")  # 1 video unit at ¥1, 20 % off
    billing, unbilled = gw.admin.task_billing(platform_id)
    assert billing == [
        {"charge_type": "unit", "amount": "0", "package_type": "video"},
        {"charge_type": "cash", "amount": "0.8", "currency": "CNY", "list_price": "1"},
    ]
    assert unbilled is None
    assert gw.admin.ledger(platform_id)["charge"] == -800_000
