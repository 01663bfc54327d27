"""Measure the fastest bare ASGI server on this machine: the yardstick every requests/s ratio is taken against.

A bare ASGI app (no framework) answers every request with one prebuilt JSON body. granian and uvicorn (httptools,
uvloop) serve it, one process each, started as their own commands; both are loaded with the same wrk settings in
turns, the best load of each kept, and the faster of the two counts as `baseline_rps`.
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import orjson

from benchmarks.harness import CommandServer, Load, free_port, wrk

APP = f"{__name__}:app"
BODY = orjson.dumps({"code": 0, "message": "SUCCEED", "request_id": "0", "data": {"task_id": "1"}})
_START: dict[str, Any] = {
    "type": "http.response.start",
    "status": 200,
    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(BODY)).encode())],
}
_BODY: dict[str, Any] = {"type": "http.response.body", "body": BODY}
ROUNDS = 2  # loads of each server, taken in turns; the best of each counts, so one busy moment misleads less

Receive = Callable[[], Any]
Send = Callable[[dict[str, Any]], Any]


async def app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
    """Answer every HTTP request with the prebuilt body; accept the lifespan protocol and do nothing in it."""
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    await send(_START)
    await send(_BODY)


def granian_command(port: int) -> list[str]:
    """granian serving the bare app: one process, its Rust HTTP stack, no access log."""
    return [
        sys.executable, "-m", "granian", "--interface", "asgi", "--host", "127.0.0.1", "--port", str(port),
        "--workers", "1", "--no-ws", "--log-level", "warning", "--no-access-log", APP,
    ]  # fmt: skip


def uvicorn_command(port: int) -> list[str]:
    """uvicorn serving the bare app as it serves the gateway: httptools, uvloop, one process, no access log."""
    return [
        sys.executable, "-m", "uvicorn", "--host", "127.0.0.1", "--port", str(port),
        "--http", "httptools", "--loop", "uvloop", "--no-access-log", "--log-level", "warning", APP,
    ]  # fmt: skip


SERVERS: dict[str, Callable[[int], list[str]]] = {"granian": granian_command, "uvicorn": uvicorn_command}


def _start(name: str, stack: ExitStack, directory: Path) -> CommandServer | str:
    """Start one of SERVERS on a free port, its output in `directory`; say why when it cannot start."""
    port = free_port()
    server = CommandServer(
        SERVERS[name](port), url=f"http://127.0.0.1:{port}", log_path=directory / f"{name}.log", cwd=Path.cwd()
    )
    try:
        return stack.enter_context(server)
    except (RuntimeError, OSError) as error:
        return f"not measured: {str(error).splitlines()[0]}"


def fastest(loads: dict[str, Load | str]) -> tuple[str, Load]:
    """Pick the server with the most requests/s among those that were measured (a str says why one was not)."""
    measured = {name: load for name, load in loads.items() if isinstance(load, Load)}
    if not measured:
        raise RuntimeError(f"no bare server could be measured: {loads}")
    name = max(measured, key=lambda server: measured[server].requests_per_s)
    return name, measured[name]


def measure_baselines(*, seconds: int, path: str = "/") -> dict[str, Load | str]:
    """Start every bare server, then load them in turns ROUNDS times, keeping the best load of each; a server
    that cannot start is reported with why, and the other still counts."""
    best: dict[str, Load | str] = {}
    with tempfile.TemporaryDirectory(prefix="kling-bench-baseline-") as directory, ExitStack() as stack:
        servers = {name: _start(name, stack, Path(directory)) for name in SERVERS}
        for _ in range(ROUNDS):
            for name, server in servers.items():
                if isinstance(server, str):
                    best[name] = server
                    continue
                load = wrk(server.url + path, seconds=seconds)
                known = best.get(name)
                if not isinstance(known, Load) or load.requests_per_s > known.requests_per_s:
                    best[name] = load
    return best
