"""Move a user's money: every change is one conditional update of the user row plus one ledger entry.

`balance` is the money a user has; `held` is the part of it reserved for tasks in flight. Top-ups add to the
balance, a hold reserves, a release frees a reservation, a charge takes money. Each task has at most one entry of
each kind (a unique key), so a task can never be held, charged or released twice: a second attempt fails the
whole transaction it is in.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from enum import StrEnum
from typing import NamedTuple, Protocol

from sqlalchemy import Insert, bindparam, insert, literal, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from kling_gateway.billing.money import MAX_BALANCE_MICROS, format_yuan
from kling_gateway.clock import now_ms
from kling_gateway.observability.metrics import LEDGER_ENTRIES, LEDGER_MICROS, on_commit
from kling_gateway.store.models import LEDGER, USERS, LedgerEntry

log = logging.getLogger(__name__)


class EntryKind(StrEnum):
    """What a ledger entry did."""

    TOP_UP = "top_up"
    HOLD = "hold"
    RELEASE = "release"
    CHARGE = "charge"


class Balance(NamedTuple):
    """A user's money after a movement."""

    balance_micros: int
    held_micros: int

    @property
    def available_micros(self) -> int:
        return self.balance_micros - self.held_micros


class Held(Protocol):
    """A task with money held for it: whose, which, and how much."""

    @property
    def user_id(self) -> int: ...
    @property
    def platform_id(self) -> str: ...
    @property
    def hold_micros(self) -> int: ...


async def balance_of(session: AsyncSession, *, user_id: int) -> Balance:
    """Read a user's balance and what is held of it."""
    row = (
        await session.execute(select(USERS.c.balance_micros, USERS.c.held_micros).where(USERS.c.id == user_id))
    ).one()
    return Balance(*row)


async def top_up(session: AsyncSession, *, user_id: int, amount_micros: int, note: str = "") -> Balance:
    """Add money to a balance (a negative amount corrects one, never below what is held), keeping it below
    `MAX_BALANCE_MICROS`, so it stays an exact integer on every backend."""
    if abs(amount_micros) > MAX_BALANCE_MICROS:
        raise ValueError(f"{format_yuan(amount_micros)} yuan is more than a balance may hold")
    fits = USERS.c.balance_micros <= MAX_BALANCE_MICROS - amount_micros  # compared before adding: no overflow
    row = (
        await session.execute(
            update(USERS)
            .where(USERS.c.id == user_id, USERS.c.balance_micros + amount_micros >= USERS.c.held_micros, fits)
            .values(balance_micros=USERS.c.balance_micros + amount_micros)
            .returning(USERS.c.balance_micros, USERS.c.held_micros)
        )
    ).one_or_none()
    if row is None:
        if amount_micros > 0:
            raise ValueError(f"the balance would pass ¥{format_yuan(MAX_BALANCE_MICROS)}, the most a balance may hold")
        raise ValueError("the correction would take the balance below what is held for tasks in flight")
    balance = Balance(*row)
    await _record(session, user_id, None, EntryKind.TOP_UP, amount_micros, balance, note)
    return balance


# Built once: every submit holds, and every movement records an entry (the values' names are no column's, so
# SQLAlchemy binds them rather than setting columns by them).
_HOLD = (
    update(USERS)
    .where(
        USERS.c.id == bindparam("holder_id"),
        USERS.c.balance_micros - USERS.c.held_micros >= bindparam("hold_amount"),
    )
    .values(held_micros=USERS.c.held_micros + bindparam("hold_amount"))
    .returning(USERS.c.balance_micros, USERS.c.held_micros)
)
_ENTRY = insert(LEDGER)


def _hold_recorded_statement() -> Insert:
    held = _HOLD.returning(USERS.c.id).cte("held")
    entry = select(
        held.c.id,
        bindparam("hold_task", type_=LEDGER.c.task_platform_id.type),
        literal(EntryKind.HOLD.value, LEDGER.c.kind.type),
        bindparam("hold_amount", type_=LEDGER.c.amount_micros.type),
        held.c.balance_micros,
        held.c.held_micros,
        literal("", LEDGER.c.note.type),
        bindparam("hold_at", type_=LEDGER.c.created_at.type),
    )
    columns = ("user_id", "task_platform_id", "kind", "amount_micros", "balance_after_micros", "held_after_micros")
    return (
        insert(LEDGER)
        .from_select([*columns, "note", "created_at"], entry)
        .returning(LEDGER.c.balance_after_micros, LEDGER.c.held_after_micros)
        .add_cte(held)
    )


# PostgreSQL's hold in one statement: the user row's update, and the entry made of what it returned (a WITH
# that writes). SQLite has no such WITH: there the entry is a second statement, run inline in microseconds.
_HOLD_RECORDED = _hold_recorded_statement()


