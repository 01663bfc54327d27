"""A success is charged what the upstream deducted, read from either generation's record, exactly to the micro-yuan;
a deduction the gateway cannot price leaves the task unbilled with its reason, its hold released."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
from sqlalchemy import select

from kling_gateway.billing import ledger
from kling_gateway.clock import now_ms
from kling_gateway.store.database import Database
from kling_gateway.store.models import LEDGER, TASKS
from kling_gateway.store.records import PolledTask, TaskStatus
from kling_gateway.tasks import effects, repository, transitions
from kling_gateway.upstream import UpstreamTask
from tests.factories import task_draft, user_id_of_new_user

pytestmark = pytest.mark.both_backends  # the charge, the ledger and the row are written in one transaction

HOLD = 9_000_000
BALANCE = 100_000_000
RATES = {"video": 1_000_000, "image": 25_000, "audio": 500_000}
UPSTREAM_ID = "930831534075682845"


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    opened = Database(database_url)
    yield opened
    await opened.dispose()


async def running_task(db: Database, *, generation: str, rates_json: str, family: str = "videos") -> PolledTask:
    """Store a task in flight with ¥9 held for it, owned by a user with ¥100."""
    moment = now_ms()
    async with db.session() as session, session.begin():
        user_id = await user_id_of_new_user(session, name="payer", created_at=moment)
        await ledger.top_up(session, user_id=user_id, amount_micros=BALANCE)
        draft = task_draft(
            platform_id="video_01JCHARGE0000000000000000",
            user_id=user_id,
            created_at=moment,
            family=family,
            action="text-to-video/kling-3.0-turbo" if generation == "new" else "text2video",
            generation=generation,
            rates_json=rates_json,
            rate_micros=800_000,
            hold_micros=HOLD,
        )
        await ledger.hold(session, user_id=user_id, task_platform_id=draft.platform_id, amount_micros=HOLD)
        task = await repository.insert(session, draft)
        changes: repository.TaskChanges = {"status": "processing", "upstream_task_id": UPSTREAM_ID}
        assert await repository.transition(session, task_id=task.id, expected=TaskStatus.QUEUED, changes=changes)
        polled = await repository.find_polled(session, task_id=task.id)
    assert polled is not None
    return polled


async def settle(db: Database, task: PolledTask, report: UpstreamTask) -> dict[str, Any]:
    """Apply a final report as a poll would; return what was stored and moved."""
    async with db.session() as session, session.begin():
        move = await transitions.advance(
            session, task, report, now_ms=now_ms(), next_sync_at=None, currency_micros={"CNY": 1_000_000}
        )
        await effects.record(session, move, callback_give_up_s=60)
    async with db.session() as session:
        columns = (TASKS.c.status, TASKS.c.charge_micros, TASKS.c.billing_json, TASKS.c.unbilled_reason)
        row = (await session.execute(select(*columns).where(TASKS.c.id == task.id))).one()
        entries = (await session.execute(select(LEDGER.c.kind, LEDGER.c.amount_micros, LEDGER.c.note))).all()
        money = await ledger.balance_of(session, user_id=task.user_id)
    return {
        "status": row.status,
        "charge": row.charge_micros,
        "billing": orjson.loads(row.billing_json),
        "unbilled": row.unbilled_reason,
        "ledger": {kind: (amount, note) for kind, amount, note in entries},
        "money": money,
    }


def new_record(billing: list[dict[str, Any]]) -> UpstreamTask:
    return UpstreamTask.from_new_json(
        {
            "id": UPSTREAM_ID,
            "status": "succeeded",
            "message": "",
            "create_time": 1,
            "update_time": 2,
            "external_id": "video_01JCHARGE0000000000000000",
            "outputs": [{"type": "video", "id": "v1", "url": "https://x/v.mp4", "duration": "3.041"}],
            "billing": billing,
        }
    )


@pytest.mark.parametrize(
    ("rates_json", "billing", "charge"),
    [
        (orjson.dumps(RATES).decode(), [{"charge_type": "unit", "amount": "2.4", "package_type": "video"}], 2_400_000),
        (
            orjson.dumps(RATES).decode(),
            [
                {"charge_type": "unit", "amount": "0.05", "package_type": "audio"},
                {"charge_type": "cash", "amount": "1.25", "currency": "CNY", "cash_type": "balance"},
            ],
            25_000 + 1_250_000,
        ),
        ("{}", [{"charge_type": "unit", "amount": "8", "package_type": "image"}], 6_400_000),  # older row: one rate
    ],
    ids=["unit", "audio-and-cash", "older-row"],
)
async def test_a_new_generation_success_is_charged_its_billing_entries(
    db: Database, rates_json: str, billing: list[dict[str, Any]], charge: int
) -> None:
    task = await running_task(db, generation="new", rates_json=rates_json)
    done = await settle(db, task, new_record(billing))
    assert (done["status"], done["charge"], done["unbilled"], done["billing"]) == ("succeed", charge, None, billing)
    assert done["ledger"]["charge"][0] == -charge
    assert done["ledger"]["release"][0] == -HOLD
    assert "deducted upstream" in done["ledger"]["charge"][1]
    assert tuple(done["money"]) == (BALANCE - charge, 0)


async def test_a_cash_deduction_in_an_unknown_currency_is_left_unbilled(db: Database) -> None:
    task = await running_task(db, generation="new", rates_json=orjson.dumps(RATES).decode())
    billing = [{"charge_type": "cash", "amount": "0.50", "currency": "USD", "cash_type": "balance"}]
    done = await settle(db, task, new_record(billing))  # this gateway prices only CNY
    assert (done["status"], done["charge"], done["billing"]) == ("succeed", 0, billing)
    assert "currency 'USD', which has no rate in billing.currency_micros (known: CNY)" in done["unbilled"]
    assert "charge" not in done["ledger"]
    assert done["ledger"]["release"] == (-HOLD, f"succeeded; {done['unbilled']}, so nothing is charged")
    assert tuple(done["money"]) == (BALANCE, 0)


@pytest.mark.parametrize(
    ("family", "deductions", "charge", "billing"),
    [
        (
            "videos",
            {"final_unit_deduction": "5"},
            4_000_000,
            [{"charge_type": "unit", "amount": "5", "package_type": "video"}],
        ),
        (
            "images",
            {"final_unit_deduction": "2", "final_balance_deduction": {"quota": "0.3", "list_price": "0.4"}},
            1_600_000 + 300_000,
            [
                {"charge_type": "unit", "amount": "2", "package_type": "image"},
                {"charge_type": "cash", "amount": "0.3", "currency": "CNY", "list_price": "0.4"},
            ],
        ),
    ],
    ids=["units", "units-and-cash"],
)
async def test_a_legacy_success_is_charged_its_units_at_the_tasks_rate_and_its_cash_as_yuan(
    db: Database, family: str, deductions: dict[str, Any], charge: int, billing: list[dict[str, Any]]
) -> None:
    task = await running_task(db, generation="legacy", rates_json=orjson.dumps(RATES).decode(), family=family)
    report = UpstreamTask.from_json(
        {"task_id": UPSTREAM_ID, "task_status": "succeed", "created_at": 1, "updated_at": 2} | deductions
    )
    done = await settle(db, task, report)
    assert (done["charge"], done["unbilled"], done["billing"]) == (charge, None, billing)
    assert tuple(done["money"]) == (BALANCE - charge, 0)
