"""The client-callback outbox on real SQLite and PostgreSQL, delivering to real loopback receivers."""

from __future__ import annotations

import asyncio
import base64
import secrets
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from standardwebhooks.webhooks import Webhook
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from kling_gateway.clock import now_ms
from kling_gateway.dialects import Dialect
from kling_gateway.keys import service as keys_service
from kling_gateway.kling.schemas import Family
from kling_gateway.outbox.delivery import FIRST_RETRY_S, RETRY_JITTER, Deliverer
from kling_gateway.settings import SyncConfig
from kling_gateway.store.database import Database
from kling_gateway.store.models import API_KEYS, CLIENT_CALLBACKS, TASKS
from kling_gateway.store.records import TaskStatus
from kling_gateway.tasks import repository
from kling_gateway.tasks.effects import queue_callback
from kling_gateway.tasks.ids import new_platform_id
from kling_gateway.tasks.repository import TaskChanges
from kling_gateway.users import service as users_service
from tests.conftest import CallbackReceiver
from tests.factories import task_draft
from tests.gateway import free_port
from tests.helpers import NeverAnswers
from tests.inprocess import Apps

pytestmark = pytest.mark.both_backends  # the outbox queues, claims and records deliveries in the store

CONFIG = SyncConfig(callback_timeout_s=2.0)
DAY_MS = 86_400_000


@dataclass
class ScriptedReceiver:
    """A loopback endpoint that answers with the statuses it is given, in turn (200 once they run out)."""

    url: str = ""
    answers: list[int] = field(default_factory=list)
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    delay_s: float = 0.0

    def statuses(self) -> list[str]:
        return [orjson.loads(body)["task_status"] for _, body in self.received]


@pytest.fixture
def receiver(apps: Apps) -> ScriptedReceiver:
    scripted = ScriptedReceiver()

    async def answer(request: Request) -> Response:
        scripted.received.append((dict(request.headers), await request.body()))
        await asyncio.sleep(scripted.delay_s)
        return Response(b"", status_code=scripted.answers.pop(0) if scripted.answers else 200)

    scripted.url = apps.listen(Starlette(routes=[Route("/hook", answer, methods=["POST"])])) + "/hook"
    return scripted


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    yield database
    await database.dispose()


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=CONFIG.callback_timeout_s) as client:
        yield client


def new_webhook_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


@dataclass(frozen=True)
class Owner:
    key_id: int
    webhook_secret: str | None


async def make_owner(db: Database, *, dialect: Dialect | None = None, signed: bool = True) -> Owner:
    """Create a user with one key, and give the key a webhook secret unless told not to."""
    secret = new_webhook_secret() if signed else None
    async with db.session() as session, session.begin():
        user = await users_service.create_user(session, name=f"user-{uuid.uuid4().hex[:8]}")
        key, _ = await keys_service.create_key(session, user_id=user.id, dialect=dialect)
        await session.execute(update(API_KEYS).where(API_KEYS.c.id == key.id).values(webhook_secret=secret))
    return Owner(key_id=key.id, webhook_secret=secret)


async def make_task(
    db: Database, owner: Owner, callback_url: str | None, *, dialect: Dialect | None = None, external_id: str = ""
) -> int:
    """Store a queued video task of the owner's key, as a submit does."""
    moment = now_ms()
    async with db.session() as session, session.begin():
        user_id = (await session.execute(select(API_KEYS.c.user_id).where(API_KEYS.c.id == owner.key_id))).scalar_one()
        task = await repository.insert(
            session,
            task_draft(
                platform_id=new_platform_id(Family.VIDEOS),
                user_id=user_id,
                created_at=moment,
                external_task_id=external_id or None,
                body_hash=uuid.uuid4().hex,
                callback_url=callback_url,
                key_id=owner.key_id,
                dialect=None if dialect is None else dialect.value,
                hold_micros=5_000_000,
                model="kling-v2-6",
                seconds=5,
            ),
        )
        return int(task.id)


