"""New-generation tasks against the sandbox: created with the gateway's id and receiver in `options`, found again by
external id after a lost answer, polled twenty at a time, failed once the upstream keeps leaving them out, moved by
new-style callbacks, and charged their `billing[]` at the task's rates."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import select, update

from kling_gateway.billing import ledger
from kling_gateway.clock import ManualClock
from kling_gateway.kling.schemas import Family
from kling_gateway.sandbox import Account, SandboxConfig, create_app
from kling_gateway.settings import BillingConfig, Settings, SyncConfig
from kling_gateway.store.database import Database
from kling_gateway.store.models import CHANNELS, TASKS, USERS
from kling_gateway.store.records import Task, TaskStatus
from kling_gateway.sync.worker import Worker
from kling_gateway.tasks import repository
from kling_gateway.tasks.dispatch import Dispatcher, Sent
from kling_gateway.tasks.ids import new_platform_id
from kling_gateway.upstream import KlingClient
from tests.factories import task_draft
from tests.gateway import GatewayFactory, RunningGateway, UpstreamFault
from tests.helpers import SteppedClock, wait_for

ACTION = "text-to-video/kling-3.0-turbo"


def _sandbox_serves_tasks() -> bool:
    return any(getattr(route, "path", None) == "/tasks" for route in create_app(SandboxConfig()).routes)


pytestmark = [
    pytest.mark.skipif(not _sandbox_serves_tasks(), reason="the sandbox does not serve the new generation yet"),
]

RATES = {"video": 1_000_000, "image": 25_000, "audio": 500_000}
HOLD = 5_000_000
SYNC = SyncConfig(poll_interval_s=5.0, absent_limit_answers=3, absent_grace_s=20.0)  # 3 answers 10 s apart
CLIENT_HOOK = "https://client.example/hook"


@dataclass
class Harness:
    """A gateway's database and sandbox, one channel with only an API key, and a worker on a clock of its own."""

    gw: RunningGateway
    upstream_clock: SteppedClock
    clock: ManualClock
    user_id: int
    channel_id: int

    def run(self, work: Any) -> Any:
        return self.gw.network.loop.run(work)

    def upstream(self) -> httpx.Client:
        """A client of the sandbox account, with its API key (the only credential the new generation takes)."""
        key = self.gw.sandbox.account.api_key
        return self.gw.network.client(base_url=self.gw.sandbox.url, headers={"Authorization": f"Bearer {key}"})

    async def round(self, billing: BillingConfig | None = None) -> int:
        """Run one worker round; return how many upstream calls it made."""
        db = Database(self.gw.admin.database_url)
        async with httpx.AsyncClient(transport=self.gw.network.transport()) as http:
            client = KlingClient(http)
            settings = Settings(database_url=self.gw.admin.database_url, sync=SYNC, billing=billing or BillingConfig())
            worker = Worker(db, client, settings, clock=self.clock)
            try:
                await worker.run_once()
            finally:
                await worker.aclose()
                await db.dispose()
            return client.requests_sent

    async def in_flight(self, upstream_ids: Sequence[str], platform_ids: Sequence[str]) -> list[int]:
        """Store tasks in flight on the channel under these upstream ids, ¥5 held for each, due now."""
        moment = self.clock.now_ms()
        ids = []
        db = Database(self.gw.admin.database_url)
        try:
            async with db.session() as session, session.begin():
                for upstream_id, platform_id in zip(upstream_ids, platform_ids, strict=True):
                    task = await queued_row(session, self.user_id, platform_id, moment)
                    await ledger.hold(session, user_id=self.user_id, task_platform_id=platform_id, amount_micros=HOLD)
                    await repository.lock_queued_to(session, task_id=task.id, channel_id=self.channel_id)
                    changes: repository.TaskChanges = {
                        "status": "submitted",
                        "upstream_task_id": upstream_id,
                        "next_sync_at": moment,
                    }
                    await repository.transition(session, task_id=task.id, expected=TaskStatus.QUEUED, changes=changes)
                    ids.append(task.id)
        finally:
            await db.dispose()
        return ids

    async def rows(self) -> dict[str, Any]:
        """Return every task row by platform id."""
        db = Database(self.gw.admin.database_url)
        try:
            async with db.read() as connection:
                return {row.platform_id: row for row in (await connection.execute(select(TASKS))).all()}
        finally:
            await db.dispose()


