"""Usage by day on real SQLite and PostgreSQL: tasks counted on the day they were submitted, money as the ledger
took it, in one total or by user, model or channel, for one user or for all; and each query walks an index."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.dialects import sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from kling_gateway.billing.usage import (
    DayUsage,
    Grouping,
    Span,
    day_of_ms,
    day_start_ms,
    fill_days,
    usage_by_day,
    usage_query,
)
from kling_gateway.errors import InvalidRequest
from kling_gateway.store.database import Database
from kling_gateway.store.models import CHANNELS, TASKS
from kling_gateway.tasks import repository
from tests.factories import task_draft, user_id_of_new_user

pytestmark = pytest.mark.both_backends  # grouping, integer division and CASE as each database does them

NOV_1, NOV_2, NOV_3 = date(2026, 11, 1), date(2026, 11, 2), date(2026, 11, 3)
HOUR_MS = 3_600_000


@pytest.fixture
async def session(database_url: str) -> AsyncIterator[AsyncSession]:
    db = Database(database_url)
    async with db.session() as opened, opened.begin():
        yield opened
    await db.dispose()


async def add_task(
    session: AsyncSession, number: int, *, user_id: int, at: int, status: str, charge: int | None, **columns: Any
) -> None:
    draft = task_draft(platform_id=f"video_{number:026d}", user_id=user_id, created_at=at, hold_micros=5_000_000)
    task = await repository.insert(session, draft)
    values = {"status": status, "charge_micros": charge, **columns}
    await session.execute(TASKS.update().where(TASKS.c.id == task.id).values(**values))


async def channel_id(session: AsyncSession, name: str) -> int:
    insert = CHANNELS.insert().values(
        name=name, base_url="https://k.example", video_concurrency=1, image_concurrency=1, try_on_concurrency=1,
        enabled=True, created_at=0, priority=0, weight=1,
    )  # fmt: skip
    return int((await session.execute(insert.returning(CHANNELS.c.id))).scalar_one())


async def test_usage_is_counted_by_day_and_split_by_user_model_and_channel(session: AsyncSession) -> None:
    alice = await user_id_of_new_user(session, name="alice", created_at=0)
    bob = await user_id_of_new_user(session, name="bob", created_at=0)
    east, west = await channel_id(session, "east"), await channel_id(session, "west")
    nov_1, nov_2 = day_start_ms(NOV_1), day_start_ms(NOV_2)
    tasks = [  # user, when, status, charge (µ¥), model, channel
        (alice, nov_1, "succeed", 1_000_000, "kling-v2-6", east),
        (alice, nov_1 + 23 * HOUR_MS, "succeed", 9_000_000, "kling-v2-6", east),  # more than its ¥5 hold: ¥5 taken
        (alice, nov_1 + HOUR_MS, "failed", 0, "kling-v1", west),
        (bob, nov_1 + 2 * HOUR_MS, "succeed", 2_500_000, "kling-v1", west),
        (alice, nov_2, "queued", None, None, None),  # never sent, no model known
        (bob, nov_2 - 1, "processing", None, "kling-v1", west),  # the last millisecond of 1 November
        (alice, day_start_ms(NOV_3), "succeed", 7_000_000, "kling-v1", east),  # past the span
        (alice, nov_1 - 1, "succeed", 7_000_000, "kling-v1", east),  # before it
    ]
    for number, (user, at, status, charge, model, channel) in enumerate(tasks):
        await add_task(
            session, number, user_id=user, at=at, status=status, charge=charge, model=model, channel_id=channel
        )
    span = Span.checked(NOV_1, NOV_2)

    total = await usage_by_day(session, span=span, grouping=Grouping.TOTAL)
    assert total == [DayUsage(NOV_1, None, 5, 3, 1, 8_500_000), DayUsage(NOV_2, None, 1, 0, 0, 0)]
    by_user = await usage_by_day(session, span=span, grouping=Grouping.USER)
    assert [(row.day, row.group, row.tasks, row.charged_micros) for row in by_user] == [
        (NOV_1, "alice", 3, 6_000_000),
        (NOV_1, "bob", 2, 2_500_000),
        (NOV_2, "alice", 1, 0),
    ]
    by_model = await usage_by_day(session, span=span, grouping=Grouping.MODEL)
    assert [(row.day, row.group, row.tasks, row.succeeded, row.failed) for row in by_model] == [
        (NOV_1, "kling-v1", 3, 1, 1),
        (NOV_1, "kling-v2-6", 2, 2, 0),
        (NOV_2, None, 1, 0, 0),  # a task whose model is not known is grouped under none
    ]
    by_channel = await usage_by_day(session, span=span, grouping=Grouping.CHANNEL, user_id=alice)
    assert [(row.day, row.group, row.tasks, row.charged_micros) for row in by_channel] == [
        (NOV_1, "east", 2, 6_000_000),
        (NOV_1, "west", 1, 0),
        (NOV_2, None, 1, 0),  # not sent to any channel yet
    ]
    bobs = await usage_by_day(session, span=span, grouping=Grouping.TOTAL, user_id=bob)
    assert bobs == [DayUsage(NOV_1, None, 2, 1, 0, 2_500_000)]
    assert fill_days(bobs, Span.checked(NOV_1, NOV_3)) == [
        DayUsage(NOV_1, None, 2, 1, 0, 2_500_000),
        DayUsage(NOV_2, None, 0, 0, 0, 0),
        DayUsage(NOV_3, None, 0, 0, 0, 0),
    ]
    assert fill_days(by_user, span)[0] == total[0]  # the parts add up to the day's total
    assert (
        await usage_by_day(session, span=Span.checked(date(2026, 10, 1), date(2026, 10, 30)), grouping=Grouping.USER)
        == []
    )

    if session.get_bind().dialect.name == "sqlite":  # the plan: one index over the window, the user's or everyone's
        for user_id, index in ((alice, "ix_tasks_user_created_at"), (None, "ix_tasks_created_at")):
            compiled = _explained(span, user_id)
            plan = " ".join(str(row[-1]) for row in (await session.execute(text(compiled))).all())
            assert f"USING INDEX {index}" in plan, plan


def _explained(span: Span, user_id: int | None) -> str:
    query = usage_query(span=span, grouping=Grouping.TOTAL, user_id=user_id)
    return "EXPLAIN QUERY PLAN " + str(query.compile(dialect=sqlite.dialect(), compile_kwargs={"literal_binds": True}))


def test_a_span_backwards_or_too_long_is_refused_and_days_are_utc() -> None:
    for first, last, said in (
        (NOV_2, NOV_1, "the span ends (2026-11-01) before it starts (2026-11-02); give the earlier day first"),
        (date(2025, 1, 1), date(2026, 12, 31), "the span has 730 days; ask for at most 400 at a time"),
    ):
        with pytest.raises(InvalidRequest) as refused:
            Span.checked(first, last)
        assert refused.value.message == said
    assert day_of_ms(day_start_ms(NOV_2) - 1) == NOV_1
    assert day_of_ms(day_start_ms(NOV_2)) == NOV_2
