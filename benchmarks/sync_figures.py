"""Show how soon the gateway sees upstream status changes with 100 000 tasks in flight, at what cost in upstream
requests, and how much memory the API and the worker hold meanwhile.

    python -m benchmarks.sync_figures [--quick] [--json FILE]

A sandbox in its own process holds the tasks, spread over 4 accounts (each a channel of the gateway); a fresh
PostgreSQL database gets the same tasks in flight by COPY; a gateway API (`serve --no-worker`) and one sync worker
(`worker`) run as processes of their own. Each task's status changes are spread over the run, each within the
task's expected run time, so the base poll interval applies throughout. Two windows are measured one after the
other: polling alone, then with the sandbox calling the gateway back on every change. A change's delay is the
moment the gateway stored it (its `tasks.updated_at`) minus the moment the sandbox's task moved; a change not
stored when the window is read counts with the delay it has so far. The tasks table is vacuumed every
VACUUM_EVERY_S meanwhile, and the database dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import random
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import asyncpg
import httpx
import orjson
from rich.console import Console
from rich.table import Table
from starlette.types import Receive, Scope, Send
from ulid import ULID

from benchmarks.harness import POSTGRES_SERVER, ServerProcess, free_port, postgres_admin, wait_answering
from kling_gateway.channels.admin import add_channel
from kling_gateway.clock import now_ms
from kling_gateway.kling.schemas import ACTIONS, Family, parse_create_body
from kling_gateway.sandbox import Account, SandboxConfig, create_app, wire
from kling_gateway.sandbox.callbacks import CallbackDispatcher
from kling_gateway.sandbox.lifecycle import Timeline
from kling_gateway.settings import SyncConfig
from kling_gateway.store.database import Database
from kling_gateway.store.migrate import upgrade
from kling_gateway.upstream.callbacks import callback_url
from kling_gateway.users.service import create_user

CHANNELS = 4
SPEC = ACTIONS[(Family.VIDEOS, "text2video")]
STATS_PATH = "/bench/stats"  # the benchmark's own routes in front of the sandbox, not part of the Kling API
CALLBACKS_PATH = "/bench/callbacks"
RATE_MICROS = 1_000_000  # one credit, one yuan
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 15.0
MIN_SAMPLES = 20  # a window with fewer status changes tells nothing
# Every look at a task rewrites its row (its next look), so 100 000 in flight leave 20 000 dead rows a second. A
# deployment that size needs autovacuum to visit the tasks table this often (autovacuum_naptime); the benchmark
# does it itself, as the test server may run with autovacuum off.
VACUUM_EVERY_S = 15.0

# Targets: every change visible within 2 poll intervals; at most 1 upstream request per 100 tasks in flight per
# poll interval; with callbacks, half the changes visible within 100 ms; at most 300 MB per process.
VISIBLE_INTERVALS = 2.0
REQUESTS_PER_100_TASKS = 1.0
CALLBACK_P50_MS = 100.0
RSS_MB = 300.0

# How the tasks move: they were created over the last CREATED_SPREAD; half are already processing. Over the
# horizon the submitted ones start processing and a share of the processing ones finish (one in ten of those
# fails); the rest finish after it, so nearly every task stays in flight to the end of the run.
CREATED_SPREAD_MS = 10 * 60_000
FINISHING_SHARE = 0.2
FAILING_SHARE = 0.1


@dataclass(frozen=True)
class Size:
    """How big one run is and how long each part of it lasts."""

    tasks: int
    poll_interval_s: float
    horizon_s: float  # over which the tasks' status changes are spread
    warm_up_s: float  # at most, for the worker's first sweep over every task
    window_s: float  # each measured window

    @property
    def grace_s(self) -> float:
        """How long after a window its changes may still become visible: past the target, so a miss shows."""
        return (VISIBLE_INTERVALS + 1) * self.poll_interval_s


FULL = Size(tasks=100_000, poll_interval_s=SyncConfig().poll_interval_s, horizon_s=1200, warm_up_s=180, window_s=150)
QUICK = Size(tasks=10_000, poll_interval_s=2.0, horizon_s=300, warm_up_s=30, window_s=20)


@dataclass(frozen=True)
class TaskPlan:
    """One task as both sides hold it: its channel, ids and the moments its status changes upstream."""

    channel: int  # index into the accounts
    platform_id: str
    created_ms: int
    processing_ms: int
    finished_ms: int
    fails: bool

    def status_at(self, moment_ms: int) -> tuple[str, int]:
        """Say the task's upstream status at a moment and when it entered it."""
        if moment_ms < self.processing_ms:
            return "submitted", self.created_ms
        if moment_ms < self.finished_ms:
            return "processing", self.processing_ms
        return ("failed" if self.fails else "succeed"), self.finished_ms