async def enqueue(session: AsyncSession, *, task_id: int, now_ms: int) -> None:
    """Queue a callback of the task's current status, as every move does."""
    await queue_callback(session, task_id=task_id, now_ms=now_ms, give_up_s=CONFIG.callback_give_up_s)


STEPS: dict[TaskStatus, TaskChanges] = {
    TaskStatus.SUBMITTED: {"upstream_task_id": "upstream-1"},
    TaskStatus.PROCESSING: {},
    TaskStatus.SUCCEED: {
        "result_json": '{"videos":[{"id":"v1","url":"https://cdn.example.com/v1.mp4","duration":"5.1"}]}',
        "final_unit_deduction": "5",
    },
    TaskStatus.FAILED: {"status_msg": "content moderation"},
}


async def move(db: Database, task_id: int, *statuses: TaskStatus) -> None:
    """Move a task through statuses, queuing each change's callback in the transaction that made it."""
    for status in statuses:
        moment = now_ms()
        async with db.session() as session, session.begin():
            current = (await session.execute(select(TASKS.c.status).where(TASKS.c.id == task_id))).scalar_one()
            changes: TaskChanges = {"status": status.value, "updated_at": moment, **STEPS[status]}
            assert await repository.transition(session, task_id=task_id, expected=TaskStatus(current), changes=changes)
            await enqueue(session, task_id=task_id, now_ms=moment)


async def callbacks(db: Database, task_id: int | None = None) -> list[Any]:
    query = select(CLIENT_CALLBACKS).order_by(CLIENT_CALLBACKS.c.id)
    if task_id is not None:
        query = query.where(CLIENT_CALLBACKS.c.task_id == task_id)
    async with db.session() as session:
        return list((await session.execute(query)).all())


async def make_due(db: Database) -> None:
    """Bring every pending callback's next attempt to now, as time passing would."""
    async with db.session() as session, session.begin():
        pending = CLIENT_CALLBACKS.c.next_attempt_at.is_not(None)
        await session.execute(update(CLIENT_CALLBACKS).where(pending).values(next_attempt_at=now_ms()))


def deliverer(db: Database, http: httpx.AsyncClient, config: SyncConfig = CONFIG, **options: Any) -> Deliverer:
    return Deliverer(db, http, config, allow_private=options.pop("allow_private", True), **options)


# --- enqueue ---


async def test_each_change_is_queued_once_with_the_body_a_single_query_answers(db: Database) -> None:
    owner = await make_owner(db)
    task_id = await make_task(db, owner, "https://hooks.example.com/kling", external_id="order-7")
    await move(db, task_id, TaskStatus.SUBMITTED, TaskStatus.PROCESSING)
    async with db.session() as session, session.begin():
        await enqueue(session, task_id=task_id, now_ms=now_ms())  # the same change again: nothing new
    rows = await callbacks(db, task_id)
    assert [row.status for row in rows] == ["submitted", "processing"]
    assert all(row.message_id.startswith("msg_") for row in rows)
    assert len({row.message_id for row in rows}) == 2
    assert all(row.next_attempt_at == row.created_at and row.attempts == 0 for row in rows)
    body = orjson.loads(rows[0].body)
    assert "code" not in body  # the bare task object, as official Kling callbacks send it
    assert body["task_status"] == "submitted"
    assert body["task_id"] == "upstream-1"
    assert body["platform_id"].startswith("video_")
    assert body["task_info"] == {"external_task_id": "order-7"}
    assert orjson.loads(rows[1].body)["task_status"] == "processing"


async def test_a_task_without_a_callback_url_queues_nothing(db: Database) -> None:
    owner = await make_owner(db)
    task_id = await make_task(db, owner, None)
    await move(db, task_id, TaskStatus.SUBMITTED, TaskStatus.FAILED)
    assert await callbacks(db) == []


