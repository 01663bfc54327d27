"""A poll round reads the upstream's list pages down to the oldest task it looks for, however many newer tasks of
others sit above them on the same account, instead of guessing a few pages and asking the rest one by one."""

from __future__ import annotations

import math
import time

import httpx
import pytest

from kling_gateway.settings import Settings, SyncConfig
from kling_gateway.store.database import Database
from kling_gateway.store.models import TASKS
from kling_gateway.sync.worker import Worker
from kling_gateway.upstream.client import KlingClient
from tests.gateway import GatewayFactory, RunningGateway
from tests.helpers import SteppedClock, create

pytestmark = pytest.mark.both_backends  # what one worker round claims and reads: the store matters

T2V = "/kling/v1/videos/text2video"
OURS = 12
FOREIGN = 45  # created later on the same account, so listed above ours
PAGE = 10
SYNC = SyncConfig(poll_interval_s=0.05, idle_sleep_s=0.02, list_page_size=PAGE, requests_per_round=1000)


async def _one_round(gw: RunningGateway, sync: SyncConfig = SYNC) -> tuple[int, set[str]]:
    """Run one worker round; return the upstream calls it made and the statuses of the gateway's tasks after it."""
    database_url = gw.admin.database_url
    db = Database(database_url)
    async with httpx.AsyncClient(transport=gw.network.transport()) as http:
        client = KlingClient(http)
        worker = Worker(db, client, Settings(database_url=database_url, sync=sync))
        try:
            await worker.run_once()
            async with db.read() as connection:
                statuses = set((await connection.execute(TASKS.select().with_only_columns(TASKS.c.status))).scalars())
            return client.requests_sent, statuses
        finally:
            await worker.aclose()
            await db.dispose()


def overdue(clock: SteppedClock) -> None:
    """Let every task finish upstream, and come due here: the upstream's clock moves, the gateway's is waited for."""
    clock.advance(60)
    time.sleep(2 * SYNC.poll_interval_s)  # the gateway's clock: a task comes due within two poll intervals


def test_one_round_lists_down_past_newer_tasks_of_others(gateway_factory: GatewayFactory) -> None:
    clock = SteppedClock()
    gw = gateway_factory(worker=False, sync=SYNC, sandbox={"clock": clock})
    with gw.client() as client:
        for number in range(OURS):
            create(client, T2V, {"prompt": f"fox {number}"})
    with gw.sandbox.client() as upstream:
        for number in range(FOREIGN):
            answer = upstream.post("/v1/videos/text2video", json={"prompt": f"someone else's {number}"})
            assert answer.status_code == 200, answer.text
    overdue(clock)
    calls, statuses = gw.network.loop.run(_one_round(gw))
    assert statuses == {"succeed"}  # all found in one round
    # Every page down to ours, read once: no single GETs for the tasks a short guess of pages would have missed
    # (3 pages and 12 GETs).
    assert calls <= math.ceil((FOREIGN + OURS) / PAGE) + 1


def test_reports_read_before_their_task_is_claimed_are_kept_for_it(gateway_factory: GatewayFactory) -> None:
    # Claimed 4 at a time, newest first: the sweep starts on the first chunk, and the pages it reads meanwhile
    # hold tasks later chunks bring; those reports must be matched when their tasks arrive.
    small_chunks = SYNC.model_copy(update={"claim_chunk": 4})
    clock = SteppedClock()
    gw = gateway_factory(worker=False, sync=small_chunks, sandbox={"clock": clock})
    with gw.client() as client:
        for number in range(OURS):
            create(client, T2V, {"prompt": f"fox {number}"})
    overdue(clock)
    calls, statuses = gw.network.loop.run(_one_round(gw, small_chunks))
    assert statuses == {"succeed"}
    assert calls <= math.ceil(OURS / PAGE) + SYNC.list_read_ahead  # list pages, not a GET per task