def plan_tasks(count: int, *, now_ms: int, horizon_ms: int, seed: int = 1) -> list[TaskPlan]:
    """Plan `count` in-flight tasks, oldest first, over CHANNELS channels in turn (see the module constants)."""
    rng = random.Random(seed)
    plans = []
    for index in range(count):
        created = now_ms - CREATED_SPREAD_MS + index * CREATED_SPREAD_MS // count
        if rng.random() < 0.5:  # processing already
            processing = rng.randint(created, now_ms - 1)
            finishing = rng.random() < FINISHING_SHARE
            finished = now_ms + rng.randint(1, horizon_ms) + (0 if finishing else horizon_ms)
        else:
            processing = now_ms + rng.randint(1, horizon_ms)
            finished = processing + horizon_ms + rng.randint(1, horizon_ms)
        platform_id = f"video_{ULID.from_timestamp(created / 1000)}"
        plans.append(
            TaskPlan(index % CHANNELS, platform_id, created, processing, finished, rng.random() < FAILING_SHARE)
        )
    return plans


# --- the sandbox ----------------------------------------------------------------------------------------------


def accounts(seed: int = 1) -> tuple[Account, ...]:
    """Make the sandbox's accounts, one per channel, with fixed keys."""
    rng = random.Random(seed)
    return tuple(
        Account(access_key=f"ak_sync_{n}", secret_key=f"sk_sync_{n}_{rng.getrandbits(128):032x}")
        for n in range(CHANNELS)
    )


def preload(plans: Sequence[TaskPlan], keys: Sequence[Account], gateway_url: str) -> tuple[Any, list[str]]:
    """Build a sandbox holding the planned tasks (each with its callback URL on the gateway, for when callbacks
    are turned on); return it and the upstream task ids, in plan order."""
    app = create_app(SandboxConfig(accounts=tuple(keys), video_concurrency=10**9, resource_pack_units=10**12, seed=1))
    sandbox = app.state.sandbox
    task_ids = []
    for plan in plans:
        account = keys[plan.channel]
        url = callback_url(gateway_url, account.secret_key, plan.platform_id)
        fields = {"prompt": "a fox runs through snow", "external_task_id": plan.platform_id, "callback_url": url}
        body = parse_create_body(Family.VIDEOS, "text2video", fields)
        task = sandbox.create_task(account.access_key, SPEC, body, base_url="http://sandbox", now_ms=plan.created_ms)
        failure = "Task processing failed, please retry later" if plan.fails else None
        task.timeline = Timeline(plan.created_ms, plan.processing_ms, plan.finished_ms, failure)
        task_ids.append(task.task_id)
    return app, task_ids


