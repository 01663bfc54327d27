"""Metrics summed over processes: two API processes and a separate worker write to one multiprocess directory, and
either API process answers a scrape for all three."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from functools import partial
from pathlib import Path

import httpx
import pytest

from kling_gateway.observability.metrics import MULTIPROCESS_VARIABLE, prepare_multiprocess
from tests.conftest import RunningSandbox
from tests.end_to_end.test_gateway_processes import COMMAND
from tests.end_to_end.test_metrics import moved, parsed, value
from tests.gateway import Admin, free_port
from tests.helpers import wait_for
from tests.inprocess import Network

T2V = "/kling/v1/videos/text2video"


@contextmanager
def started(*arguments: str, env: dict[str, str]) -> Iterator[None]:
    """Run a gateway command in a process of its own; stop it with SIGTERM afterwards."""
    running = subprocess.Popen([*COMMAND, *arguments], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    try:
        yield
    finally:
        running.terminate()
        running.wait(timeout=15)


def scrape(url: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    answer = httpx.get(f"{url}/metrics")
    assert answer.status_code == 200, answer.text
    return parsed(answer.text)


def answers(url: str) -> bool:
    try:
        return httpx.get(f"{url}/livez").status_code == 200
    except httpx.TransportError:
        return False


@pytest.mark.slow
def test_two_api_processes_and_a_worker_are_counted_together(
    loopback_sandbox: RunningSandbox,
    database_url: str,
    network: Network,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url = database_url
    setup = Admin(url, network.loop)
    secret = setup.user("erin")
    setup.channel("main", loopback_sandbox.url, loopback_sandbox.account)
    network.loop.run(setup.close())
    monkeypatch.delenv(MULTIPROCESS_VARIABLE, raising=False)  # put back as it was after the test
    prepare_multiprocess(tmp_path / "metrics")  # as a parent does before it starts its processes
    env = os.environ | {"KLING_GATEWAY_LOG_LEVEL": "warning", "KLING_GATEWAY_SYNC__POLL_INTERVAL_S": "0.2"}
    assert env[MULTIPROCESS_VARIABLE] == str((tmp_path / "metrics").resolve())
    first, second = (f"http://127.0.0.1:{free_port()}" for _ in range(2))
    with ExitStack() as processes:
        for api in (first, second):
            port = api.rsplit(":", 1)[1]
            processes.enter_context(started("serve", "--port", port, "--database-url", url, "--no-worker", env=env))
        processes.enter_context(started("worker", "--database-url", url, env=env))
        for api in (first, second):
            wait_for(partial(answers, api), f"{api} to answer", timeout_s=30, every_s=0.1)
        before = scrape(first)
        headers = {"Authorization": f"Bearer {secret}"}
        with (
            httpx.Client(base_url=first, headers=headers) as submitter,
            httpx.Client(base_url=second, headers=headers) as reader,
        ):
            created = submitter.post(T2V, json={"prompt": "a fox"}).json()["data"]

            def succeeded() -> bool:
                return bool(reader.get(f"{T2V}/{created['platform_id']}").json()["data"]["task_status"] == "succeed")

            wait_for(succeeded, "the worker to finish the task", timeout_s=30, every_s=0.1)
        from_first, from_second = scrape(first), scrape(second)
    for after in (from_first, from_second):  # either process answers for all three
        post = {"route": T2V, "method": "POST", "status": "200"}
        assert moved(before, after, "kling_gateway_http_requests_total", **post) == 1  # made on the first
        one = {"route": T2V + "/{task_id}", "method": "GET", "status": "200"}
        assert moved(before, after, "kling_gateway_http_requests_total", **one) >= 1  # made on the second
        finished = {"status": "succeed", "family": "videos", "action": "text2video", "generation": "legacy"}
        assert moved(before, after, "kling_gateway_tasks_finished_total", channel="main", **finished) == 1  # worker
        assert moved(before, after, "kling_gateway_ledger_micros_total", kind="charge") == 1_000_000  # worker
        assert value(after, "kling_gateway_ready_check", check="worker") == 1
