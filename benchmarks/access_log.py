"""Measure what the access log costs the busiest request, a finished task's GET: the same gateway with the log off,
as text lines and as JSON lines, each written to a file as a process writing to a log collector would, in one run.

    python -m benchmarks.access_log [--quick]
"""

from __future__ import annotations

import argparse
import logging
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from benchmarks.api_figures import (
    FAST_SPEED,
    GATEWAY_PATH,
    QUICK_SYNC,
    Plan,
    create_task,
    new_gateway,
    sandbox_factory,
    wait_all_finished,
)
from benchmarks.harness import Load, ServerProcess, wrk
from kling_gateway.api import create_app as create_gateway
from kling_gateway.api.request_log import log_access
from kling_gateway.logs import (
    ACCESS_LOGGER,
    LogFormat,
    enter_request,
    generate_request_id,
    leave_request,
    log_handler,
    note_key,
)
from kling_gateway.settings import Settings

MODES: tuple[tuple[str, LogFormat | None], ...] = (("off", None), ("text", "text"), ("json", "json"))
LINES = 20_000  # access-log lines timed for the processor time of one
ROUNDS = 2  # each mode is loaded this many times, taking turns, and its best kept: a busy moment hits one round


@dataclass(frozen=True)
class LoggedGateway:
    """A factory of the gateway's app whose process logs at info to `log_file`, with its access log on or off."""

    database_url: str
    log_format: LogFormat | None  # None: the access log off, every other line still configured
    log_file: Path

    def __call__(self) -> Any:
        """Configure the server process's logging, then build the app (run in the server's process)."""
        stream = self.log_file.open("a", encoding="utf-8")  # kept open for the process's life
        root = logging.getLogger()
        root.addHandler(log_handler(self.log_format or "json", stream))
        root.setLevel(logging.INFO)
        settings = Settings(database_url=self.database_url, sync=QUICK_SYNC, access_log=self.log_format is not None)
        return create_gateway(settings, run_worker=False)


def measure(plan: Plan) -> dict[str, Load]:
    """Load one finished task's GET through the gateway in each mode, taking turns; the best load of each."""
    loads: dict[str, Load] = {}
    with (
        ServerProcess(sandbox_factory(FAST_SPEED)) as sandbox,
        new_gateway(sandbox.url) as gateway,
        tempfile.TemporaryDirectory(prefix="kling-access-log-") as directory,
    ):
        factory: Callable[[], Any] = gateway.factory(worker=True)
        with (
            ServerProcess(factory) as server,
            httpx.Client(base_url=server.url, headers=gateway.headers, timeout=30) as client,
        ):
            task = create_task(client, GATEWAY_PATH, "access-log")
            wait_all_finished(client)
        for round_number in range(ROUNDS):
            for label, log_format in MODES:
                log_file = Path(directory) / f"{label}-{round_number}.log"
                with ServerProcess(LoggedGateway(gateway.database_url, log_format, log_file)) as server:
                    url = f"{server.url}{GATEWAY_PATH}/{task['platform_id']}"
                    load = wrk(url, headers=gateway.headers, seconds=plan.seconds)
                if log_format is not None and log_file.stat().st_size == 0:
                    raise RuntimeError(f"the {label} access log wrote nothing: the figure would measure no log")
                if label not in loads or load.requests_per_s > loads[label].requests_per_s:
                    loads[label] = load
    return loads


def line_cpu_us(log_format: LogFormat, lines: int = LINES) -> float:
    """The processor time one access-log line takes, made and written (to /dev/null) in this process: a figure a
    busy machine does not blur, as it counts only this process's work."""
    logger = logging.getLogger(ACCESS_LOGGER)
    with open(os.devnull, "w", encoding="utf-8") as sink:
        handler = log_handler(log_format, sink)
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        scope = {"method": "GET", "path": f"{GATEWAY_PATH}/video_01JCHARGE0000000000000000"}
        token = enter_request(generate_request_id())
        try:
            note_key(1)
            started = time.process_time()
            for _ in range(lines):
                log_access(scope, 200, 1.25)
            return (time.process_time() - started) / lines * 1e6
        finally:
            leave_request(token)
            logger.removeHandler(handler)


def access_log_figures(*, quick: bool) -> dict[str, float]:
    """The throughput with the access log on, as text and as JSON, over that with it off, each p99, and the
    processor time of one line."""
    loads = measure(Plan.of(quick=quick))
    off = loads["off"]
    return {
        "access_log_text_ratio": loads["text"].requests_per_s / off.requests_per_s,
        "access_log_json_ratio": loads["json"].requests_per_s / off.requests_per_s,
        "access_log_off_p99_ms": off.p99_ms,
        "access_log_json_p99_ms": loads["json"].p99_ms,
        "access_log_text_line_cpu_us": line_cpu_us("text"),
        "access_log_json_line_cpu_us": line_cpu_us("json"),
    }


if __name__ == "__main__":
    command = argparse.ArgumentParser(prog="python -m benchmarks.access_log", description=__doc__.splitlines()[0])
    command.add_argument("--quick", action="store_true", help="2 s per wrk run")
    for name, value in access_log_figures(quick=command.parse_args().quick).items():
        print(f"{name}: {value:.3f}")
