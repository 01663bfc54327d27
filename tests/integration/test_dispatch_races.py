"""Two senders of one queued task: the one that claims it first sends it, and the other leaves it alone; an answer
that comes after someone else has moved the task changes nothing."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import httpx
import orjson
import pytest

from kling_gateway.channels.admin import add_channel
from kling_gateway.channels.selection import enabled_channels
from kling_gateway.clock import now_ms
from kling_gateway.kling.schemas import Family
from kling_gateway.settings import Settings
from kling_gateway.store.database import Database
from kling_gateway.store.records import Task
from kling_gateway.tasks import repository, transitions
from kling_gateway.tasks.dispatch import Dispatcher, Sent
from kling_gateway.tasks.ids import new_platform_id
from kling_gateway.upstream import KlingClient, UpstreamTask
from tests.factories import task_draft, user_id_of_new_user

pytestmark = pytest.mark.both_backends  # claims and conditional writes: the store matters

BASE_URL = "http://kling.test"
UPSTREAM_ID = "860000000000000042"


@dataclass
class Store:
    db: Database
    url: str
    channel_id: int


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[Store]:
    """A database with one channel."""
    db = Database(database_url)
    async with db.session() as session, session.begin():
        await add_channel(session, name="only", base_url=BASE_URL, access_key="ak_only", secret_key="sk_" + "o" * 32)
        [channel] = await enabled_channels(session)
    yield Store(db=db, url=database_url, channel_id=channel.id)
    await db.dispose()


async def queued_task(db: Database) -> Task:
    """Store a task waiting for a channel, as a submit leaves it before offering it."""
    moment = now_ms()
    async with db.session() as session, session.begin():
        user_id = await user_id_of_new_user(session, name="racer", created_at=moment)
        return await repository.insert(
            session,
            task_draft(
                platform_id=new_platform_id(Family.VIDEOS),
                user_id=user_id,
                created_at=moment,
                request_json=orjson.dumps({"prompt": "a fox"}).decode(),
            ),
        )


def dispatcher(store: Store, answer: Callable[[httpx.Request], httpx.Response]) -> tuple[Dispatcher, KlingClient]:
    client = KlingClient(httpx.AsyncClient(transport=httpx.MockTransport(answer)))
    return Dispatcher(store.db, client, Settings(database_url=store.url), random.Random(1)), client


def created(request: httpx.Request) -> httpx.Response:
    """The upstream's answer to a create: the task, submitted."""
    external_id = orjson.loads(request.content)["external_task_id"]
    task = {"task_id": UPSTREAM_ID, "task_status": "submitted", "task_info": {"external_task_id": external_id}}
    return httpx.Response(
        200, json={"code": 0, "message": "SUCCEED", "data": task | {"created_at": 1, "updated_at": 1}}
    )


async def test_a_task_another_sender_has_claimed_is_not_sent_again(store: Store) -> None:
    task = await queued_task(store.db)
    async with store.db.session() as session, session.begin():  # the other sender
        moment = now_ms()
        won = await repository.claim_send(
            session, task_id=task.id, channel_id=store.channel_id, now_ms=moment, lease_until=moment + 60_000
        )
    assert won
    sender, client = dispatcher(store, created)
    outcome = await sender.send(task)
    assert outcome.sent is Sent.TAKEN
    assert client.requests_sent == 0


async def test_an_answer_after_another_writer_moved_the_task_leaves_it_as_that_writer_did(store: Store) -> None:
    task = await queued_task(store.db)
    moved: list[bool] = []

    async def answered_after_a_callback(request: httpx.Request) -> httpx.Response:
        # While the create is under way, a callback about the task moves it on (the upstream was quick).
        async with store.db.session() as session, session.begin():
            fresh = await repository.lock_queued_to(session, task_id=task.id, channel_id=store.channel_id)
            assert fresh is not None
            report = UpstreamTask.from_json(
                {"task_id": UPSTREAM_ID, "task_status": "processing", "created_at": 1, "updated_at": 2}
            )
            move = await transitions.advance(session, fresh, report, now_ms=now_ms(), next_sync_at=None)
            moved.append(move is not None)
        return created(request)

    client = KlingClient(httpx.AsyncClient(transport=httpx.MockTransport(answered_after_a_callback)))
    sender = Dispatcher(store.db, client, Settings(database_url=store.url), random.Random(1))
    outcome = await sender.send(task)
    assert moved == [True]
    assert (outcome.sent, outcome.channel_id) == (Sent.ACCEPTED, store.channel_id)
    async with store.db.read() as connection:
        row = await repository.find_by_platform_id(connection, task.platform_id)
    assert row is not None
    assert (row.status, row.channel_id, row.upstream_task_id) == ("processing", store.channel_id, UPSTREAM_ID)


async def test_an_accepted_create_is_answered_with_the_task_as_stored(store: Store) -> None:
    # The create's answer moves the task alone (no money settles, no callback is owed): one statement, whose
    # returned row is what the submit answers with, and what a read of the task finds.
    task = await queued_task(store.db)
    sender, _client = dispatcher(store, created)
    outcome = await sender.send(task)
    assert outcome.sent is Sent.ACCEPTED
    async with store.db.read() as connection:
        stored = await repository.find_view(connection, task_id=task.id)
        row = await repository.find_by_platform_id(connection, task.platform_id)
    assert outcome.view is not None
    assert outcome.view == stored
    assert row is not None
    assert (row.status, row.channel_id, row.upstream_task_id) == ("submitted", store.channel_id, UPSTREAM_ID)
    assert row.next_sync_at is not None
    assert row.next_sync_at > row.updated_at  # polled from a little later on
    assert orjson.loads(row.task_info_json) == {}  # the upstream's external id is our platform id, not kept
