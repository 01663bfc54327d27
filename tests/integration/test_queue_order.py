"""A new task waits behind the tasks of its pack type already waiting for a channel, and behind no other."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from kling_gateway.channels.admin import add_channel
from kling_gateway.clock import now_ms
from kling_gateway.kling.schemas import Family
from kling_gateway.store.database import Database
from kling_gateway.store.records import Task
from kling_gateway.tasks import repository
from kling_gateway.tasks.ids import new_platform_id
from tests.factories import task_draft, user_id_of_new_user

pytestmark = pytest.mark.both_backends  # the look at the queue is part of the task's insert: the store matters


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    db = Database(database_url)
    yield db
    await db.dispose()


async def submitted(db: Database, moment: int, **fields: Any) -> tuple[Task, bool]:
    """Store a task as a submit does; return it, and whether it waits behind another."""
    async with db.session() as session, session.begin():
        user_id = await user_id_of_new_user(session, name=new_platform_id(Family.VIDEOS), created_at=moment)
        draft = task_draft(platform_id=new_platform_id(Family.VIDEOS), user_id=user_id, created_at=moment, **fields)
        task, behind = await repository.insert_behind(session, draft)
    assert task.platform_id == draft.platform_id
    return task, behind


async def test_a_task_waits_behind_one_of_its_pack_type_already_waiting(db: Database) -> None:
    moment = now_ms()
    assert not (await submitted(db, moment))[1]  # the first has no one ahead
    assert (await submitted(db, moment + 1))[1]
    assert not (await submitted(db, moment + 2, pack_type="image"))[1]  # another pack type's queue is empty


async def test_a_task_not_due_yet_or_sent_to_a_channel_is_not_waited_behind(db: Database) -> None:
    moment, lease = now_ms(), now_ms() + 60_000
    # Each is being sent by its submitter (its next look is the sender's lease), so none waits in the queue.
    first, behind = await submitted(db, moment, next_sync_at=lease)
    assert not behind
    assert not (await submitted(db, moment + 1, next_sync_at=lease))[1]
    async with db.session() as session, session.begin():
        await repository.make_ready(session, task_id=first.id)  # its submitter could not send it: it waits now
    assert (await submitted(db, moment + 2, next_sync_at=lease))[1]
    async with db.session() as session, session.begin():
        channel = await add_channel(
            session, name="c", base_url="http://kling.test", access_key="ak", secret_key="s" * 32
        )
        # A lease already run out: only its channel tells it is no longer waiting.
        claimed = await repository.claim_send(
            session, task_id=first.id, channel_id=channel.id, now_ms=moment + 3, lease_until=moment + 3
        )
    assert claimed
    assert not (await submitted(db, moment + 4))[1]  # the one that waited went to a channel
