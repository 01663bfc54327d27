"""A forged upstream callback is refused from a read: it never waits for, or takes, SQLite's write lock, so a flood
of them cannot slow anyone's submits (SQLite only: PostgreSQL has no store-wide write lock)."""

from __future__ import annotations

import sqlite3

import httpx

from kling_gateway.upstream.callbacks import callback_url
from tests.gateway import GatewayFactory
from tests.helpers import create, wait_until

T2V = "/kling/v1/videos/text2video"


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
