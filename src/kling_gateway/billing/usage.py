"""Usage per day: how many tasks were submitted and how much was charged for them, by user, model or channel.

Days are UTC days of the tasks' submit times, counted in the database (`created_at // DAY_MS`, integer division
on both backends), so a month of usage is one grouped statement whatever the number of tasks.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import NamedTuple

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from kling_gateway.billing.ledger import EntryKind
from kling_gateway.store.models import CHANNELS, LEDGER, TASKS, USERS

DAY_MS = 86_400_000
UNNAMED = "(none)"  # a task without a model, or not yet on a channel
_t = TASKS.c


class By(StrEnum):
    """What usage is grouped by."""

    USER = "user"
    MODEL = "model"
    CHANNEL = "channel"


class DayUsage(NamedTuple):
    """One group's usage on one day: tasks submitted, and µ¥ charged for them."""

    day: str  # YYYY-MM-DD, UTC
    group: str
    tasks: int
    charged_micros: int


def day_of(ms: int) -> str:
    """The UTC day of a time, as YYYY-MM-DD."""
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d")


def days_between(since_ms: int, until_ms: int) -> list[str]:
    """Every UTC day from the one of `since_ms` to the one before `until_ms`, in order."""
    first, last = since_ms // DAY_MS, (until_ms - 1) // DAY_MS
    return [day_of(number * DAY_MS) for number in range(first, last + 1)]


def _group(by: By) -> ColumnElement[str]:
    if by is By.USER:
        return USERS.c.name
    if by is By.MODEL:
        return func.coalesce(_t.model, UNNAMED)
    return func.coalesce(CHANNELS.c.name, UNNAMED)


async def per_day(
    session: AsyncSession, *, by: By, since_ms: int, until_ms: int, user_id: int | None = None
) -> list[DayUsage]:
    """Tasks submitted from `since_ms` to before `until_ms`, and what they were charged, per UTC day and group
    (of one user's only, with `user_id`); days without tasks are left out."""
    day = (_t.created_at // DAY_MS).label("day")
    group = _group(by).label("group")
    query = (
        select(day, group, func.count(), func.coalesce(func.sum(_t.charge_micros), 0))
        .select_from(TASKS.join(USERS, USERS.c.id == _t.user_id).outerjoin(CHANNELS, CHANNELS.c.id == _t.channel_id))
        .where(_t.created_at >= since_ms, _t.created_at < until_ms, _t.sync_call.is_(False))
        .group_by(day, group)
        .order_by(day, group)
    )
    if user_id is not None:
        query = query.where(_t.user_id == user_id)
    rows = (await session.execute(query)).all()
    return [
        DayUsage(day_of(int(number) * DAY_MS), str(name), int(count), int(money)) for number, name, count, money in rows
    ]


async def charged_since(session: AsyncSession, *, since_ms: int) -> int:
    """µ¥ charged for tasks from a time on, as the ledger records it."""
    query = select(func.coalesce(func.sum(LEDGER.c.amount_micros), 0)).where(
        LEDGER.c.kind == EntryKind.CHARGE.value, LEDGER.c.created_at >= since_ms
    )
    return abs(int(await session.scalar(query) or 0))


async def held_now(session: AsyncSession) -> int:
    """µ¥ held for unfinished tasks now, all users together."""
    return int(await session.scalar(select(func.coalesce(func.sum(USERS.c.held_micros), 0))) or 0)
