"""Usage over a span of days: how many tasks were submitted and how much money they cost, day by day, for one user
or for all, in one total or by user, model or channel.

A task counts on the (UTC) day it was submitted, whenever it finished; its money is what the ledger took for it
(the upstream's deduction, capped at the task's hold as `ledger.settle` caps it), so the figures add up to the
ledger's charges. Each query walks one index over the window: `(user_id, created_at)` for one user,
`(created_at, id)` for all of them. Beside them, the money charged since a time and held now, as the ledger and
the balances say.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, Select, case, func, literal_column, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from kling_gateway.billing.ledger import EntryKind
from kling_gateway.errors import InvalidRequest
from kling_gateway.store.models import CHANNELS, LEDGER, TASKS, USERS

DAY_MS = 86_400_000
MAX_DAYS = 400  # a year and a bit per query: longer spans are asked for in pieces
UNNAMED = "(none)"  # how a page names a task's group when it has none: no model known, not yet on a channel
_c = TASKS.c
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class Grouping(StrEnum):
    """What each day's usage is split by."""

    TOTAL = "total"
    USER = "user"
    MODEL = "model"
    CHANNEL = "channel"


SPLITS = (Grouping.USER, Grouping.MODEL, Grouping.CHANNEL)  # the groupings that split a day's total


@dataclass(frozen=True, slots=True)
class DayUsage:
    """One day's tasks and money, for one user, model or channel (`group`), or for all (`group` None)."""

    day: date
    group: str | None  # the user's or channel's name, or the model; None in a total, or a task with none
    tasks: int
    succeeded: int
    failed: int
    charged_micros: int


@dataclass(frozen=True, slots=True)
class Span:
    """Whole UTC days, the first and last included."""

    first: date
    last: date

    @classmethod
    def checked(cls, first: date, last: date) -> Span:
        """Refuse a span that ends before it starts or is longer than a query may be."""
        if last < first:
            raise InvalidRequest(f"the span ends ({last}) before it starts ({first}); give the earlier day first")
        days = (last - first).days + 1
        if days > MAX_DAYS:
            raise InvalidRequest(f"the span has {days} days; ask for at most {MAX_DAYS} at a time")
        return cls(first, last)

    @property
    def start_ms(self) -> int:
        return day_start_ms(self.first)

    @property
    def end_ms(self) -> int:
        """Just past the last day."""
        return day_start_ms(self.last) + DAY_MS

    def days(self) -> list[date]:
        """Every day of the span, in order."""
        return [self.first + timedelta(days=offset) for offset in range((self.last - self.first).days + 1)]


def day_start_ms(day: date) -> int:
    """The first millisecond of a UTC day."""
    return int((datetime(day.year, day.month, day.day, tzinfo=UTC) - _EPOCH).total_seconds()) * 1000


def day_of_ms(ms: int) -> date:
    """The UTC day a moment falls on."""
    return (_EPOCH + timedelta(milliseconds=ms)).date()


# What the ledger took for a task: its charge, at most its hold (as `ledger.settle` takes it); nothing unbilled.
_TAKEN = case((_c.charge_micros > _c.hold_micros, _c.hold_micros), else_=func.coalesce(_c.charge_micros, 0))
# The day since the epoch, with the divisor in the SQL itself: PostgreSQL sees the grouped expression and the
# selected one as the same only when no parameter stands in either.
_EPOCH_DAY = _c.created_at // literal_column(str(DAY_MS))
_GROUP_COLUMN: dict[Grouping, ColumnElement[object] | None] = {
    Grouping.TOTAL: None,
    Grouping.USER: USERS.c.name,
    Grouping.MODEL: _c.model,
    Grouping.CHANNEL: CHANNELS.c.name,
}


def usage_query(*, span: Span, grouping: Grouping, user_id: int | None = None) -> Select[Any]:
    """Build the query of `usage_by_day`: a row per day (and group) with its counts and money."""
    day = _EPOCH_DAY.label("day")
    group = _GROUP_COLUMN[grouping]
    keys = [day] if group is None else [day, group.label("grouped")]
    query = (
        select(
            *keys,
            func.count().label("tasks"),
            func.sum(case((_c.status == "succeed", 1), else_=0)).label("succeeded"),
            func.sum(case((_c.status == "failed", 1), else_=0)).label("failed"),
            func.sum(_TAKEN).label("charged"),
        )
        .where(_c.created_at >= span.start_ms, _c.created_at < span.end_ms)
        .group_by(*keys)
    )
    if grouping is Grouping.USER:
        query = query.select_from(TASKS.join(USERS, USERS.c.id == _c.user_id))
    elif grouping is Grouping.CHANNEL:
        query = query.select_from(TASKS.outerjoin(CHANNELS, CHANNELS.c.id == _c.channel_id))
    return query if user_id is None else query.where(_c.user_id == user_id)


async def usage_by_day(
    connection: AsyncSession | AsyncConnection, *, span: Span, grouping: Grouping, user_id: int | None = None
) -> list[DayUsage]:
    """Count the tasks submitted on each day of the span and the money they cost, for one user or for all, in one
    total a day or split by `grouping`; days with no task are left out (`fill_days` puts them in)."""
    rows = (await connection.execute(usage_query(span=span, grouping=grouping, user_id=user_id))).all()
    usage = [
        DayUsage(
            day=_EPOCH.date() + timedelta(days=int(row.day)),
            group=None if grouping is Grouping.TOTAL else row.grouped,
            tasks=int(row.tasks),
            succeeded=int(row.succeeded or 0),
            failed=int(row.failed or 0),
            charged_micros=int(row.charged or 0),
        )
        for row in rows
    ]
    return sorted(usage, key=lambda each: (each.day, each.group is None, each.group or ""))


def fill_days(usage: Sequence[DayUsage], span: Span) -> list[DayUsage]:
    """Add up a total's rows into one a day, for every day of the span, a day with no task as zeros: what a chart
    draws."""
    sums = {day: [0, 0, 0, 0] for day in span.days()}
    for row in usage:
        if (summed := sums.get(row.day)) is not None:
            for index, value in enumerate((row.tasks, row.succeeded, row.failed, row.charged_micros)):
                summed[index] += value
    return [DayUsage(day, None, *summed) for day, summed in sums.items()]


async def charged_since(session: AsyncSession, *, since_ms: int) -> int:
    """µ¥ charged for tasks from a time on, as the ledger records it."""
    query = select(func.coalesce(func.sum(LEDGER.c.amount_micros), 0)).where(
        LEDGER.c.kind == EntryKind.CHARGE.value, LEDGER.c.created_at >= since_ms
    )
    return abs(int(await session.scalar(query) or 0))


async def held_now(session: AsyncSession) -> int:
    """µ¥ held for unfinished tasks now, all users together."""
    return int(await session.scalar(select(func.coalesce(func.sum(USERS.c.held_micros), 0))) or 0)