async def queued_row(session: Any, user_id: int, platform_id: str, moment: int, **fields: Any) -> Task:
    draft = task_draft(
        platform_id=platform_id,
        user_id=user_id,
        created_at=moment,
        action=ACTION,
        generation="new",
        rates_json=orjson.dumps(RATES).decode(),
        hold_micros=HOLD,
        **fields,
    )
    return await repository.insert(session, draft)


@pytest.fixture
def harness(gateway_factory: GatewayFactory) -> Harness:
    return make_harness(gateway_factory)


def make_harness(gateway_factory: GatewayFactory, **sandbox: Any) -> Harness:
    upstream_clock = SteppedClock()
    gw = gateway_factory(channels=0, worker=False, sandbox={"clock": upstream_clock} | sandbox)
    gw.admin.channel("keyed", gw.sandbox.url, gw.sandbox.account, pair=False, api_key=True)

    async def ids(session: Any) -> tuple[int, int]:
        user = (await session.execute(select(USERS.c.id).where(USERS.c.name == "alice"))).scalar_one()
        channel = (await session.execute(select(CHANNELS.c.id).where(CHANNELS.c.name == "keyed"))).scalar_one()
        return int(user), int(channel)

    user_id, channel_id = gw.admin._run(ids)
    return Harness(gw, upstream_clock, ManualClock(), user_id, channel_id)


def create_upstream(harness: Harness, count: int) -> tuple[list[str], list[str]]:
    """Create text-to-video tasks on the sandbox under fresh platform ids; return those and the upstream ids."""
    platform_ids = [new_platform_id(Family.VIDEOS) for _ in range(count)]
    upstream_ids = []
    with harness.upstream() as upstream:
        for number, platform_id in enumerate(platform_ids):
            body = {
                "prompt": f"fox {number}",
                "settings": {"duration": 3},
                "options": {"external_task_id": platform_id},
            }
            answer = upstream.post(f"/{ACTION}", json=body)
            assert answer.status_code == 200, answer.text
            upstream_ids.append(answer.json()["data"]["id"])
    return platform_ids, upstream_ids


def test_a_hundred_tasks_are_polled_in_five_calls_and_charged_their_billing(harness: Harness) -> None:
    platform_ids, upstream_ids = create_upstream(harness, 100)
    harness.run(harness.in_flight(upstream_ids, platform_ids))
    harness.upstream_clock.advance(3600)  # every task finishes upstream
    assert harness.run(harness.round()) == 5  # 100 tasks, 20 ids a call
    rows = harness.run(harness.rows())
    assert {row.status for row in rows.values()} == {"succeed"}
    with harness.upstream() as upstream:
        records: dict[str, Any] = {}
        for start in range(0, 100, 20):
            answer = upstream.get("/tasks", params={"task_ids": ",".join(upstream_ids[start : start + 20])})
            records |= {record["id"]: record for record in answer.json()["data"]}
    charged = 0
    for platform_id, upstream_id in zip(platform_ids, upstream_ids, strict=True):
        billing = records[upstream_id]["billing"]
        expected = sum(int(Decimal(entry["amount"]) * RATES[entry["package_type"]]) for entry in billing)
        assert expected > 0
        row = rows[platform_id]
        assert (row.charge_micros, orjson.loads(row.billing_json), row.unbilled_reason) == (expected, billing, None)
        assert orjson.loads(row.result_json)["outputs"][0]["type"] == "video"
        charged += expected
    assert harness.gw.admin.money("alice") == (1_000_000_000 - charged, 0)