async def test_the_body_takes_the_shape_of_the_tasks_dialect(db: Database) -> None:
    owner = await make_owner(db)
    video_task = await make_task(db, owner, "https://hooks.example.com/v", dialect=Dialect.VIDEO)
    unified_task = await make_task(db, owner, "https://hooks.example.com/t", dialect=Dialect.TASK)
    for task_id in (video_task, unified_task):
        await move(db, task_id, TaskStatus.SUBMITTED, TaskStatus.PROCESSING, TaskStatus.SUCCEED)
    video_bodies = [orjson.loads(row.body) for row in await callbacks(db, video_task)]
    assert [body["status"] for body in video_bodies] == ["queued", "in_progress", "completed"]
    assert video_bodies[2]["task_id"].startswith("video_")
    assert video_bodies[2]["url"] == "https://cdn.example.com/v1.mp4"
    assert video_bodies[2]["metadata"]["duration"] == 5.1
    unified = [orjson.loads(row.body) for row in await callbacks(db, unified_task)]
    assert [body["data"]["status"] for body in unified] == ["SUBMITTED", "IN_PROGRESS", "SUCCESS"]
    assert unified[2]["data"]["data"]["data"]["final_unit_deduction"] == "5"


# --- delivery ---


async def test_a_callback_is_posted_signed_with_the_keys_secret_and_delivered_once(
    db: Database, http: httpx.AsyncClient, callback_receiver: CallbackReceiver
) -> None:
    owner = await make_owner(db)
    task_id = await make_task(db, owner, callback_receiver.url)
    await move(db, task_id, TaskStatus.SUBMITTED)
    sender = deliverer(db, http)
    assert await sender.run_once() == 1
    [(headers, body)] = callback_receiver.received
    assert owner.webhook_secret is not None
    verified = Webhook(owner.webhook_secret).verify(body, headers)
    assert verified["task_status"] == "submitted"
    [row] = await callbacks(db)
    assert headers["webhook-id"] == row.message_id
    assert headers["content-type"].startswith("application/json")
    assert body.decode() == row.body
    assert (row.attempts, row.next_attempt_at, row.last_error) == (1, None, "")
    assert row.delivered_at is not None
    assert await sender.run_once() == 0
    assert len(callback_receiver.received) == 1


async def test_a_key_without_a_secret_gets_unsigned_callbacks(
    db: Database, http: httpx.AsyncClient, callback_receiver: CallbackReceiver
) -> None:
    owner = await make_owner(db, signed=False)
    task_id = await make_task(db, owner, callback_receiver.url)
    await move(db, task_id, TaskStatus.SUBMITTED)
    assert await deliverer(db, http).run_once() == 1
    [(headers, body)] = callback_receiver.received
    assert "webhook-signature" not in headers
    assert orjson.loads(body)["task_status"] == "submitted"
    [row] = await callbacks(db)
    assert row.delivered_at is not None


async def test_a_tasks_callbacks_go_out_in_order_while_other_tasks_go_on(
    db: Database, http: httpx.AsyncClient, receiver: ScriptedReceiver, callback_receiver: CallbackReceiver
) -> None:
    owner = await make_owner(db)
    failing = await make_task(db, owner, receiver.url)
    other = await make_task(db, owner, callback_receiver.url)
    await move(db, failing, TaskStatus.SUBMITTED, TaskStatus.PROCESSING, TaskStatus.SUCCEED)
    await move(db, other, TaskStatus.SUBMITTED)
    receiver.answers = [500]
    sender = deliverer(db, http)
    assert await sender.run_once() == 2  # the first of each task; the later two wait behind the failed one
    assert receiver.statuses() == ["submitted"]
    assert len(callback_receiver.received) == 1
    assert await sender.run_once() == 0  # the failed one is not due yet, and nothing may pass it
    await make_due(db)
    for _ in range(3):
        assert await sender.run_once() == 1
    assert receiver.statuses() == ["submitted", "submitted", "processing", "succeed"]
    assert all(row.delivered_at is not None for row in await callbacks(db))


