"""A charge above its hold is taken only as far as the user's money goes: the balance never goes below zero, and
the entries say what was not taken (real SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import NamedTuple

import pytest

from kling_gateway.billing import ledger
from kling_gateway.store.database import Database
from kling_gateway.users.service import create_user

pytestmark = pytest.mark.both_backends  # the ledger: the store matters

YUAN = 1_000_000


class Held(NamedTuple):
    user_id: int
    platform_id: str
    hold_micros: int


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    yield database
    await database.dispose()


async def held_task(db: Database, name: str, *, balance: int, hold: int) -> Held:
    async with db.session() as session, session.begin():
        user = await create_user(session, name=name, balance_micros=balance)
        task = Held(user.id, f"video_{name}", hold)
        assert await ledger.hold(session, user_id=user.id, task_platform_id=task.platform_id, amount_micros=hold)
    return task


async def test_a_charge_above_the_hold_is_taken_when_the_balance_covers_it(db: Database) -> None:
    task = await held_task(db, "dana", balance=5 * YUAN, hold=YUAN)
    async with db.session() as session, session.begin():
        after = await ledger.settle(session, task, charge_micros=3 * YUAN, note="succeeded")
    assert (after.balance_micros, after.held_micros) == (2 * YUAN, 0)


async def test_a_charge_past_the_balance_stops_at_zero_and_says_what_was_not_taken(db: Database) -> None:
    task = await held_task(db, "erin", balance=YUAN, hold=YUAN // 2)
    async with db.session() as session, session.begin():
        after = await ledger.settle(session, task, charge_micros=3 * YUAN, note="succeeded")
        entries = await ledger.recent_entries(session, user_id=task.user_id)
    assert (after.balance_micros, after.held_micros) == (0, 0)
    [charge] = [entry for entry in entries if entry.kind == "charge"]
    assert charge.amount_micros == -YUAN
    assert "charged 1000000 of 3000000 µ¥: the balance could not cover the rest" in charge.note
