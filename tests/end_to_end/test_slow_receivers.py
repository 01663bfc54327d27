"""A client-callback receiver that never answers delays no one else's task: polls, sends and lookups go on in
their rounds while its deliveries hang beside them."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from kling_gateway.clock import ManualClock
from kling_gateway.settings import SyncConfig
from kling_gateway.sync.worker import Worker
from tests.gateway import GatewayFactory, RunningGateway
from tests.helpers import NeverAnswers, SteppedClock, create, wait_for

T2V = "/kling/v1/videos/text2video"
SILENT = "silent.example"
SYNC = SyncConfig(poll_interval_s=5.0, idle_sleep_s=0.01, callback_timeout_s=600.0)
# Only so that a worker stuck behind a delivery fails the test rather than hangs it: a round takes milliseconds.
STUCK_AFTER_S = 10.0


class Harness:
    """A gateway without a worker of its own, the test's worker (whose callbacks to SILENT never get an answer)
    running as `serve` runs one, and the upstream's and the gateway's clocks, both moved by hand."""

    def __init__(self, gw: RunningGateway, upstream_clock: SteppedClock, clock: ManualClock) -> None:
        assert gw.runtime is not None
        self.gw = gw
        self.upstream_clock = upstream_clock
        self.clock = clock
        self.never = NeverAnswers(SILENT)
        runtime = gw.runtime
        self.http = httpx.AsyncClient(transport=self.never)
        self.worker = Worker(runtime.db, runtime.client, runtime.settings, callbacks_http=self.http, clock=clock)
        self.stop = asyncio.Event()
        self.running: asyncio.Task[None] | None = None

    def run(self, work: Any) -> Any:
        return self.gw.network.loop.run(work)

    def start(self) -> None:
        async def start() -> None:
            self.running = asyncio.create_task(self.worker.run(self.stop))

        self.run(start())

    def make_due(self) -> None:
        """Bring every task in flight to its next look (on the poll grid, at most one and a half intervals away)."""
        self.clock.advance(s=2 * SYNC.poll_interval_s)

    def wait_for_rounds(self, count: int) -> None:
        """Wait until the worker has run `count` more rounds."""
        target = self.worker.rounds + count
        wait_for(lambda: self.worker.rounds >= target, f"{count} more worker rounds", STUCK_AFTER_S)

    def wait_for_status(self, user: str, platform_id: str, wanted: str) -> None:
        wait_for(lambda: status(self.gw, user, platform_id) == wanted, f"the task to be {wanted}", STUCK_AFTER_S)

    def close(self) -> None:
        async def close() -> None:
            self.stop.set()
            if self.running is not None:
                await self.running
            await self.http.aclose()

        self.run(close())


@pytest.fixture
def harness(gateway_factory: GatewayFactory) -> Any:
    upstream_clock, clock = SteppedClock(), ManualClock()
    gw = gateway_factory(
        sandbox={"clock": upstream_clock}, worker=False, clock=clock, sync=SYNC, allow_private_callbacks=True
    )
    opened = Harness(gw, upstream_clock, clock)
    yield opened
    opened.close()


def status(gw: RunningGateway, user: str, platform_id: str) -> str:
    with gw.client(user) as client:
        answer = client.get(f"{T2V}/{platform_id}")
        assert answer.status_code == 200, answer.text
        return str(answer.json()["data"]["task_status"])


def test_another_users_task_is_polled_to_the_end_while_a_receiver_never_answers(harness: Harness) -> None:
    gw = harness.gw
    with gw.client("alice") as alice:
        for number in range(3):
            body = {"prompt": f"a fox {number}", "callback_url": f"https://{SILENT}/hook"}
            assert create(alice, T2V, body)["task_status"] == "submitted"
    with gw.client("bob") as bob:
        bob_id = create(bob, T2V, {"prompt": "a hen"})["platform_id"]
    harness.start()
    # Each of alice's tasks owes its `submitted` callback, and each hangs; the rounds go on meanwhile.
    wait_for(lambda: harness.never.waiting == 3, "alice's three callbacks under way, unanswered")
    harness.wait_for_rounds(3)
    [upstream] = [task for task in gw.sandbox.state.tasks.all_tasks() if task.body.external_task_id == bob_id]
    harness.upstream_clock.move_to(upstream.timeline.processing_ms)
    harness.make_due()
    harness.wait_for_status("bob", bob_id, "processing")
    harness.upstream_clock.move_to(upstream.timeline.finished_ms)
    harness.make_due()
    harness.wait_for_status("bob", bob_id, "succeed")
    harness.wait_for_rounds(3)
    # Alice's callbacks still hang: each sent once, none answered, none given another slot.
    assert harness.never.waiting == harness.never.opened == harness.worker.deliverer.under_way == 3