async def test_a_failing_receiver_is_retried_with_growing_waits_and_told_why(
    db: Database, http: httpx.AsyncClient, receiver: ScriptedReceiver
) -> None:
    owner = await make_owner(db)
    task_id = await make_task(db, owner, receiver.url)
    await move(db, task_id, TaskStatus.SUBMITTED)
    receiver.answers = [503, 503]
    sender = deliverer(db, http)
    for attempt, wait_s in ((1, FIRST_RETRY_S), (2, 2 * FIRST_RETRY_S)):
        await make_due(db)
        before = now_ms()
        assert await sender.run_once() == 1
        after = now_ms()
        [row] = await callbacks(db)
        assert (row.attempts, row.last_error) == (attempt, "HTTP 503 Service Unavailable")
        assert before + wait_s * 1000 <= row.next_attempt_at <= after + wait_s * 1000 * (1 + RETRY_JITTER)
        assert row.delivered_at is None
        assert row.given_up_at is None
    await make_due(db)
    assert await sender.run_once() == 1
    [row] = await callbacks(db)
    assert (row.attempts, row.next_attempt_at) == (3, None)
    assert row.delivered_at is not None
    assert len({headers["webhook-id"] for headers, _ in receiver.received}) == 1  # the same message each time


async def test_a_receiver_that_is_down_or_too_slow_counts_as_a_failed_attempt(
    db: Database, http: httpx.AsyncClient, receiver: ScriptedReceiver
) -> None:
    owner = await make_owner(db)
    down = await make_task(db, owner, f"http://127.0.0.1:{free_port()}/hook")
    slow = await make_task(db, owner, receiver.url)
    await move(db, down, TaskStatus.SUBMITTED)
    await move(db, slow, TaskStatus.SUBMITTED)
    receiver.delay_s = 1.0
    assert await deliverer(db, http, SyncConfig(callback_timeout_s=0.3)).run_once() == 2
    [down_row] = await callbacks(db, down)
    [slow_row] = await callbacks(db, slow)
    assert down_row.last_error.startswith("ConnectError")
    assert slow_row.last_error == "no answer within 0.3 s"
    assert down_row.attempts == slow_row.attempts == 1
    assert down_row.next_attempt_at is not None
    assert slow_row.next_attempt_at is not None


async def test_past_the_give_up_period_a_callback_is_given_up_and_the_next_one_goes(
    db: Database, http: httpx.AsyncClient, receiver: ScriptedReceiver
) -> None:
    owner = await make_owner(db)
    task_id = await make_task(db, owner, receiver.url)
    await move(db, task_id, TaskStatus.SUBMITTED, TaskStatus.FAILED)
    first = (await callbacks(db, task_id))[0]
    assert first.give_up_at == first.created_at + DAY_MS  # the give-up period, counted from the change
    # The change happened almost a day ago: a failure now waits only until the deadline, not the full backoff.
    deadline = now_ms() + 2000
    async with db.session() as session, session.begin():
        await session.execute(
            update(CLIENT_CALLBACKS).where(CLIENT_CALLBACKS.c.id == first.id).values(give_up_at=deadline)
        )
    receiver.answers = [500, 500]
    sender = deliverer(db, http)
    assert await sender.run_once() == 1
    [first, _] = await callbacks(db, task_id)
    assert first.next_attempt_at == deadline
    assert first.given_up_at is None
    async with db.session() as session, session.begin():
        await session.execute(
            update(CLIENT_CALLBACKS).where(CLIENT_CALLBACKS.c.id == first.id).values(give_up_at=now_ms())
        )
    await make_due(db)
    assert await sender.run_once() == 1  # the last attempt fails too: given up
    [first, second] = await callbacks(db, task_id)
    assert (first.attempts, first.next_attempt_at, first.last_error) == (2, None, "HTTP 500 Internal Server Error")
    assert first.given_up_at is not None
    assert first.delivered_at is None
    assert await sender.run_once() == 1  # the failed status, no longer held up
    assert receiver.statuses() == ["submitted", "submitted", "failed"]
    [_, second] = await callbacks(db, task_id)
    assert second.delivered_at is not None


async def test_a_callback_url_that_now_points_inside_is_refused_at_send_time(
    db: Database, http: httpx.AsyncClient, callback_receiver: CallbackReceiver
) -> None:
    owner = await make_owner(db)
    task_id = await make_task(db, owner, callback_receiver.url)  # e.g. its name resolved elsewhere at submit
    await move(db, task_id, TaskStatus.SUBMITTED)
    assert await deliverer(db, http, allow_private=False).run_once() == 1
    assert callback_receiver.received == []
    [row] = await callbacks(db)
    assert row.attempts == 1
    assert "127.0.0.1 is a loopback address" in row.last_error
    assert row.next_attempt_at is not None
    assert row.delivered_at is None


