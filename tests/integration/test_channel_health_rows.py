"""The stored health of a channel on real SQLite and PostgreSQL: two processes' calls fold into one row, each under
its lock; a process writes a channel at most once per report interval; new credentials clear an account's refusal;
a removed channel takes its row with it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from kling_gateway.channels import admin as channels_service
from kling_gateway.channels.health import HealthTracker
from kling_gateway.clock import ManualClock
from kling_gateway.settings import ChannelHealthConfig
from kling_gateway.store.database import Database
from kling_gateway.upstream import health_rows
from kling_gateway.upstream.calls import CallKind, FinishedCall
from kling_gateway.upstream.health import HealthState, summarize

pytestmark = pytest.mark.both_backends  # the row and its lock, in the store

CONFIG = ChannelHealthConfig()


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    yield database
    await database.dispose()


def call(channel_id: int | None, kind: CallKind, detail: str = "") -> FinishedCall:
    return FinishedCall(channel_id, "main", "POST /v1/videos/text2video", "500", kind, 0.25, detail)


async def add_channel(db: Database) -> int:
    async with db.session() as session, session.begin():
        channel = await channels_service.add_channel(
            session,
            name="main",
            base_url="https://api.example",
            api_key="kling_k",
            video_concurrency=5,
            image_concurrency=5,
            try_on_concurrency=5,
        )
        return channel.id


async def test_two_processes_fold_their_calls_into_one_row_and_each_writes_at_most_once_an_interval(
    db: Database,
) -> None:
    channel_id = await add_channel(db)
    clock = ManualClock()
    api, worker = HealthTracker(db, CONFIG, clock), HealthTracker(db, CONFIG, clock)
    for _ in range(3):
        api.observe(call(channel_id, CallKind.UPSTREAM_FAULT, "upstream answered 500/5000"))
        worker.observe(call(channel_id, CallKind.UPSTREAM_FAULT, "upstream answered 500/5000"))
    api.observe(call(None, CallKind.UPSTREAM_FAULT))  # no channel row: nothing kept
    assert list(await asyncio.gather(api.report(), worker.report())) == [1, 1]  # at once, each under the row's lock

    async with db.read() as connection:
        record = (await health_rows.read_all(connection))[channel_id]
    assert len(record.samples) == 6
    assert record.faults_in_row == 5  # the fifth opened it, whoever wrote it; the sixth came while it cooled down
    assert record.open_until == clock.now_ms() + 30_000
    assert record.last_error == "upstream answered 500/5000"
    assert summarize(record, clock.now_ms(), CONFIG).p50_ms == 250

    api.observe(call(channel_id, CallKind.SUCCESS))
    seen_at = clock.now_ms()
    assert await api.report() == 0  # written a moment ago: it waits for the interval
    clock.advance(s=CONFIG.report_every_s)
    assert await api.report() == 1
    assert (await api.records())[channel_id].last_success_at == seen_at


async def test_new_credentials_clear_an_account_refusal_and_a_removed_channel_takes_its_row(db: Database) -> None:
    channel_id = await add_channel(db)
    clock = ManualClock()
    tracker = HealthTracker(db, CONFIG, clock)
    tracker.observe(call(channel_id, CallKind.ACCOUNT_FAULT, "upstream answered 429/1102: Account balance not enough"))
    await tracker.report()
    async with db.read() as connection:
        refused = (await health_rows.read_all(connection))[channel_id]
    assert summarize(refused, clock.now_ms(), CONFIG).state is HealthState.MISCONFIGURED

    async with db.session() as session, session.begin():
        await channels_service.update_credentials(session, name="main", api_key="kling_new")
    async with db.read() as connection:
        cleared = (await health_rows.read_all(connection))[channel_id]
    assert (cleared.account_fault, cleared.open_until) == (None, None)
    assert cleared.last_error == refused.last_error  # what happened is kept
    assert summarize(cleared, clock.now_ms(), CONFIG).state is HealthState.HEALTHY

    async with db.session() as session, session.begin():
        removal = await channels_service.remove_channel(session, name="main", now_ms=clock.now_ms())
    assert removal is not None
    assert removal.deleted
    async with db.read() as connection:
        assert await health_rows.read_all(connection) == {}