async def hold(session: AsyncSession, *, user_id: int, task_platform_id: str, amount_micros: int) -> Balance | None:
    """Reserve money for a task; None, with nothing written, when the available balance does not cover it."""
    values: dict[str, int | str] = {"holder_id": user_id, "hold_amount": amount_micros}
    if session.get_bind().dialect.name == "postgresql":
        values |= {"hold_task": task_platform_id, "hold_at": now_ms()}
        recorded = (await session.execute(_HOLD_RECORDED, values)).one_or_none()
        if recorded is None:
            return None
        on_commit(session, _counter(EntryKind.HOLD, amount_micros))
        return Balance(*recorded)
    row = (await session.execute(_HOLD, values)).one_or_none()
    if row is None:
        return None
    balance = Balance(*row)
    await _record(session, user_id, task_platform_id, EntryKind.HOLD, amount_micros, balance, "")
    return balance


async def settle(session: AsyncSession, task: Held, *, charge_micros: int, note: str) -> Balance:
    """Release a task's hold and charge what it really cost (0 for a failed, unbilled or unsent task).

    The hold is the most the task can cost by the price table (`tasks.estimates`), so a charge above it is an
    upstream deduction no such task incurs (a mistake upstream, or a forged report): only the hold is taken, which
    the user always has, and the excess is flagged for the operator in the entries' note and the log. The task's
    own `charge_micros` still says the whole, so the reconciliation shows the difference too.
    """
    user_id, task_platform_id, hold_micros = task.user_id, task.platform_id, task.hold_micros
    if charge_micros > hold_micros:
        charge_micros, note = _bounded(task, charge_micros, note)
    row = (
        await session.execute(
            update(USERS)
            .where(USERS.c.id == user_id)
            .values(
                held_micros=USERS.c.held_micros - hold_micros,
                balance_micros=USERS.c.balance_micros - charge_micros,
            )
            .returning(USERS.c.balance_micros, USERS.c.held_micros)
        )
    ).one()
    balance = Balance(*row)
    if hold_micros:
        await _record(session, user_id, task_platform_id, EntryKind.RELEASE, -hold_micros, balance, note)
    if charge_micros:
        await _record(session, user_id, task_platform_id, EntryKind.CHARGE, -charge_micros, balance, note)
    return balance


def _bounded(task: Held, charge_micros: int, note: str) -> tuple[int, str]:
    """Cap a charge at its task's hold, the most the task can cost; say what was not taken, in the note and the log."""
    bound, excess = task.hold_micros, charge_micros - task.hold_micros
    log.warning(
        "task %s: the upstream reported a deduction of %d µ¥, more than the %d µ¥ the task can cost; %d µ¥ not taken",
        task.platform_id,
        charge_micros,
        bound,
        excess,
    )
    flag = (
        f"the upstream reported ¥{format_yuan(charge_micros)}, more than the ¥{format_yuan(bound)} this task can cost: "
        f"charged ¥{format_yuan(bound)}, the excess ¥{format_yuan(excess)} not taken (check the channel's deductions)"
    )
    return bound, f"{note}; {flag}" if note else flag


async def recent_entries(session: AsyncSession, *, user_id: int, limit: int = 20) -> list[LedgerEntry]:
    """List a user's latest ledger entries, newest first."""
    query = select(LedgerEntry).where(LedgerEntry.user_id == user_id).order_by(LedgerEntry.id.desc()).limit(limit)
    return list((await session.scalars(query)).all())


async def entries_page(
    session: AsyncSession, *, user_id: int, before_id: int | None = None, limit: int = 50
) -> tuple[list[LedgerEntry], bool]:
    """List a user's ledger entries newest first, from just past the entry `before_id`; say whether more follow.
    The walk is the (user_id, id) index, however long the ledger."""
    query = select(LedgerEntry).where(LedgerEntry.user_id == user_id)
    if before_id is not None:
        query = query.where(LedgerEntry.id < before_id)
    entries = list((await session.scalars(query.order_by(LedgerEntry.id.desc()).limit(limit + 1))).all())
    return entries[:limit], len(entries) > limit


async def entries_of_task(session: AsyncSession, *, task_platform_id: str) -> list[LedgerEntry]:
    """List the ledger entries of one task, oldest first: its hold, then its release and charge."""
    query = select(LedgerEntry).where(LedgerEntry.task_platform_id == task_platform_id).order_by(LedgerEntry.id)
    return list((await session.scalars(query)).all())


async def _record(
    session: AsyncSession,
    user_id: int,
    task_platform_id: str | None,
    kind: EntryKind,
    amount_micros: int,
    balance: Balance,
    note: str,
) -> None:
    entry = {
        "user_id": user_id,
        "task_platform_id": task_platform_id,
        "kind": kind.value,
        "amount_micros": amount_micros,
        "balance_after_micros": balance.balance_micros,
        "held_after_micros": balance.held_micros,
        "note": note,
        "created_at": now_ms(),
    }
    await session.execute(_ENTRY, entry)
    on_commit(session, _counter(kind, abs(amount_micros)))


def _counter(kind: EntryKind, micros: int) -> Callable[[], None]:
    """Count one entry of `kind` moving `micros`, for when its transaction commits."""

    def count() -> None:
        LEDGER_ENTRIES.labels(kind.value).inc()
        LEDGER_MICROS.labels(kind.value).inc(micros)

    return count