@pytest.mark.both_backends  # claims and counts of absences: the store matters
def test_a_task_the_upstream_keeps_leaving_out_fails_after_the_limit_and_releases_its_hold(harness: Harness) -> None:
    [seen_platform], [seen_upstream] = create_upstream(harness, 1)
    lost = [new_platform_id(Family.VIDEOS) for _ in range(2)]
    [seen_id, *_] = harness.run(
        harness.in_flight([seen_upstream, "900000000000000001", "900000000000000002"], [seen_platform, *lost])
    )
    harness.gw.admin._run(lambda s: s.execute(update(TASKS).where(TASKS.c.id == seen_id).values(absent_count=2)))
    for answer_number in range(1, SYNC.absent_limit_answers + 1):
        assert harness.run(harness.round()) == 1  # three tasks: one call
        rows = harness.run(harness.rows())
        assert rows[seen_platform].absent_count == 0  # listed again: its count starts over
        assert rows[seen_platform].status in ("submitted", "processing")
        for platform_id in lost:
            if answer_number < SYNC.absent_limit_answers:  # not visible is not failed
                assert (rows[platform_id].status, rows[platform_id].absent_count) == ("submitted", answer_number)
        harness.clock.advance(s=2 * SYNC.poll_interval_s)
    for platform_id in lost:
        row = rows[platform_id]
        assert row.status == "failed"
        assert row.status_msg.startswith("the upstream no longer knows this task: GET /tasks?task_ids=9000")
        assert "(the answer left it out) on channel keyed missed it 3 times in a row" in row.status_msg
        assert harness.gw.admin.ledger(platform_id) == {"hold": HOLD, "release": -HOLD}
    assert harness.gw.admin.money("alice") == (1_000_000_000, HOLD)  # only the visible task still holds


class Recorded(UpstreamFault):
    """Pass upstream requests through, keeping each create's body; lose the first create's answer if told."""

    def __init__(self, *, lose_first_answer: bool = False) -> None:
        self.lose_first_answer = lose_first_answer
        self.creates: list[dict[str, Any]] = []
        self.lookups: list[str] = []
        self.bearers: set[str] = set()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.bearers.add(request.headers["authorization"].removeprefix("Bearer "))
        if request.method == "POST":
            self.creates.append(orjson.loads(request.content))
            response = await self.network.handle_async_request(request)
            if self.lose_first_answer and len(self.creates) == 1:
                raise httpx.ReadTimeout("the answer was lost", request=request)
            return response
        self.lookups.append(str(request.url))
        return await self.network.handle_async_request(request)


async def send(gw: RunningGateway, recorded: Recorded, request: dict[str, Any]) -> tuple[Sent, Task]:
    """Store a new-generation task of alice's with this body, ¥5 held, and offer it to the channels."""
    db = Database(gw.admin.database_url)
    async with httpx.AsyncClient(transport=recorded.around(gw.network.transport())) as http:
        assert gw.runtime is not None
        try:
            async with db.session() as session, session.begin():
                user_id = (await session.execute(select(USERS.c.id).where(USERS.c.name == "alice"))).scalar_one()
                raw = orjson.dumps(request).decode()
                task = await queued_row(session, user_id, new_platform_id(Family.VIDEOS), 1, request_json=raw)
                await ledger.hold(session, user_id=user_id, task_platform_id=task.platform_id, amount_micros=HOLD)
            outcome = await Dispatcher(db, KlingClient(http), gw.runtime.settings, random.Random(1)).send(task)
            return outcome.sent, task
        finally:
            await db.dispose()