class CountedSandbox:
    """The sandbox behind a counter of the API requests it serves, with the benchmark's two routes: the counts,
    and turning on callbacks for every change still to come."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.counts: Counter[str] = Counter()
        self.dispatcher: CallbackDispatcher | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path: str = scope["path"]
            if path == STATS_PATH:
                return await _answer(send, dict(self.counts))
            if path == CALLBACKS_PATH:
                return await _answer(send, {"scheduled": self._turn_on_callbacks()})
            if path.startswith("/v1/"):
                self.counts["requests"] += 1
                self.counts["lists" if path.count("/") == 3 else "others"] += 1
        await self.app(scope, receive, send)

    def _turn_on_callbacks(self) -> int:
        if self.dispatcher is None:
            self.dispatcher = CallbackDispatcher(wire.task_object)
        moment = now_ms()
        tasks = self.app.state.sandbox.tasks.all_tasks()
        for task in tasks:
            self.dispatcher.schedule(task, after_ms=moment)
        return len(tasks)


async def _answer(send: Send, data: Mapping[str, Any]) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": orjson.dumps(data)})


# --- the gateway's database -----------------------------------------------------------------------------------

COLUMNS = (
    "platform_id", "user_id", "family", "action", "body_hash", "request_json", "pack_type", "slots", "channel_id",
    "send_attempts", "upstream_task_id", "status", "status_msg", "task_info_json", "result_json", "watermark",
    "rate_micros", "hold_micros", "created_at", "updated_at", "next_sync_at", "sync_failures", "model", "seconds",
    "width", "height", "fps", "expected_ms",
)  # fmt: skip


def task_rows(
    plans: Sequence[TaskPlan], task_ids: Sequence[str], channel_ids: Sequence[int], *, user_id: int, at_ms: int
) -> Iterator[tuple[Any, ...]]:
    """Make the gateway's rows of the planned tasks as they stand at `at_ms`, all in flight and due, in COPY
    order of COLUMNS.

    A task's expected run time is its planned one, so no task runs past it and the base interval applies.
    """
    request = orjson.dumps({"model_name": "kling-v1-6", "prompt": "a fox runs through snow"}).decode()
    for plan, task_id in zip(plans, task_ids, strict=True):
        status, since_ms = plan.status_at(min(at_ms, plan.finished_ms - 1))  # one finished since: not seen yet
        yield (
            plan.platform_id, user_id, "videos", "text2video", "0" * 64, request, "video", 1,
            channel_ids[plan.channel], 1, task_id, status, "", "{}", "{}", False, RATE_MICROS, RATE_MICROS,
            plan.created_ms, since_ms, at_ms, 0, "kling-v1-6", 5, 1280, 720, 24, plan.finished_ms - plan.created_ms,
        )  # fmt: skip


async def load_database(url: str, plans: Sequence[TaskPlan], task_ids: Sequence[str], sandbox_url: str) -> None:
    """Give a fresh database the schema, a user holding every task's price, a channel per account and the tasks."""
    db = Database(url)
    try:
        await upgrade(db)
        async with db.session() as session, session.begin():
            user = await create_user(session, name="sync-benchmark", balance_micros=10**15)
            channel_ids = []
            for index, account in enumerate(accounts()):
                channel = await add_channel(
                    session,
                    name=f"sync-{index}",
                    base_url=sandbox_url,
                    access_key=account.access_key,
                    secret_key=account.secret_key,
                    video_concurrency=10**6,
                )
                channel_ids.append(channel.id)
    finally:
        await db.dispose()
    connection = await asyncpg.connect(_dsn(url))
    try:
        rows = task_rows(plans, task_ids, channel_ids, user_id=user.id, at_ms=now_ms())
        await connection.copy_records_to_table("tasks", records=rows, columns=COLUMNS)
        await connection.execute("UPDATE users SET held_micros = $1 WHERE id = $2", len(plans) * RATE_MICROS, user.id)
        await connection.execute("VACUUM (ANALYZE) tasks")
    finally:
        await connection.close()


async def gateway_view(url: str) -> dict[str, tuple[str, int]]:
    """Read every task's status and `updated_at` as the gateway stores them, by platform id."""
    connection = await asyncpg.connect(_dsn(url))
    try:
        rows = await connection.fetch("SELECT platform_id, status, updated_at FROM tasks")
        return {row["platform_id"]: (row["status"], row["updated_at"]) for row in rows}
    finally:
        await connection.close()


async def overdue_count(url: str, *, before_ms: int) -> int:
    """Count the tasks in flight whose next look was due before a moment."""
    connection = await asyncpg.connect(_dsn(url))
    try:
        query = "SELECT count(*) FROM tasks WHERE status IN ('submitted', 'processing') AND next_sync_at < $1"
        return int(await connection.fetchval(query, before_ms))
    finally:
        await connection.close()


async def _vacuum(url: str) -> None:
    connection = await asyncpg.connect(_dsn(url))
    try:
        await connection.execute("VACUUM tasks")
    finally:
        await connection.close()


