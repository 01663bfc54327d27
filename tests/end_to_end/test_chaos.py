"""Under faults — upstream errors, lost create answers, failing tasks, SIGKILLed workers — the gateway, run as an
operator runs it (sandbox, API and workers as processes), loses no task of either Kling API generation and sends,
holds, charges or releases none twice; and the audit that says so does see a duplicate, an orphan, an open hold and
a charge off by one micro-yuan when there is one, of a new-style task as of a legacy one."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest
from benchmarks.audit import audit
from benchmarks.chaos import ChaosConfig, run_chaos
from sqlalchemy import select, update

from kling_gateway.billing import ledger
from kling_gateway.kling.schemas import Family
from kling_gateway.store.database import Database
from kling_gateway.store.models import LEDGER, USERS
from kling_gateway.tasks.ids import new_platform_id
from tests.gateway import GatewayFactory
from tests.helpers import create, finished, wait_for, wait_until

pytestmark = pytest.mark.both_backends  # chaos runs: one worker on SQLite, two on PostgreSQL

TASKS = 80
T2V = "/kling/v1/videos/text2video"
NEW_T2V = "text-to-video/kling-3.0-turbo"
NEW_BODY = {"prompt": "a heron on a frozen pond", "settings": {"duration": 3}}
NEW_FINAL = ("succeeded", "failed")


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
    for generation in ("legacy", "new"):  # a third of the tasks are new-style: both generations ran and were billed
        figures = report.audit.generations[generation]
        assert figures.tasks > TASKS / 5, generation
        assert figures.finished == figures.tasks, generation
        assert figures.charged_micros > 0, generation


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


def test_the_audit_reads_new_style_tasks_once_and_reports_their_duplicate_and_a_charge_off_by_a_micro_yuan(
    gateway_factory: GatewayFactory,
) -> None:
    # One channel with the key pair and the API key: its legacy task shows in both the legacy list and /tasks.
    # The second account plays a stray sender again, listed as a channel with its API key only.
    gateway = gateway_factory(channels=0, sandbox={"listen": True})
    account, stray = gateway.sandbox.config.accounts
    gateway.admin.channel("both", gateway.sandbox.url, account, api_key=True)
    with gateway.client() as client:
        legacy = finished(client, T2V, {"prompt": "a fox"})
        new = _new_style_finished(client, NEW_BODY | {"options": {"external_task_id": "mine-1"}})
    assert new["status"] == "succeeded"
    gateway.admin.channel("stray", gateway.sandbox.url, stray, pair=False, api_key=True)

    clean = asyncio.run(audit(gateway.admin.database_url))
    assert clean.violations() == []
    assert clean.upstream_per_task == {1: 2}  # the legacy task counted once, though both lists show it
    for generation in ("legacy", "new"):
        assert (clean.generations[generation].tasks, clean.generations[generation].upstream_tasks) == (1, 1)
        assert clean.generations[generation].charged_micros == clean.generations[generation].deducted_micros > 0

    asyncio.run(_charge_one_micro_yuan_more(gateway.admin.database_url, new["platform_id"]))
    overcharged = asyncio.run(audit(gateway.admin.database_url))
    assert [v.split(":")[0] for v in overcharged.violations()] == ["disagreement", "total"]
    assert new["platform_id"] in overcharged.violations()[0]
    assert overcharged.charged_micros == clean.charged_micros + 1

    with gateway.sandbox.client(stray, token=stray.api_key) as upstream:
        duplicate = create(upstream, f"/{NEW_T2V}", NEW_BODY | {"options": {"external_task_id": new["platform_id"]}})
        wait_for(lambda: _upstream_status(upstream, duplicate["id"]) in NEW_FINAL, "the stray task to finish")
    doubled = asyncio.run(audit(gateway.admin.database_url))
    assert doubled.count("duplicate") == 1
    assert new["platform_id"] in next(v for v in doubled.violations() if v.startswith("duplicate"))
    assert doubled.upstream_per_task == {1: 1, 2: 1}
    assert doubled.generations["new"].upstream_tasks == 2
    assert legacy["task_status"] == "succeed"


def _new_style_finished(client: httpx.Client, body: dict[str, Any]) -> dict[str, Any]:
    """Create a new-style task through the gateway and wait until `/tasks` shows it final; return the create's
    `data` with the final status."""
    answer = client.post(f"/kling/{NEW_T2V}", json=body)
    assert answer.status_code == 200, answer.text
    created: dict[str, Any] = answer.json()["data"]
    final: list[str] = []

    def done() -> bool:
        records = client.get("/kling/tasks", params={"task_ids": created["platform_id"]}).json()["data"]
        final[:] = [records[0]["status"]] if records and records[0]["status"] in NEW_FINAL else []
        return bool(final)

    wait_for(done, f"{created['platform_id']} to finish")
    return created | {"status": final[0]}


def _upstream_status(upstream: httpx.Client, task_id: str) -> str:
    records = upstream.get("/tasks", params={"task_ids": task_id}).json()["data"]
    return str(records[0]["status"]) if records else ""


async def _charge_one_micro_yuan_more(database_url: str, platform_id: str) -> None:
    """Plant an overcharge: the task's charge entry, and its owner's balance with it, one µ¥ more."""
    db = Database(database_url)
    try:
        async with db.session() as session, session.begin():
            charge = (LEDGER.c.task_platform_id == platform_id) & (LEDGER.c.kind == "charge")
            user_id = (await session.execute(select(LEDGER.c.user_id).where(charge))).scalar_one()
            await session.execute(update(LEDGER).where(charge).values(amount_micros=LEDGER.c.amount_micros - 1))
            await session.execute(
                update(USERS).where(USERS.c.id == user_id).values(balance_micros=USERS.c.balance_micros - 1)
            )
    finally:
        await db.dispose()
