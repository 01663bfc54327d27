"""Count the instructions each task query and a submit take in process: a figure a busy machine does not blur.

    python -m benchmarks.instructions [--quick]

`perf stat -e instructions` needs the processor's counters, which this machine's virtual processors do not offer
(perf reports them `<not supported>`), so the count is callgrind's (valgrind), which counts every instruction of
every thread of the process. One probe process runs under callgrind with its counting off while it imports and
sets up; it then runs each phase (a fixed number of requests through httpx.ASGITransport, after a warm-up) between
two dumps of the counts, each dump counting from the one before. A phase of zero requests measures what the
hand-over itself costs, and is subtracted from every other.

Phases: a GET of the bare ASGI app (benchmarks/baseline.py); the gateway's GET of a finished task, a page of 30
finished tasks, a `/kling/tasks?task_ids=` batch of 20 (half legacy, half new-generation), the GET of a task in
flight; a legacy submit through the gateway to an in-process sandbox, and the same create straight to that sandbox;
`instructions_per_submit` is the gateway's part, the submit less the upstream's own create.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import IO, Any

import httpx

from benchmarks import baseline
from benchmarks.api_figures import (
    ACCOUNT,
    BATCH,
    FAST_SPEED,
    FINAL,
    GATEWAY_PATH,
    NEW_ACTION,
    PATH,
    QUICK_SYNC,
    SLOW_SPEED,
    TASKS_PATH,
    new_body,
    sandbox_factory,
    set_up,
    text2video_body,
)
from kling_gateway import logs
from kling_gateway.api import create_app as create_gateway
from kling_gateway.settings import Settings
from kling_gateway.store.database import sqlite_url
from kling_gateway.upstream.tokens import TokenCache

SANDBOX_URL = "http://sandbox.invalid"  # never resolved: every upstream call goes through an in-process transport
WARM_UP = 20
PHASES = ("handover", "bare_get", "finished_get", "page_30", "batch_20", "inflight_get", "submit", "upstream_create")
PAGE = 30
READY = "ready"


def _client(app: Any, base_url: str, headers: dict[str, str] | None = None) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base_url, headers=headers, timeout=60)


async def _lifespan(stack: AsyncExitStack, app: Any) -> None:
    await stack.enter_async_context(app.router.lifespan_context(app))


def _gateway(directory: Path, sandbox: Any, *, worker: bool) -> Any:
    """The gateway as `serve` builds it (its default logging, into a file here; metrics on), upstream in process."""
    settings = Settings(database_url=sqlite_url(directory), sync=QUICK_SYNC)
    return create_gateway(settings, run_worker=worker, http=_client(sandbox, SANDBOX_URL))


async def prepare(directory: Path) -> tuple[str, str, str]:
    """Set up the database in `directory` with a page of finished legacy tasks and half a batch of finished
    new-generation ones; return the user's key, a legacy task's platform id and the batch's ids."""
    key = await set_up(sqlite_url(directory), SANDBOX_URL)
    sandbox = sandbox_factory(FAST_SPEED)()
    gateway = _gateway(directory, sandbox, worker=True)
    async with AsyncExitStack() as stack:
        await _lifespan(stack, sandbox)
        await _lifespan(stack, gateway)
        client = await stack.enter_async_context(_client(gateway, "http://gateway", {"Authorization": f"Bearer {key}"}))
        legacy = [await _created(client, GATEWAY_PATH, f"counted-{index}") for index in range(PAGE)]
        new = [await _created(client, f"/kling/{NEW_ACTION}", f"counted-new-{index}") for index in range(BATCH // 2)]
        deadline = time.monotonic() + 60
        while not await _all_final(client, legacy, new):
            if time.monotonic() > deadline:
                raise RuntimeError("the tasks to count GETs of did not finish in 60 s")
            await asyncio.sleep(0.05)
    return key, legacy[len(legacy) // 2], ",".join([*legacy[: BATCH - len(new)], *new])


async def _created(client: httpx.AsyncClient, path: str, external_task_id: str) -> str:
    """Create a task (a new-generation body on a new-generation path); return its platform id."""
    body = new_body(external_task_id) if path.endswith(NEW_ACTION) else text2video_body(external_task_id)
    answer = await client.post(path, json=body)
    if answer.status_code != 200:
        raise RuntimeError(f"a create to count GETs of failed: {answer.status_code} {answer.text}")
    platform_id: str = answer.json()["data"]["platform_id"]
    return platform_id


async def _all_final(client: httpx.AsyncClient, legacy: list[str], new: list[str]) -> bool:
    page = (await client.get(GATEWAY_PATH, params={"pageSize": len(legacy)})).json()["data"]
    batch = (await client.get(TASKS_PATH, params={"task_ids": ",".join(new)})).json()["data"]
    legacy_final = len(page) == len(legacy) and all(task["task_status"] in FINAL for task in page)
    return legacy_final and all(task["status"] in ("succeeded", "failed") for task in batch)


async def probe(directory: Path, key: str, platform_id: str, batch: str, requests: int, submits: int) -> None:
    """Run every phase, each between two hand-overs to the parent (a line out, a line back), which dumps the
    counts at each."""
    log_stream = (directory / "gateway.log").open("a", encoding="utf-8")
    logging.getLogger().addHandler(logs.log_handler("text", log_stream))
    logging.getLogger().setLevel(logging.INFO)
    sandbox = sandbox_factory(SLOW_SPEED)()
    gateway = _gateway(directory, sandbox, worker=False)
    token = TokenCache(ttl_s=3600).token(ACCOUNT.access_key, ACCOUNT.secret_key)
    async with AsyncExitStack() as stack:
        await _lifespan(stack, sandbox)
        await _lifespan(stack, gateway)
        signed_in = {"Authorization": f"Bearer {key}"}
        bare = await stack.enter_async_context(_client(baseline.app, "http://bare"))
        through = await stack.enter_async_context(_client(gateway, "http://gateway", signed_in))
        direct = await stack.enter_async_context(_client(sandbox, SANDBOX_URL, {"Authorization": f"Bearer {token}"}))
        numbered = iter(range(10**9))

        async def create(client: httpx.AsyncClient, path: str) -> None:
            # An external id of its own: one of the stored tasks' (`counted-N`) would be answered as that earlier
            # task, with no create at all.
            answer = await client.post(path, json=text2video_body(f"counted-submit-{next(numbered)}"))
            if answer.status_code != 200:
                raise RuntimeError(f"a counted create failed: {answer.status_code} {answer.text}")

        async def get(client: httpx.AsyncClient, path: str) -> None:
            if (answer := await client.get(path)).status_code != 200:
                raise RuntimeError(f"a counted GET failed: {answer.status_code} {answer.text}")

        in_flight: list[str] = []  # created once the pages are counted, so they hold finished tasks only

        async def get_in_flight() -> None:
            if not in_flight:
                answer = await through.post(GATEWAY_PATH, json=text2video_body("counted-in-flight"))
                in_flight.append(answer.json()["data"]["platform_id"])
            await get(through, f"{GATEWAY_PATH}/{in_flight[0]}")

        phases: dict[str, tuple[int, Callable[[], Awaitable[None]]]] = {
            "handover": (0, lambda: get(bare, "/")),
            "bare_get": (requests, lambda: get(bare, f"{GATEWAY_PATH}/1")),
            "finished_get": (requests, lambda: get(through, f"{GATEWAY_PATH}/{platform_id}")),
            "page_30": (requests, lambda: get(through, f"{GATEWAY_PATH}?pageNum=1&pageSize={PAGE}")),
            "batch_20": (requests, lambda: get(through, f"{TASKS_PATH}?task_ids={batch}")),
            "inflight_get": (requests, get_in_flight),
            "submit": (submits, lambda: create(through, GATEWAY_PATH)),
            "upstream_create": (submits, lambda: create(direct, PATH)),
        }
        for count, step in phases.values():
            for _ in range(WARM_UP):
                await step()
            _hand_over()  # the parent dumps: the counts from here on are the phase's
            for _ in range(count):
                await step()
            _hand_over()  # the parent dumps the phase's counts


def _hand_over() -> None:
    print(READY, flush=True)
    sys.stdin.readline()


def _totals(dump: Path) -> int:
    found = re.search(r"^totals:\s+(\d+)", dump.read_text(), re.MULTILINE)
    if found is None:
        raise RuntimeError(f"no totals in {dump}")
    return int(found.group(1))


def _read_line(stream: IO[str], process: subprocess.Popen[str], log: Path) -> None:
    if stream.readline().strip() != READY:
        process.wait(timeout=60)
        raise RuntimeError(f"the probe stopped: {log.read_text(errors='replace')[-2000:]}")


def count_instructions(*, requests: int, submits: int) -> dict[str, float]:
    """Prepare a database, run the probe under callgrind and turn its dumps into instructions per request."""
    for tool in ("valgrind", "callgrind_control"):
        if shutil.which(tool) is None:
            raise RuntimeError(f"{tool} is needed: apt-get install valgrind")
    with tempfile.TemporaryDirectory(prefix="kling-bench-instructions-") as name:
        directory = Path(name)
        key, platform_id, batch = asyncio.run(prepare(directory))
        out = directory / "callgrind.out"
        log = directory / "probe.log"
        command = ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}"]
        command += [sys.executable, "-m", "benchmarks.instructions", "--probe", str(directory), key, platform_id, batch]
        command += [str(requests), str(submits)]
        with log.open("w") as errors:
            process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errors, text=True)
        assert process.stdin is not None
        assert process.stdout is not None
        pid = str(process.pid)
        try:
            for index in range(2 * len(PHASES)):
                _read_line(process.stdout, process, log)
                control = ["-i", "on"] if index == 0 else ["-d"]
                subprocess.run(["callgrind_control", *control, pid], check=True, capture_output=True)
                if index == 0:  # counting starts here; the first dump comes at the phase's end
                    subprocess.run(["callgrind_control", "-z", pid], check=True, capture_output=True)
                process.stdin.write("\n")
                process.stdin.flush()
            process.stdin.close()
            process.wait(timeout=300)
        finally:
            if process.poll() is None:
                process.kill()
        dumps = sorted(directory.glob("callgrind.out.*"), key=lambda path: int(path.suffix[1:]))
        phase_dumps = dumps[0::2]  # each phase's end; the dumps between phases hold the next warm-up
        if len(phase_dumps) != len(PHASES):
            raise RuntimeError(f"callgrind wrote {len(dumps)} dumps, {2 * len(PHASES) - 1} expected")
        counted = {phase: _totals(dump) for phase, dump in zip(PHASES, phase_dumps, strict=True)}
    handover = counted["handover"]

    def per(phase: str, count: int) -> float:
        return (counted[phase] - handover) / count

    return {
        "instructions_per_bare_get": per("bare_get", requests),
        "instructions_per_finished_get": per("finished_get", requests),
        "instructions_per_inflight_get": per("inflight_get", requests),
        "instructions_per_page_30": per("page_30", requests),
        "instructions_per_batch_20": per("batch_20", requests),
        "instructions_per_submit": per("submit", submits) - per("upstream_create", submits),
        "instructions_per_upstream_create": per("upstream_create", submits),
    }


def instructions_figures(*, quick: bool) -> dict[str, float]:
    """Instructions per request of each phase, fewer requests with `quick` (the count hardly moves with them)."""
    return count_instructions(requests=50, submits=10) if quick else count_instructions(requests=400, submits=80)


def main() -> None:
    """Print the figures, or, with --probe, be the probe process."""
    command = argparse.ArgumentParser(prog="python -m benchmarks.instructions", description=__doc__.splitlines()[0])
    command.add_argument("--quick", action="store_true", help="50 GETs and 10 submits a phase")
    probe_arguments = ("DIR", "KEY", "TASK", "BATCH", "REQUESTS", "SUBMITS")
    command.add_argument("--probe", nargs=len(probe_arguments), metavar=probe_arguments, help="internal")
    args = command.parse_args()
    if args.probe:
        directory, key, task, batch, requests, submits = args.probe
        asyncio.run(probe(Path(directory), key, task, batch, int(requests), int(submits)))
        return
    for name, value in instructions_figures(quick=args.quick).items():
        print(f"{name}: {value:,.0f}")


if __name__ == "__main__":
    main()