@pytest.mark.both_backends  # a callback's move and its charge: the store matters
@pytest.mark.parametrize("lose_first_answer", [False, True], ids=["answered", "answer-lost"])
def test_a_new_task_goes_up_with_our_id_and_receiver_and_is_moved_by_new_style_callbacks(
    gateway_factory: GatewayFactory, lose_first_answer: bool
) -> None:
    recorded = Recorded(lose_first_answer=lose_first_answer)
    gw = gateway_factory(channels=0, worker=False, callbacks=True)
    gw.admin.channel("keyed", gw.sandbox.url, gw.sandbox.account, pair=False, api_key=True)
    client_options = {"callback_url": CLIENT_HOOK, "external_task_id": "mine", "watermark_info": {"enabled": True}}
    request = {"prompt": "a fox", "settings": {"duration": 3}, "options": client_options}

    sent, task = gw.network.loop.run(send(gw, recorded, request))
    assert sent is Sent.ACCEPTED
    assert gw.runtime is not None
    [body] = recorded.creates  # created once, answer lost or not
    receiver = body["options"].pop("callback_url")
    assert receiver.startswith(f"{gw.runtime.settings.public_url}upstream/callbacks/{task.platform_id}/")
    assert body == {  # nothing else is injected, and the client's own callback URL stays here
        "prompt": "a fox",
        "settings": {"duration": 3},
        "options": {"external_task_id": task.platform_id, "watermark_info": {"enabled": True}},
    }
    if lose_first_answer:
        assert recorded.lookups == [f"{gw.sandbox.url}/tasks?external_task_ids={task.platform_id}"]

    def finished() -> bool:
        row = gw.network.loop.run(_row(gw, task.platform_id))
        return row is not None and row.status == "succeed"

    wait_for(finished, "the upstream's new-style callbacks to bring the task to succeed")
    row = gw.network.loop.run(_row(gw, task.platform_id))
    [entry] = orjson.loads(row.billing_json)
    assert row.charge_micros == int(Decimal(entry["amount"]) * RATES[entry["package_type"]]) > 0
    assert gw.admin.ledger(task.platform_id)["charge"] == -row.charge_micros


async def _row(gw: RunningGateway, platform_id: str) -> Any:
    db = Database(gw.admin.database_url)
    try:
        async with db.read() as connection:
            return (await connection.execute(select(TASKS).where(TASKS.c.platform_id == platform_id))).one_or_none()
    finally:
        await db.dispose()


def test_a_new_task_skips_channels_without_an_api_key_and_fails_over_from_a_refused_one(
    gateway_factory: GatewayFactory,
) -> None:
    recorded = Recorded()
    gw = gateway_factory(channels=0, worker=False)
    account = gw.sandbox.account
    refused = account.model_copy(update={"api_key": "kling_revoked"})
    gw.admin.channel("paired", gw.sandbox.url, account, priority=2)  # legacy only: never offered a new task
    gw.admin.channel("refused", gw.sandbox.url, refused, pair=False, api_key=True, priority=1)
    gw.admin.channel("keyed", gw.sandbox.url, account, pair=False, api_key=True)
    sent, task = gw.network.loop.run(send(gw, recorded, {"prompt": "a fox", "settings": {"duration": 3}}))
    assert sent is Sent.ACCEPTED
    assert gw.admin.task_channels() == {task.platform_id: "keyed"}
    assert len(recorded.creates) == 2  # refused, then taken
    assert recorded.bearers == {"kling_revoked", account.api_key}  # never the pair's JWT
    reason = gw.admin.channel_state("refused").misconfigured
    assert reason is not None
    assert reason.startswith("the upstream refused the API key: upstream answered 1002: ")
    assert gw.admin.channel_state("paired").misconfigured is None


@pytest.mark.both_backends  # the charge left out and the hold released: the store matters
def test_a_cash_deduction_in_a_currency_without_a_rate_is_left_unbilled(gateway_factory: GatewayFactory) -> None:
    dollars = Account.generate().model_copy(update={"pays_cash": "USD"})
    harness = make_harness(gateway_factory, accounts=(dollars,))
    [platform_id], [upstream_id] = create_upstream(harness, 1)
    harness.run(harness.in_flight([upstream_id], [platform_id]))
    harness.upstream_clock.advance(3600)
    harness.run(harness.round(BillingConfig(currency_micros={"CNY": 1_000_000})))  # no rate for dollars here
    row = harness.run(harness.rows())[platform_id]
    [entry] = orjson.loads(row.billing_json)
    assert (row.status, row.charge_micros, entry["charge_type"], entry["currency"]) == ("succeed", 0, "cash", "USD")
    assert "in currency 'USD', which has no rate in billing.currency_micros (known: CNY)" in row.unbilled_reason
    assert harness.gw.admin.ledger(platform_id) == {"hold": HOLD, "release": -HOLD}
    assert harness.gw.admin.money("alice") == (1_000_000_000, 0)