def _dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


# --- the gateway's processes ----------------------------------------------------------------------------------


class GatewayProcess:
    """A `kling-gateway` command in a process of its own, logging to a file."""

    def __init__(self, arguments: Sequence[str], env: Mapping[str, str], log_path: Path) -> None:
        self._log: IO[bytes] = log_path.open("wb")
        self._log_path = log_path
        self.process = subprocess.Popen(
            [sys.executable, "-m", "kling_gateway", *arguments], stdout=self._log, stderr=subprocess.STDOUT, env=env
        )

    def check_alive(self) -> None:
        """Raise, with the end of its log, if the process has exited."""
        if self.process.poll() is not None:
            raise RuntimeError(f"{self._log_path.name} exited:\n{self._log_path.read_text(errors='replace')[-2000:]}")

    def rss_mb(self) -> float:
        """Read the process's resident memory now."""
        return rss_mb(self.process.pid)

    def stop(self) -> None:
        """Stop the process with SIGTERM, or SIGKILL if it does not end in time."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()


def rss_mb(pid: int, *, field: str = "VmRSS") -> float:
    """Read a process's resident memory (or, with field="VmHWM", its peak) from /proc, in MB (2²⁰ bytes)."""
    return read_status_kb(Path(f"/proc/{pid}/status").read_text(), field) / 1024


def read_status_kb(status: str, field: str) -> int:
    """Find one `Name:   123 kB` line of a /proc/PID/status text."""
    for line in status.splitlines():
        name, _, value = line.partition(":")
        if name == field:
            return int(value.split()[0])
    raise ValueError(f"no {field} line in the process status")


# --- the figures ----------------------------------------------------------------------------------------------


def percentile(values: Sequence[float], share: float) -> float:
    """Return the nearest-rank percentile of `values`, `share` from 0 to 1 (e.g. 0.99)."""
    if not values:
        raise ValueError("no values")
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def requests_per_100_tasks(requests: int, *, window_s: float, interval_s: float, tasks_in_flight: int) -> float:
    """Turn a window's upstream requests into requests per poll interval for every 100 tasks in flight."""
    return requests / (window_s / interval_s) / (tasks_in_flight / 100)


_RANK = {"submitted": 1, "processing": 2, "succeed": 3, "failed": 3}


def visibility_delays_ms(
    plans: Sequence[TaskPlan], view: Mapping[str, tuple[str, int]], *, start_ms: int, end_ms: int, read_ms: int
) -> list[int]:
    """Measure how long after its move each task that last moved upstream within [start_ms, end_ms) took to show
    that status on the gateway; one still behind at `read_ms` counts with the delay it has by then. A task the
    gateway shows moved on again since is left out: the moment it showed this status is gone."""
    delays = []
    for plan in plans:
        status, moved_ms = plan.status_at(end_ms - 1)
        if not start_ms <= moved_ms < end_ms:
            continue
        shown, updated_ms = view[plan.platform_id]
        if shown == status:
            delays.append(updated_ms - moved_ms)
        elif _RANK[shown] < _RANK[status]:
            delays.append(read_ms - moved_ms)
    return delays


@dataclass(frozen=True)
class Window:
    """What one measured window saw: the status changes' delays and the upstream requests."""

    delays_ms: list[int]
    requests: int
    lists: int
    seconds: float


