"""What every benchmark needs: servers in their own processes, the bare baseline, and wrk to load them."""

from __future__ import annotations

import multiprocessing
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import asyncpg
import httpx
import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

AppFactory = Callable[[], Any]
START_TIMEOUT_S = 120.0  # a command server may import a lot, and the machine is shared
STOP_TIMEOUT_S = 15.0
POSTGRES_SERVER = "postgres@127.0.0.1:5432"  # the machine's PostgreSQL (trust auth); benchmarks make scratch databases

_BASELINE_BODY = orjson.dumps({"code": 0, "message": "SUCCEED", "request_id": "0", "data": {"task_id": "1"}})
_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def baseline_app() -> Starlette:
    """Build the bare ASGI app every figure is compared with: one route, one fixed JSON body."""

    async def fixed(_request: Request) -> Response:
        return Response(_BASELINE_BODY, media_type="application/json")

    return Starlette(routes=[Route("/{path:path}", fixed)])


def wait_answering(url: str, *, check_alive: Callable[[], None], timeout_s: float = 60.0) -> None:
    """Wait until something answers HTTP on `url`; `check_alive` raises if the process that should has exited."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.TransportError:
            check_alive()
            if time.monotonic() > deadline:
                raise RuntimeError(f"nothing answered on {url} within {timeout_s:g} s") from None
            time.sleep(0.1)


async def postgres_admin(statement: str) -> None:
    """Run one statement (CREATE / DROP DATABASE) on the server's maintenance database."""
    connection = await asyncpg.connect(f"postgresql://{POSTGRES_SERVER}/postgres")
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


def free_port() -> int:
    """Find a free loopback port."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _serve(factory: AppFactory, port: int) -> None:
    uvicorn.run(factory(), host="127.0.0.1", port=port, log_level="error", access_log=False)


class ServerProcess:
    """Run `factory()` under uvicorn (uvloop, httptools) in its own process, as a context manager."""

    def __init__(self, factory: AppFactory) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._process = multiprocessing.get_context("fork").Process(target=_serve, args=(factory, self.port))

    def __enter__(self) -> ServerProcess:
        self._process.start()
        deadline = time.monotonic() + 600  # a factory may preload many tasks first
        while time.monotonic() < deadline:
            try:
                httpx.get(self.url, timeout=1)
                return self
            except httpx.TransportError:
                if not self._process.is_alive():
                    break
                time.sleep(0.1)
        raise RuntimeError(f"the server on {self.url} did not start")

    def __exit__(self, *_exc: object) -> None:
        self._process.terminate()
        self._process.join(timeout=10)


class CommandServer:
    """Run a server command in a process of its own while the context lasts, its output in `log_path`; `url` is
    where it answers once started (any HTTP answer counts)."""

    def __init__(
        self, command: Sequence[str], *, url: str, log_path: Path, env: Mapping[str, str] | None = None, cwd: Path
    ) -> None:
        self.url = url
        self._command = list(command)
        self._env = dict(env if env is not None else os.environ)
        self._cwd = cwd
        self._log_path = log_path
        self._log: IO[bytes] | None = None
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> CommandServer:
        self._log = self._log_path.open("ab")
        self.process = subprocess.Popen(
            self._command, stdout=self._log, stderr=subprocess.STDOUT, env=self._env, cwd=self._cwd
        )
        try:
            wait_answering(self.url, check_alive=self.check_alive, timeout_s=START_TIMEOUT_S)
        except BaseException:
            self.__exit__()
            raise
        return self

    def check_alive(self) -> None:
        """Raise, with the end of its output, if the command has exited."""
        if self.process is None or self.process.poll() is not None:
            tail = self._log_path.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"{' '.join(self._command[:3])} … exited; the end of its output:\n{tail}")

    def __exit__(self, *_exc: object) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self._log is not None:
            self._log.close()
            self._log = None


@dataclass(frozen=True)
class Load:
    """What wrk measured on one path."""

    requests_per_s: float
    p50_ms: float
    p99_ms: float
    errors: int


def ensure_wrk() -> str:
    """Find wrk, installing it from the distribution's packages if it is missing."""
    found = shutil.which("wrk")
    if found is None:
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True, capture_output=True)
        found = shutil.which("wrk")
    if found is None:
        raise RuntimeError("wrk is needed: apt-get install wrk")
    return found


def wrk(
    url: str,
    *,
    headers: dict[str, str] | None = None,
    connections: int = 32,
    seconds: int = 5,
    timeout_s: int = 2,
    post_json: bytes | None = None,
) -> Load:
    """Load one URL with wrk (one thread, keep-alive connections) and read its figures; a request slower than
    `timeout_s` (wrk's default, 2 s) counts as failed, so slow paths need a longer one. With `post_json`, every
    request is a POST of that JSON body."""
    command = [ensure_wrk(), "-t1", f"-c{connections}", f"-d{max(1, seconds)}s", f"--timeout={timeout_s}s"]
    command += ["--latency", url]
    for name, value in (headers or {}).items():
        command += ["-H", f"{name}: {value}"]
    with tempfile.TemporaryDirectory(prefix="kling-wrk-") as directory:
        if post_json is not None:
            script = Path(directory) / "post.lua"
            # a Lua long string holds the body as it is; JSON never contains the closing `]==]`
            script.write_text(f'wrk.method = "POST"\nwrk.body = [==[{post_json.decode()}]==]\n')
            command += ["-H", "Content-Type: application/json", "-s", str(script)]
        output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    load = Load(
        requests_per_s=float(_match(r"Requests/sec:\s+([\d.]+)", output)),
        p50_ms=_latency_ms(_match(r"50%\s+([\d.]+\w+)", output)),
        p99_ms=_latency_ms(_match(r"99%\s+([\d.]+\w+)", output)),
        errors=_errors(output),
    )
    if load.errors:  # a figure made of error answers would measure the wrong thing
        raise RuntimeError(f"{load.errors} failed requests on {url}:\n{output}")
    return load


def _match(pattern: str, text: str) -> str:
    found = re.search(pattern, text)
    if found is None:
        raise RuntimeError(f"wrk printed no {pattern!r}:\n{text}")
    return found.group(1)


def _latency_ms(value: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(\w+)", value).groups()  # type: ignore[union-attr]
    return float(number) * _UNITS_MS[unit]


def _errors(output: str) -> int:
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    total = int(non_2xx.group(1)) if non_2xx else 0
    return total + (sum(int(n) for n in socket_errors.groups()) if socket_errors else 0)