async def test_two_deliverers_racing_never_send_a_callback_twice(
    database_url: str, db: Database, callback_receiver: CallbackReceiver
) -> None:
    owner = await make_owner(db)
    for _ in range(12):
        task_id = await make_task(db, owner, callback_receiver.url)
        await move(db, task_id, TaskStatus.SUBMITTED, TaskStatus.PROCESSING)
    other_db = Database(database_url)  # another worker process: its own pool
    try:
        async with httpx.AsyncClient() as http_a, httpx.AsyncClient() as http_b:
            senders = (
                deliverer(db, http_a, max_in_flight=5),
                deliverer(other_db, http_b, max_in_flight=5),
            )
            attempted = 0
            for _ in range(20):
                counts = await asyncio.gather(*(sender.run_once() for sender in senders))
                attempted += sum(counts)
                if sum(counts) == 0:
                    break
    finally:
        await other_db.dispose()
    ids = [headers["webhook-id"] for headers, _ in callback_receiver.received]
    assert len(ids) == len(set(ids)) == attempted == 24
    assert all(row.delivered_at is not None and row.attempts == 1 for row in await callbacks(db))


async def until(condition: Any, what: str, timeout_s: float = 20.0) -> None:
    """Wait until `condition()` holds; at the deadline, fail saying what was awaited."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.005)


async def test_a_receiver_that_never_answers_holds_only_its_share_of_slots_while_others_get_theirs(
    db: Database, callback_receiver: CallbackReceiver
) -> None:
    owner = await make_owner(db)
    silent = [await make_task(db, owner, "http://silent.example/hook") for _ in range(3)]
    heard = [await make_task(db, owner, callback_receiver.url) for _ in range(2)]
    for task_id in [*silent, *heard]:  # the silent receiver's callbacks are the most overdue
        await move(db, task_id, TaskStatus.SUBMITTED)
    never = NeverAnswers("silent.example")
    stop = asyncio.Event()
    async with httpx.AsyncClient(transport=never) as http:
        sender = deliverer(db, http, max_in_flight=4, per_target=2)
        delivering = asyncio.create_task(sender.run(stop, idle_s=0.01))
        try:
            await until(lambda: len(callback_receiver.received) == 2, "the other receiver's two callbacks")
            await until(lambda: sender.under_way == never.waiting == 2, "only the two silent deliveries under way")
            assert never.opened == 2  # its bound: the third is not sent while two hang, though a slot is free
        finally:
            stop.set()
            await delivering
    assert never.waiting == 0  # stopping abandoned the two
    by_task = {row.task_id: row for row in await callbacks(db)}
    assert all(by_task[task_id].delivered_at is not None for task_id in heard)
    for task_id in silent:  # abandoned or never claimed: due again at once, no attempt counted
        row = by_task[task_id]
        assert (row.attempts, row.delivered_at, row.last_error) == (0, None, "")
        assert row.next_attempt_at is not None
        assert row.next_attempt_at <= now_ms()


async def test_a_receiver_answering_a_huge_body_is_never_read(db: Database) -> None:
    read = 0

    async def body() -> AsyncIterator[bytes]:
        nonlocal read
        for _ in range(400):  # 400 MB, were it all read
            read += 1 << 20
            yield b"x" * (1 << 20)

    def huge(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=body())

    owner = await make_owner(db)
    task_id = await make_task(db, owner, "http://receiver.example/hook")
    await move(db, task_id, TaskStatus.SUBMITTED)
    async with httpx.AsyncClient(transport=httpx.MockTransport(huge)) as hostile:
        assert await deliverer(db, hostile).run_once() == 1
    [row] = await callbacks(db)
    assert row.delivered_at is not None
    assert read <= 1 << 20  # at most the first chunk was produced, never the 400 MB