@dataclass
class Cluster:
    """One run's sandbox, database and gateway processes, and the tasks they hold."""

    size: Size
    plans: Sequence[TaskPlan]
    database_url: str
    sandbox_url: str
    api: GatewayProcess
    worker: GatewayProcess
    vacuumed: list[float] = field(default_factory=lambda: [time.monotonic()])  # when, by time.monotonic()

    def counts(self) -> dict[str, int]:
        """Read the sandbox's request counts."""
        data: dict[str, int] = httpx.get(f"{self.sandbox_url}{STATS_PATH}", timeout=30).json()
        return data

    def wait(self, seconds: float) -> None:
        """Sleep, checking every second that the gateway's processes are still up, and vacuuming the tasks
        table every VACUUM_EVERY_S."""
        deadline = time.monotonic() + seconds
        while deadline > time.monotonic():
            self.api.check_alive()
            self.worker.check_alive()
            if time.monotonic() - self.vacuumed[-1] >= VACUUM_EVERY_S:
                asyncio.run(_vacuum(self.database_url))
                self.vacuumed.append(time.monotonic())
            time.sleep(max(0.0, min(1.0, deadline - time.monotonic())))

    def warm_up(self) -> float:
        """Wait until the worker has looked at every task once (nothing is overdue by a poll interval), at least
        two poll intervals and at most the size's warm-up; return how long it took."""
        began = time.monotonic()
        interval_ms = round(self.size.poll_interval_s * 1000)
        self.wait(2 * self.size.poll_interval_s)
        while time.monotonic() - began < self.size.warm_up_s:
            if asyncio.run(overdue_count(self.database_url, before_ms=now_ms() - interval_ms)) == 0:
                break
            self.wait(1.0)
        return time.monotonic() - began

    def window(self) -> Window:
        """Measure one window: count the upstream requests during it, then, a grace later, read the delays of the
        status changes within it."""
        before, start_ms, began = self.counts(), now_ms(), time.monotonic()
        self.wait(self.size.window_s)
        after, end_ms, seconds = self.counts(), now_ms(), time.monotonic() - began
        self.wait(self.size.grace_s)
        view = asyncio.run(gateway_view(self.database_url))
        delays = visibility_delays_ms(self.plans, view, start_ms=start_ms, end_ms=end_ms, read_ms=now_ms())
        return Window(delays, after["requests"] - before["requests"], after["lists"] - before["lists"], seconds)

    def in_flight(self) -> int:
        """Count the tasks the gateway holds in flight now."""
        view = asyncio.run(gateway_view(self.database_url))
        return sum(1 for status, _ in view.values() if status in ("submitted", "processing"))


def sync_figures(*, quick: bool, say: Callable[[str], None] = print) -> dict[str, float]:
    """Run the sync and memory benchmark at full or quick size; return its figures by name."""
    return measure(QUICK if quick else FULL, say=say)


