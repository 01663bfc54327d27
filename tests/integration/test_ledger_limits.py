"""The ledger's bounds, on real SQLite and PostgreSQL: a charge above its hold (the most the task can cost) is taken
only up to the hold, whatever the balance (so it never goes below zero), and the entries flag the excess for the
operator; and a balance stays an exact integer below its ceiling however it is topped up."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import NamedTuple

import pytest
from sqlalchemy import select

from kling_gateway.billing import ledger
from kling_gateway.billing.money import MAX_BALANCE_MICROS, yuan_to_micros
from kling_gateway.store.database import Database
from kling_gateway.store.models import USERS
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


@pytest.mark.parametrize("balance", [100 * YUAN, 7 * YUAN], ids=["plenty", "just-the-hold"])
async def test_a_charge_above_the_hold_takes_the_hold_and_flags_the_excess(db: Database, balance: int) -> None:
    task = await held_task(db, f"dana-{balance}", balance=balance, hold=7 * YUAN)
    async with db.session() as session, session.begin():
        after = await ledger.settle(session, task, charge_micros=50 * YUAN, note="succeeded")  # ¥50 on a ¥7 hold
        entries = await ledger.recent_entries(session, user_id=task.user_id)
    assert (after.balance_micros, after.held_micros) == (balance - 7 * YUAN, 0)
    [charge] = [entry for entry in entries if entry.kind == "charge"]
    assert charge.amount_micros == -7 * YUAN
    assert charge.note == (
        "succeeded; the upstream reported ¥50.00, more than the ¥7.00 this task can cost: charged ¥7.00, the excess "
        "¥43.00 not taken (check the channel's deductions)"
    )


async def test_a_balance_stays_an_exact_integer_below_its_ceiling(db: Database) -> None:
    async with db.session() as session, session.begin():
        user = await create_user(session, name="fay")
        await ledger.top_up(session, user_id=user.id, amount_micros=MAX_BALANCE_MICROS - 10)
        with pytest.raises(ValueError, match="the most a balance may hold"):
            await ledger.top_up(session, user_id=user.id, amount_micros=20)
        with pytest.raises(ValueError, match="more than a balance may hold"):
            await ledger.top_up(session, user_id=user.id, amount_micros=2**63 - 1)
        stored = (await session.execute(select(USERS.c.balance_micros).where(USERS.c.id == user.id))).scalar_one()
    assert stored == MAX_BALANCE_MICROS - 10
    assert type(stored) is int  # never a REAL on SQLite


@pytest.mark.parametrize("text", ["1e3", "1E20", "1_000", " 5", "5 ", "0x10", "1000000000.000001", "-1000000001"])
def test_an_amount_in_exponent_form_or_past_a_billion_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"is not an amount of yuan|is more than the ¥1,000,000,000"):
        yuan_to_micros(text)


def test_plain_amounts_read_exactly() -> None:
    assert [yuan_to_micros(text) for text in ("10", "12.50", "0.000001", "-3", "+2", "1000000000")] == [
        10_000_000,
        12_500_000,
        1,
        -3_000_000,
        2_000_000,
        10**15,
    ]
