"""The gateway as an operator runs it: `migrate`, the admin commands, `serve --no-worker` and a separate `worker`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest

from kling_gateway.clock import now_ms
from kling_gateway.store.migrate import head_revision
from tests.conftest import RunningSandbox
from tests.gateway import free_port
from tests.helpers import wait_for

COMMAND = [sys.executable, "-m", "kling_gateway"]
POLL_INTERVAL_S = 0.2  # the worker's, in the processes this test starts


def admin(*arguments: str, database_url: str) -> dict[str, object]:
    """Run an admin command with --json and return what it printed."""
    done = subprocess.run(
        [*COMMAND, *arguments, "--json", "--database-url", database_url],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    printed: dict[str, object] = json.loads(done.stdout)
    return printed


@contextmanager
def process(*arguments: str) -> Iterator[subprocess.Popen[str]]:
    """Run a long-lived command; stop it with SIGTERM afterwards."""
    env = os.environ | {
        "KLING_GATEWAY_LOG_LEVEL": "warning",
        "KLING_GATEWAY_SYNC__POLL_INTERVAL_S": str(POLL_INTERVAL_S),
    }
    running = subprocess.Popen(
        [*COMMAND, *arguments], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
    )
    try:
        yield running
    finally:
        running.terminate()
        running.wait(timeout=15)


def answers(url: str) -> bool:
    """Tell whether anything answers HTTP on a URL."""
    try:
        httpx.get(f"{url}/healthz")
    except httpx.TransportError:
        return False
    return True


@pytest.mark.slow
def test_an_operator_sets_up_and_runs_api_and_worker_apart(loopback_sandbox: RunningSandbox, tmp_path: object) -> None:
    sandbox = loopback_sandbox  # the processes reach it over a port
    url = f"sqlite+aiosqlite:///{tmp_path}/gateway.db"
    migrated = subprocess.run([*COMMAND, "migrate", "--database-url", url], capture_output=True, text=True, check=True)
    assert f"migration {head_revision()}" in migrated.stdout
    admin("users", "create", "erin", "--balance", "20", database_url=url)
    key = admin("keys", "create", "--user", "erin", database_url=url)
    account = sandbox.account
    admin(
        "channels", "add", "main", "--base-url", sandbox.url,
        "--access-key", account.access_key, "--secret-key", account.secret_key,
        database_url=url,
    )  # fmt: skip
    port = free_port()
    gateway_url = f"http://127.0.0.1:{port}"
    with process("serve", "--port", str(port), "--database-url", url, "--no-worker"):
        wait_for(lambda: answers(gateway_url), f"the gateway to answer on {gateway_url}", timeout_s=30, every_s=0.1)
        headers = {"Authorization": f"Bearer {key['secret']}"}
        with httpx.Client(base_url=gateway_url, headers=headers) as client:
            created = client.post("/kling/v1/videos/text2video", json={"prompt": "a fox"}).json()["data"]
            path = f"/kling/v1/videos/text2video/{created['platform_id']}"
            [upstream] = sandbox.state.tasks.all_tasks()
            wait_for(lambda: upstream.succeeded_by(now_ms()), "the task to succeed upstream")
            time.sleep(2 * POLL_INTERVAL_S)  # the gateway's clock: long enough for a worker's poll, were one running
            assert client.get(path).json()["data"]["task_status"] != "succeed"  # no worker yet: nothing syncs
            with process("worker", "--database-url", url):

                def synced() -> bool:
                    return bool(client.get(path).json()["data"]["task_status"] == "succeed")

                wait_for(synced, "the worker to sync the task", timeout_s=30, every_s=0.1)
    shown: Any = admin("users", "show", "erin", database_url=url)["user"]
    assert shown["balance"] == "19.00"
    assert shown["held"] == "0.00"