def measure(size: Size, *, say: Callable[[str], None] = print) -> dict[str, float]:
    """Set up the sandbox, database and gateway processes, measure the two windows and the memory, tear down;
    return the figures by name."""
    began = time.monotonic()
    gateway_port = free_port()
    gateway_url = f"http://127.0.0.1:{gateway_port}"
    plans = plan_tasks(size.tasks, now_ms=now_ms(), horizon_ms=round(size.horizon_s * 1000))
    app, task_ids = preload(plans, accounts(), gateway_url)
    say(f"sandbox preloaded with {size.tasks:,} tasks at {time.monotonic() - began:.0f} s")
    name = f"kg_bench_sync_{time.strftime('%Y%m%d_%H%M%S')}_{os.getpid()}"
    url = f"postgresql+asyncpg://{POSTGRES_SERVER}/{name}"
    work_dir = Path(tempfile.mkdtemp(prefix="kling-sync-bench-"))
    processes: list[GatewayProcess] = []
    asyncio.run(postgres_admin(f'CREATE DATABASE "{name}"'))
    try:
        with ServerProcess(lambda: CountedSandbox(app)) as sandbox:
            asyncio.run(load_database(url, plans, task_ids, sandbox.url))
            say(f"database loaded at {time.monotonic() - began:.0f} s")
            env = os.environ | {
                "KLING_GATEWAY_LOG_LEVEL": "warning",
                "KLING_GATEWAY_DATA_DIR": str(work_dir),
                "KLING_GATEWAY_PUBLIC_URL": gateway_url,
                "KLING_GATEWAY_SYNC__POLL_INTERVAL_S": str(size.poll_interval_s),
            }
            serve = ["serve", "--workers", "1", "--no-worker", "--database-url", url, "--port", str(gateway_port)]
            processes.append(GatewayProcess(serve, env, work_dir / "api.log"))
            processes.append(GatewayProcess(["worker", "--database-url", url], env, work_dir / "worker.log"))
            cluster = Cluster(size, plans, url, sandbox.url, api=processes[0], worker=processes[1])
            wait_answering(gateway_url, check_alive=cluster.api.check_alive, timeout_s=START_TIMEOUT_S)
            say(f"worker's first sweep took {cluster.warm_up():.0f} s")
            polled = cluster.window()
            say(f"polling window: {len(polled.delays_ms)} changes, {polled.requests} upstream requests")
            httpx.post(f"{sandbox.url}{CALLBACKS_PATH}", timeout=60).raise_for_status()
            called = cluster.window()
            say(f"callback window: {len(called.delays_ms)} changes; logs in {work_dir}")
            in_flight = cluster.in_flight()
            pids = {"gateway": cluster.api.process.pid, "worker": cluster.worker.process.pid}
            rss = {f"rss_{name}_mb": rss_mb(pid) for name, pid in pids.items()}
            peaks = {f"rss_{name}_peak_mb": rss_mb(pid, field="VmHWM") for name, pid in pids.items()}
    finally:
        for process in processes:
            process.stop()
        asyncio.run(postgres_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    return (
        summarize(size, polled, called)
        | rss
        | peaks
        | {
            "sync_tasks_in_flight_at_end": float(in_flight),
            "sync_benchmark_s": time.monotonic() - began,
        }
    )


def summarize(size: Size, polled: Window, called: Window) -> dict[str, float]:
    """Turn the two windows into the named figures."""
    for window, what in ((polled, "polling"), (called, "callback")):
        if len(window.delays_ms) < MIN_SAMPLES:
            raise RuntimeError(f"only {len(window.delays_ms)} status changes in the {what} window")
    interval = size.poll_interval_s
    return {
        "sync_tasks_in_flight": float(size.tasks),
        "sync_poll_interval_s": interval,
        "sync_window_s": polled.seconds,
        "sync_changes_measured": float(len(polled.delays_ms)),
        "sync_upstream_requests_per_minute": polled.requests / polled.seconds * 60,
        "sync_upstream_list_share": polled.lists / max(1, polled.requests),
        "sync_upstream_requests_per_100_tasks_per_interval": requests_per_100_tasks(
            polled.requests, window_s=polled.seconds, interval_s=interval, tasks_in_flight=size.tasks
        ),
        "sync_visible_p50_s": percentile(polled.delays_ms, 0.5) / 1000,
        "sync_visible_p99_s": percentile(polled.delays_ms, 0.99) / 1000,
        "sync_visible_max_s": max(polled.delays_ms) / 1000,
        "sync_callback_changes_measured": float(len(called.delays_ms)),
        "sync_callback_visible_p50_ms": float(percentile(called.delays_ms, 0.5)),
        "sync_callback_visible_p99_ms": float(percentile(called.delays_ms, 0.99)),
    }


def targets(figures: Mapping[str, float]) -> dict[str, tuple[str, bool]]:
    """Say each target figure's bound and whether it is met."""
    interval = figures["sync_poll_interval_s"]
    bounds = {
        "sync_upstream_requests_per_100_tasks_per_interval": REQUESTS_PER_100_TASKS,
        "sync_visible_p99_s": VISIBLE_INTERVALS * interval,
        "sync_callback_visible_p50_ms": CALLBACK_P50_MS,
        "rss_gateway_mb": RSS_MB,
        "rss_worker_mb": RSS_MB,
    }
    return {name: (f"≤ {bound:g}", figures[name] <= bound) for name, bound in bounds.items()}


def main() -> None:
    """Run the benchmark and print its figures with the targets."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help=f"{QUICK.tasks:,} tasks and short windows")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the figures to FILE")
    args = parser.parse_args()
    console = Console()
    figures = sync_figures(quick=args.quick, say=console.print)
    verdicts = targets(figures)
    table = Table("figure", "value", "target", "result", title="Sync and memory")
    for name, value in figures.items():
        bound, met = verdicts.get(name, ("", None))
        result = "" if met is None else "[green]PASS[/green]" if met else "[red]MISS[/red]"
        table.add_row(name, f"{value:,.4g}", bound, result)
    console.print(table)
    if args.json:
        args.json.write_bytes(orjson.dumps(figures, option=orjson.OPT_INDENT_2))


if __name__ == "__main__":
    main()
