"""Workers claim due tasks with leases: at once they take different tasks, and a dead worker's tasks come back."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from kling_gateway.store.database import Database
from kling_gateway.store.records import PolledTask, TaskStatus
from kling_gateway.tasks import repository
from kling_gateway.tasks.repository import TaskChanges
from tests.databases import run
from tests.factories import task_draft, user_id_of_new_user

pytestmark = pytest.mark.both_backends  # claims with leases: the store matters

NOW = 1_800_000_000_000
LEASE_MS = 60_000


async def _store_due_tasks(db: Database, count: int) -> None:
    async with db.session() as session, session.begin():
        user_id = await user_id_of_new_user(session, name="leases", created_at=NOW)
        for number in range(count):
            task = await repository.insert(
                session, task_draft(platform_id=f"video_{number:026d}", user_id=user_id, created_at=NOW - 1000)
            )
            processing: TaskChanges = {
                "status": TaskStatus.PROCESSING.value,
                "upstream_task_id": str(10**17 + number),
                "next_sync_at": NOW - number,
            }
            assert await repository.transition(session, task_id=task.id, expected=TaskStatus.QUEUED, changes=processing)


async def _claim(db: Database, *, at: int, limit: int) -> Sequence[PolledTask]:
    async with db.session() as session, session.begin():
        return await repository.claim_due(session, now_ms=at, lease_until=at + LEASE_MS, limit=limit)


async def _scenario(url: str) -> None:
    db = Database(url)
    try:
        await _store_due_tasks(db, 40)
        first, second = await asyncio.gather(_claim(db, at=NOW, limit=25), _claim(db, at=NOW, limit=25))
        mine, theirs = {row.id for row in first}, {row.id for row in second}
        assert not mine & theirs  # never the same task for two workers
        assert len(mine | theirs) == 40
        assert not await _claim(db, at=NOW + LEASE_MS - 1, limit=100)  # all leased
        # Both workers die without a word: once the leases run out, every task is due again.
        back = await _claim(db, at=NOW + LEASE_MS, limit=100)
        assert {row.id for row in back} == mine | theirs
        assert all(row.next_sync_at == NOW + 2 * LEASE_MS for row in back)
    finally:
        await db.dispose()


def test_concurrent_claims_take_different_tasks_and_a_dead_workers_tasks_come_back(database_url: str) -> None:
    run(_scenario(database_url))
