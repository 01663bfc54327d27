"""A task the upstream forgot (its sandbox restarted) is failed once it has been missing for the grace period, on
either API generation: its hold released with nothing charged, its channel slot free again, its client told."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
import pytest
from sqlalchemy import select

from kling_gateway.clock import ManualClock
from kling_gateway.settings import SyncConfig
from kling_gateway.store.models import TASKS
from kling_gateway.sync.worker import Worker
from tests.conftest import CallbackReceiver
from tests.gateway import GatewayFactory, RunningGateway
from tests.helpers import SteppedClock

pytestmark = pytest.mark.both_backends  # absences are counted, and the task failed, in the store

LEGACY_T2V = "/kling/v1/videos/text2video"
NEW_T2V = "/kling/text-to-video/kling-3.0-turbo"
ROUND_S = 10.0  # a look every round: twice the poll interval, so every task in flight is due
SYNC = SyncConfig(poll_interval_s=5.0, idle_sleep_s=0.01, absent_limit_answers=3, absent_grace_s=3 * ROUND_S)


@dataclass
class Harness:
    """A gateway whose one channel takes one video at a time, with no worker of its own; the test's worker, on the
    gateway's clock, runs a round at a time."""

    gw: RunningGateway
    clock: ManualClock
    worker: Worker

    def run(self, work: Any) -> Any:
        return self.gw.network.loop.run(work)

    def round(self) -> None:
        self.clock.advance(s=ROUND_S)
        self.run(self.worker.run_once())

    def deliver_callbacks(self) -> None:
        """Deliver every callback owed, a task's in the order of its changes."""
        while self.run(self.worker.deliverer.run_once()):
            pass

    def row(self, platform_id: str) -> Any:
        async def read(session: Any) -> Any:
            return (await session.execute(select(TASKS).where(TASKS.c.platform_id == platform_id))).one()

        return self.gw.admin._run(read)


@pytest.fixture
def harness(gateway_factory: GatewayFactory) -> Any:
    clock = ManualClock()
    gw = gateway_factory(
        channels=0,
        sandbox={"clock": SteppedClock()},  # the upstream's tasks stand still: only the reset changes them
        worker=False,
        clock=clock,
        sync=SYNC,
        allow_private_callbacks=True,
    )
    gw.admin.channel("one", gw.sandbox.url, gw.sandbox.account, api_key=True, video_concurrency=1)
    assert gw.runtime is not None
    worker = Worker(gw.runtime.db, gw.runtime.client, gw.runtime.settings, clock=clock)
    yield Harness(gw, clock, worker)
    gw.network.loop.run(worker.aclose())


def submit(gw: RunningGateway, generation: str, hook: str) -> dict[str, Any]:
    """Submit a video task of alice's, announced to `hook`; return the create answer's data."""
    body: dict[str, Any]
    if generation == "legacy":
        path, body = LEGACY_T2V, {"prompt": "a fox", "callback_url": hook}
    else:
        path, body = NEW_T2V, {"prompt": "a fox", "settings": {"duration": 3}, "options": {"callback_url": hook}}
    with gw.client("alice") as alice:
        answer = alice.post(path, json=body)
        assert answer.status_code == 200, answer.text
        data: dict[str, Any] = answer.json()["data"]
        return data


@pytest.mark.parametrize("generation", ["legacy", "new"])
def test_a_task_the_upstream_forgot_fails_after_the_grace_period_and_gives_back_its_hold_and_slot(
    harness: Harness, callback_receiver: CallbackReceiver, generation: str
) -> None:
    gw = harness.gw
    lost = submit(gw, generation, callback_receiver.url)["platform_id"]
    assert harness.row(lost).status == "submitted"
    before, held = gw.admin.money("alice")
    assert held > 0
    harness.round()  # found upstream: nothing to count
    assert harness.row(lost).absent_count == 0

    gw.sandbox.reset()  # the upstream restarts and forgets every task
    for look in (1, 2, 3):  # three looks miss it, but over 20 s only: within the grace period it stays
        harness.round()
        row = harness.row(lost)
        assert (row.status, row.absent_count) == ("submitted", look)
    harness.round()  # the fourth, 30 s after the first: failed as lost
    row = harness.row(lost)
    assert row.status == "failed"
    assert row.status_msg.startswith("the upstream no longer knows this task: GET ")
    assert "on channel one missed it 4 times in a row" in row.status_msg
    assert row.status_msg.endswith("the gateway failed it and released its hold")
    assert row.charge_micros == 0
    assert gw.admin.ledger(lost) == {"hold": held, "release": -held}
    assert gw.admin.money("alice") == (before, 0)

    harness.deliver_callbacks()
    bodies = [orjson.loads(body) for _, body in callback_receiver.received]
    assert len(bodies) == 2  # submitted, then failed
    last = bodies[-1]
    assert last.get("task_status", last.get("status")) == "failed"
    assert "no longer knows this task" in last.get("task_status_msg", last.get("message"))

    # The channel's one video slot is free again: the next task goes upstream at once, and the one after waits.
    following = submit(gw, generation, callback_receiver.url)["platform_id"]
    assert harness.row(following).status == "submitted"
    assert harness.row(submit(gw, generation, callback_receiver.url)["platform_id"]).status == "queued"
