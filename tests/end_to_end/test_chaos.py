"""Under faults — upstream errors, lost create answers, failing tasks, SIGKILLed workers — the gateway, run as an
operator runs it (sandbox, API and workers as processes), loses no task and sends, holds, charges or releases
none twice; and the audit that says so does see a duplicate, an orphan and an open hold when there is one."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from benchmarks.audit import audit
from benchmarks.chaos import ChaosConfig, run_chaos
from sqlalchemy import select

from kling_gateway.billing import ledger
from kling_gateway.kling.schemas import Family
from kling_gateway.store.database import Database
from kling_gateway.store.models import USERS
from kling_gateway.tasks.ids import new_platform_id
from tests.gateway import GatewayFactory
from tests.helpers import create, finished, wait_until

pytestmark = pytest.mark.both_backends  # chaos runs: one worker on SQLite, two on PostgreSQL

TASKS = 80
T2V = "/kling/v1/videos/text2video"


@pytest.mark.slow
def test_no_task_is_lost_or_done_twice_while_workers_are_killed(database_url: str, tmp_path: Path) -> None:
    sqlite = database_url.startswith("sqlite")
    config = ChaosConfig(
        tasks=TASKS,
        users=3,
        workers=1 if sqlite else 2,
        database_url=database_url,
        failure_rate=0.1,
        error_rate=0.05,
        lost_response_rate=0.1,
        kill_every_s=1.5,
        channels=2,
        concurrency=4,  # 8 videos at once over both channels: most submits wait in the admission queue
        speed=300.0,
        client_concurrency=16,
        duplicate_rate=0.1,
        deadline_s=90.0,
        lease_s=2.0,
        seed=11,
        work_dir=tmp_path,
    )
    report = run_chaos(config)
    assert report.violations() == []
    assert report.kills >= 1
    assert report.audit.submitted == TASKS
    assert report.audit.finished == TASKS
    assert report.audit.upstream_per_task.get(1, 0) >= TASKS * 0.7  # most reached the upstream, once each
    assert report.audit.charged_micros > 0


def test_the_audit_reports_a_duplicate_an_orphan_and_an_open_hold(gateway_factory: GatewayFactory) -> None:
    # The sandbox's second account is no channel: it plays a stray sender. The audit reads the upstream over a port.
    gateway = gateway_factory(channels=1, sandbox={"listen": True})
    stray = gateway.sandbox.config.accounts[1]
    with gateway.client() as client:
        done = finished(client, T2V, {"prompt": "a fox"})
    with gateway.sandbox.client(stray) as upstream:
        duplicate = create(
            upstream, "/v1/videos/text2video", {"prompt": "a fox", "external_task_id": done["platform_id"]}
        )
        orphan_id = new_platform_id(Family.VIDEOS)
        orphan = create(upstream, "/v1/videos/text2video", {"prompt": "a fox", "external_task_id": orphan_id})
        for task in (duplicate, orphan):
            wait_until(upstream, f"/v1/videos/text2video/{task['task_id']}")
    asyncio.run(_hold_without_task(gateway.admin.database_url, "alice"))

    # The stray account is listed as a channel would be, so its tasks count as the gateway's doing.
    gateway.admin.channel("stray", gateway.sandbox.url, stray)
    found = asyncio.run(audit(gateway.admin.database_url))

    assert found.count("duplicate") == 1
    assert done["platform_id"] in next(v for v in found.violations() if v.startswith("duplicate"))
    assert found.count("orphan") == 1
    assert orphan_id in next(v for v in found.violations() if v.startswith("orphan"))
    assert found.count("open_hold") == 2  # the task's hold is never released, and so alice has money held
    assert found.count("total") == 1  # the upstream deducted for the duplicate too; nobody was charged for it
    assert found.upstream_per_task == {2: 1}


async def _hold_without_task(database_url: str, user: str) -> None:
    db = Database(database_url)
    try:
        async with db.session() as session, session.begin():
            user_id = (await session.execute(select(USERS.c.id).where(USERS.c.name == user))).scalar_one()
            await ledger.hold(
                session, user_id=user_id, task_platform_id=new_platform_id(Family.VIDEOS), amount_micros=1_000_000
            )
    finally:
        await db.dispose()
