"""A forged upstream callback is refused from a read: it never waits for, or takes, SQLite's write lock, so a flood
of them cannot slow anyone's submits (SQLite only: PostgreSQL has no store-wide write lock)."""

from __future__ import annotations

import sqlite3

import httpx

from kling_gateway.clock import ManualClock
from kling_gateway.upstream.callbacks import callback_url
from tests.gateway import GatewayFactory
from tests.helpers import create, wait_until

T2V = "/kling/v1/videos/text2video"
FIRST = "sandbox-1"  # the gateway factory's channel


def test_a_forged_callback_is_refused_while_another_writer_holds_the_store(gateway_factory: GatewayFactory) -> None:
    gw = gateway_factory(worker=False, callbacks=True)
    with gw.client() as client:
        platform_id = create(client, T2V, {"prompt": "a fox"})["platform_id"]
        done = wait_until(client, f"{T2V}/{platform_id}")
    forged = callback_url(gw.url, gw.sandbox.config.accounts[1].secret_key, platform_id)
    body = {"task_id": done["task_id"], "task_status": "succeed", "task_info": {}, "task_result": {}}
    # It waits its turn: the task's own callbacks may still be writing.
    writer = sqlite3.connect(gw.admin.database_url.removeprefix("sqlite+aiosqlite:///"), timeout=5)
    try:
        writer.execute("BEGIN IMMEDIATE")  # another writer holds the lock for as long as the post lasts
        with httpx.Client(timeout=3) as upstream:
            refused = upstream.post(forged, json=body | {"created_at": 1, "updated_at": 2})
        assert refused.status_code == 401, refused.text
    finally:
        writer.rollback()
        writer.close()


def test_forged_callbacks_are_refused_from_memory_and_a_new_channel_is_found(gateway_factory: GatewayFactory) -> None:
    clock = ManualClock()
    gw = gateway_factory(worker=False, clock=clock)
    with gw.client() as client:
        platform_id = create(client, T2V, {"prompt": "a fox"})["platform_id"]
    with gw.http() as anyone:
        first = anyone.post(f"/upstream/callbacks/{platform_id}/{'0' * 32}", json={})
        assert first.status_code == 401, first.text  # the channels' secrets are read here
        assert "token does not match the task's channel" in first.json()["message"]
        # Within the second that follows, made-up tokens are refused without the store: it may even be gone.
        gw.admin.execute("ALTER TABLE channels RENAME TO channels_away")
        try:
            for attempt in range(20):
                refused = anyone.post(f"/upstream/callbacks/{platform_id}/{attempt:032x}", content=b"x" * 1000)
                assert refused.status_code == 401, refused.text
        finally:
            gw.admin.execute("ALTER TABLE channels_away RENAME TO channels")
        # A channel added since is known once the second has passed: a task it runs is moved by its callback.
        account = gw.sandbox.config.accounts[1]
        gw.admin.channel("second", gw.sandbox.url, account)
        gw.admin.enable_channel(FIRST, enabled=False)
        with gw.client() as client:
            second = create(client, T2V, {"prompt": "a hare"})
        clock.advance(s=1.001)
        real = callback_url(gw.url, account.secret_key, second["platform_id"])
        report = {"task_id": second["task_id"], "task_status": "processing", "created_at": 1, "updated_at": 2}
        answer = anyone.post(real, json=report)
    assert answer.status_code == 200, answer.text
