"""After a downtime every task is overdue at once; the worker catches up within a budget of upstream calls per
channel and round, rather than firing them all together."""

from __future__ import annotations

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
TASKS_SUBMITTED = 30
BUDGET = 10  # upstream calls per channel and round
# One GET per task (no list calls), so the budget, not batching, bounds a round.
SYNC = SyncConfig(poll_interval_s=0.05, idle_sleep_s=0.02, batch_min_tasks=1000, requests_per_round=BUDGET)


async def _catch_up(gw: RunningGateway) -> list[int]:
    """Run worker rounds until every task has finished; return the upstream calls each round made."""
    database_url = gw.admin.database_url
    settings = Settings(database_url=database_url, sync=SYNC)
    db = Database(database_url)
    async with httpx.AsyncClient(transport=gw.network.transport()) as http:
        client = KlingClient(http)
        worker = Worker(db, client, settings)
        calls: list[int] = []
        try:
            for _round in range(20):
                before = client.requests_sent
                await worker.run_once()
                calls.append(client.requests_sent - before)
                async with db.read() as connection:
                    statuses = set(
                        (await connection.execute(TASKS.select().with_only_columns(TASKS.c.status))).scalars()
                    )
                if statuses == {"succeed"}:
                    return calls
            raise AssertionError(f"tasks still unfinished after 20 rounds: {statuses}")
        finally:
            await worker.aclose()
            await db.dispose()


def test_overdue_tasks_are_caught_up_within_the_budget_of_calls_per_round(gateway_factory: GatewayFactory) -> None:
    clock = SteppedClock()
    gw = gateway_factory(worker=False, sync=SYNC, sandbox={"clock": clock})  # no worker: the gateway is "down"
    with gw.client() as client:
        for number in range(TASKS_SUBMITTED):
            create(client, T2V, {"prompt": f"fox {number}"})
    clock.advance(60)  # every task finishes upstream (well within the life of the gateway's token)...
    time.sleep(2 * SYNC.poll_interval_s)  # ...and, by the gateway's clock, comes due within two poll intervals
    calls = gw.network.loop.run(_catch_up(gw))
    assert max(calls) <= BUDGET
    assert sum(calls) >= TASKS_SUBMITTED  # every task was read
    assert len(calls) >= TASKS_SUBMITTED // BUDGET  # which took several rounds
