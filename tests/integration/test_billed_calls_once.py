"""A billed synchronous call is charged once, whatever finishes it how often: the conditional write that finishes
its row and the ledger's unique keys let only the first finish move money (real SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Coroutine
from typing import Any

import pytest
from sqlalchemy import select

from kling_gateway.billing import ledger
from kling_gateway.clock import now_ms
from kling_gateway.errors import InsufficientBalance
from kling_gateway.keys.service import Principal, create_key
from kling_gateway.kling.schemas import Family, Package
from kling_gateway.settings import Settings
from kling_gateway.store.database import Database
from kling_gateway.store.models import LEDGER, TASKS
from kling_gateway.store.records import Task
from kling_gateway.tasks.billed_calls import BILLED_CALLS, charge_call, fail_call, hold_call
from kling_gateway.users.service import create_user

pytestmark = pytest.mark.both_backends  # holds, charges and the call's row: the store matters

TTS = BILLED_CALLS[Family.AUDIO, "tts"]
BODY = {"text": "hello", "voice_id": "oversea_male1", "voice_language": "en"}
ANSWER = {"task_id": "860000000000000001", "final_unit_deduction": "0.05", "task_result": {"audios": []}}


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    yield database
    await database.dispose()


async def owner_with(db: Database, balance_micros: int) -> Principal:
    async with db.session() as session, session.begin():
        user = await create_user(session, name="carol", balance_micros=balance_micros)
        key, _ = await create_key(session, user_id=user.id, name="tests")
    return Principal(user_id=user.id, user_name="carol", key_id=key.id)


def finish(db: Database, task: Task, answer: dict[str, Any]) -> Coroutine[Any, Any, None]:
    currency = Settings().billing.currency_micros
    return charge_call(
        db,
        task,
        answer,
        request_id="req-1",
        channel_id=None,
        package=Package.VIDEO,
        now_ms=now_ms(),
        currency_micros=currency,
    )


async def test_a_call_paid_from_the_cash_balance_is_charged_that_money(db: Database) -> None:
    owner = await owner_with(db, 1_000_000)
    task = await hold_call(db, Settings(), owner, TTS, BODY, now_ms=now_ms())
    paid = {"task_id": "860000000000000002", "final_unit_deduction": "0", "task_result": {"audios": []}}
    await finish(db, task, paid | {"final_balance_deduction": {"quota": "0.04", "list_price": "0.05"}})
    async with db.session() as session:
        row = (await session.execute(select(TASKS).where(TASKS.c.id == task.id))).one()
        balance = await ledger.balance_of(session, user_id=owner.user_id)
    assert (row.status, row.charge_micros, balance.balance_micros, balance.held_micros) == (
        "succeed",
        40_000,
        960_000,
        0,
    )


async def test_finishing_a_call_many_times_at_once_charges_it_once(db: Database) -> None:
    owner = await owner_with(db, 1_000_000)
    task = await hold_call(db, Settings(), owner, TTS, BODY, now_ms=now_ms())
    finishes = [finish(db, task, ANSWER) for _ in range(3)]
    await asyncio.gather(*finishes, fail_call(db, task, "lost", now_ms=now_ms()), return_exceptions=True)
    async with db.session() as session:
        kinds = (
            (await session.execute(select(LEDGER.c.kind).where(LEDGER.c.task_platform_id == task.platform_id)))
            .scalars()
            .all()
        )
        row = (await session.execute(select(TASKS).where(TASKS.c.id == task.id))).one()
        balance = await ledger.balance_of(session, user_id=owner.user_id)
    assert sorted(kinds) in (["charge", "hold", "release"], ["hold", "release"])
    assert balance.held_micros == 0
    if row.status == "succeed":
        assert (row.upstream_task_id, row.final_unit_deduction, row.charge_micros) == (
            ANSWER["task_id"],
            "0.05",
            50_000,
        )
        assert balance.balance_micros == 950_000
    else:
        assert row.status == "failed"
        assert balance.balance_micros == 1_000_000


async def test_a_call_the_balance_cannot_cover_stores_and_holds_nothing(db: Database) -> None:
    owner = await owner_with(db, 10_000)
    with pytest.raises(InsufficientBalance, match="tts costs"):
        await hold_call(db, Settings(), owner, TTS, BODY, now_ms=now_ms())
    async with db.session() as session:
        assert (await session.execute(select(TASKS.c.id))).all() == []
        assert await ledger.balance_of(session, user_id=owner.user_id) == (10_000, 0)
