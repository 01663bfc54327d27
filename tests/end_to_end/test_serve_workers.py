"""`serve --workers N` as an operator runs it: N API processes answering on one port, the sync worker once, JSON log
lines from every process, and a stop within the drain time after SIGTERM."""

from __future__ import annotations

import signal
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from kling_gateway.logs import ACCESS_LOGGER
from kling_gateway.store.database import sqlite_url
from tests.gateway import free_port
from tests.helpers import wait_for

COMMAND = [sys.executable, "-m", "kling_gateway"]
DRAIN_S = 2  # --graceful-timeout
STOP_MARGIN_S = 10  # past the drain: the worker's round, closing pools, the interpreter's exit on a busy machine
ROUNDS = 25  # of eight requests at once, each on a new connection, until both processes have answered


def lines_of(log: Path) -> list[dict[str, Any]]:
    """The JSON lines every process of the gateway wrote."""
    return [orjson.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]


def answering_pids(log: Path) -> set[int]:
    """The processes that logged answering a request."""
    return {line["pid"] for line in lines_of(log) if line["logger"] == ACCESS_LOGGER}


def answers(url: str) -> bool:
    """Tell whether the gateway answers."""
    try:
        return httpx.get(f"{url}/healthz").status_code == 200
    except httpx.TransportError:
        return False


@pytest.mark.slow
def test_two_api_processes_answer_and_stop_within_the_drain_time(tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "serve.log"
    arguments = ["serve", "--workers", "2", "--port", str(port), "--database-url", sqlite_url(tmp_path)]
    arguments += ["--log-format", "json", "--graceful-timeout", str(DRAIN_S)]
    with log.open("w") as written:
        serve = subprocess.Popen([*COMMAND, *arguments], stdout=subprocess.DEVNULL, stderr=written, cwd=tmp_path)
    try:
        wait_for(lambda: answers(url), f"the gateway to answer on {url}", timeout_s=90, every_s=0.2)
        with ThreadPoolExecutor(8) as pool:
            for _ in range(ROUNDS):
                list(pool.map(lambda _: httpx.get(f"{url}/healthz"), range(8)))
                if len(answering_pids(log)) == 2:
                    break
        api_pids = answering_pids(log)
        assert len(api_pids) == 2
        assert serve.pid not in api_pids  # the supervisor answers nothing itself
        serve.send_signal(signal.SIGTERM)
        assert serve.wait(timeout=DRAIN_S + STOP_MARGIN_S) == 0
    finally:
        if serve.poll() is None:
            serve.kill()
            serve.wait()
    workers = [line["pid"] for line in lines_of(log) if line["message"].startswith("sync worker running")]
    assert len(workers) == 1  # polled once, not by every API process
    assert workers[0] not in api_pids | {serve.pid}
    finished = {line["pid"] for line in lines_of(log) if line["message"].startswith("Finished server process")}
    assert finished == api_pids  # each API process stopped on its own, having drained
