"""Measure the gateway's own API next to the fastest bare server: task queries, lists, batches and two workers.

The gateway runs as `kling-gateway serve` runs by default (its default logging with the access log on, metrics on,
the sync worker inside), as a command of its own on loopback, one API process for the ratios and `--workers 2` for
scaling; its output goes to a file, as a deployment's would to its log collector. The sandbox upstream runs in a
process of its own; the gateway's database is SQLite in a temporary directory (PostgreSQL for submits too,
benchmarks/submit_figures.py), with one sandbox channel, one user and one `sk-` key.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import httpx

from benchmarks.harness import POSTGRES_SERVER, CommandServer, Load, ServerProcess, free_port, postgres_admin, wrk
from kling_gateway.api import create_app as create_gateway
from kling_gateway.billing.money import yuan_to_micros
from kling_gateway.channels.admin import add_channel
from kling_gateway.keys.service import create_key
from kling_gateway.sandbox import Account, SandboxConfig
from kling_gateway.sandbox import create_app as create_sandbox
from kling_gateway.settings import ENV_PREFIX, Settings, SyncConfig
from kling_gateway.store.database import Database, sqlite_url
from kling_gateway.store.migrate import upgrade
from kling_gateway.users.service import create_user

ACCOUNT = Account(access_key="ak_benchmark", secret_key="sk_benchmark_" + "0" * 40, api_key="kling_benchmark_key")
PATH = "/v1/videos/text2video"
GATEWAY_PATH = "/kling" + PATH
NEW_ACTION = "text-to-video/kling-3.0-turbo"  # the new generation's create, at `/kling/{NEW_ACTION}` on the gateway
TASKS_PATH = "/kling/tasks"  # the new generation's batch query: `?task_ids=a,b,…`, at most 20 ids
BATCH = 20
FAST_SPEED = 1000.0  # a 5 s std clip (about 120 s upstream) finishes in about 0.1 s
SLOW_SPEED = 0.001  # tasks stay in flight for the whole run
QUICK_SYNC = SyncConfig(poll_interval_s=0.05, idle_sleep_s=0.02)  # for the in-process gateways of other parts
ROOMY = 10**9  # concurrency slots no run comes near
FINISH_TIMEOUT_S = 300.0
FINAL = ("succeed", "failed")
ID_FORMS = ("task_id", "platform_id", "external_task_id")
SCALING_FORM = "platform_id"  # the id form the two-worker scaling and the cost of metrics are measured on
ROUNDS = 2  # loads of servers compared with each other, taken in turns; the best of each counts
Backend = Literal["sqlite", "postgresql"]


@dataclass(frozen=True)
class Plan:
    """How long and how much to measure: wrk seconds per path, tasks stored, sequential submits."""

    seconds: int
    stored_tasks: int
    submits: int

    @classmethod
    def of(cls, *, quick: bool) -> Plan:
        """The full plan, or the short one of `--quick`."""
        return cls(seconds=2, stored_tasks=500, submits=50) if quick else cls(seconds=5, stored_tasks=1000, submits=200)


@dataclass(frozen=True)
class Latency:
    """Percentiles of sequential requests, in milliseconds."""

    p50_ms: float
    p99_ms: float

    @classmethod
    def of(cls, samples_ms: list[float]) -> Latency:
        """Read the median and the 99th percentile of the samples."""
        cuts = statistics.quantiles(samples_ms, n=100, method="inclusive")
        return cls(p50_ms=statistics.median(samples_ms), p99_ms=cuts[98])


@dataclass(frozen=True)
class ApiFigures:
    """Everything one run measured: each bare server's load (or why it has none), the gateway's wrk loads by
    label, and, per submit kind (`legacy_sqlite`, `new_postgresql`, …), creates through the gateway and direct."""

    baselines: dict[str, Load | str]
    loads: dict[str, Load]
    submits: dict[str, tuple[Latency, Latency]]


@dataclass(frozen=True)
class Gateway:
    """A gateway's database, the `sk-` key of its one user, and a directory for its processes' files."""

    database_url: str
    key: str
    directory: Path

    def factory(self, *, worker: bool) -> Callable[[], Any]:
        """Return a factory of this gateway's app for a server process of the harness, quiet and quick to sync."""
        settings = Settings(database_url=self.database_url, log_level="error", sync=QUICK_SYNC)
        return lambda: create_gateway(settings, run_worker=worker)

    @property
    def headers(self) -> dict[str, str]:
        """Headers that authenticate as the user."""
        return {"Authorization": f"Bearer {self.key}"}

    def serve(self, *, workers: int = 1, settings: Mapping[str, str] | None = None) -> CommandServer:
        """`kling-gateway serve --workers N` on this database, every other setting at its default unless named in
        `settings` (e.g. {"METRICS__ENABLED": "false"}); started in the directory, so no `.env` file of the
        caller's leaks in."""
        port = free_port()
        env = {name: value for name, value in os.environ.items() if not name.startswith(ENV_PREFIX)}
        env |= {f"{ENV_PREFIX}DATA_DIR": str(self.directory)}
        env |= {f"{ENV_PREFIX}{name}": value for name, value in (settings or {}).items()}
        command = [sys.executable, "-m", "kling_gateway", "serve", "--workers", str(workers), "--port", str(port)]
        command += ["--database-url", self.database_url]
        log_path = self.directory / f"serve-{port}.log"
        return CommandServer(command, url=f"http://127.0.0.1:{port}", log_path=log_path, env=env, cwd=self.directory)


def sandbox_factory(speed: float) -> Callable[[], Any]:
    """Return a factory of a sandbox with one roomy account running at `speed`."""
    config = SandboxConfig(
        accounts=(ACCOUNT,),
        speed=speed,
        video_concurrency=ROOMY,
        resource_pack_units=10**12,
        seed=1,
    )
    return lambda: create_sandbox(config)


async def set_up(database_url: str, sandbox_url: str) -> str:
    """Create the schema, a channel for the sandbox account (its key pair and its API key, so both generations
    go there) and a user with a key; return the key."""
    db = Database(database_url)
    try:
        await upgrade(db)
        async with db.session() as session, session.begin():
            await add_channel(
                session,
                name="sandbox",
                base_url=sandbox_url,
                access_key=ACCOUNT.access_key,
                secret_key=ACCOUNT.secret_key,
                api_key=ACCOUNT.api_key,
                video_concurrency=ROOMY,
                image_concurrency=ROOMY,
                try_on_concurrency=ROOMY,
            )
            user = await create_user(session, name="benchmark", balance_micros=yuan_to_micros("100000000"))
            return (await create_key(session, user_id=user.id, name="benchmark"))[1]
    finally:
        await db.dispose()


@contextmanager
def new_gateway(sandbox_url: str, backend: Backend = "sqlite") -> Iterator[Gateway]:
    """Set up a gateway database (a SQLite file in a temporary directory, or a scratch PostgreSQL database dropped
    after), in front of the sandbox at `sandbox_url`."""
    with tempfile.TemporaryDirectory(prefix="kling-bench-") as directory:
        if backend == "sqlite":
            database_url = sqlite_url(Path(directory))
            yield Gateway(database_url, asyncio.run(set_up(database_url, sandbox_url)), Path(directory))
            return
        name = f"kg_bench_api_{os.getpid()}_{time.monotonic_ns()}"
        database_url = f"postgresql+asyncpg://{POSTGRES_SERVER}/{name}"
        asyncio.run(postgres_admin(f"CREATE DATABASE {name}"))
        try:
            yield Gateway(database_url, asyncio.run(set_up(database_url, sandbox_url)), Path(directory))
        finally:
            asyncio.run(postgres_admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


def text2video_body(external_task_id: str) -> dict[str, Any]:
    """A small legacy create body with its own external_task_id."""
    return {"prompt": "a cat on a sofa", "external_task_id": external_task_id}


def new_body(external_task_id: str) -> dict[str, Any]:
    """A small new-generation create body with its own external id."""
    return {"prompt": "a cat on a sofa", "options": {"external_task_id": external_task_id}}


def create_task(client: httpx.Client, path: str, external_task_id: str) -> dict[str, Any]:
    """Create one task (a legacy body, or a new-generation one on a new-generation path); return the `data` of
    the answer, stopping the run on any error."""
    body = new_body(external_task_id) if path.endswith(NEW_ACTION) else text2video_body(external_task_id)
    answer = client.post(path, json=body)
    if answer.status_code != 200 or answer.json().get("code") != 0:
        raise RuntimeError(f"creating a task on {path} failed: {answer.status_code} {answer.text}")
    data: dict[str, Any] = answer.json()["data"]
    return data


def create_tasks(client: httpx.Client, path: str, count: int, prefix: str) -> list[dict[str, Any]]:
    """Create `count` tasks one after another; return the `data` of each answer."""
    return [create_task(client, path, f"{prefix}-{index}") for index in range(count)]


def unfinished(client: httpx.Client) -> int:
    """Count the user's legacy text2video tasks that are not final yet, reading every page of the list."""
    count, page = 0, 1
    while tasks := client.get(GATEWAY_PATH, params={"pageNum": page, "pageSize": 500}).json()["data"]:
        count += sum(task["task_status"] not in FINAL for task in tasks)
        page += 1
    return count


def wait_all_finished(client: httpx.Client, new_ids: Sequence[str] = ()) -> None:
    """Wait until every legacy task of the user, and each new-generation task named, is final."""
    deadline = time.monotonic() + FINISH_TIMEOUT_S
    while pending := unfinished(client) + _new_unfinished(client, new_ids):
        if time.monotonic() > deadline:
            raise RuntimeError(f"{pending} tasks were still unfinished after {FINISH_TIMEOUT_S:.0f} s")
        time.sleep(0.2)


def _new_unfinished(client: httpx.Client, ids: Sequence[str]) -> int:
    pending = 0
    for start in range(0, len(ids), BATCH):
        records = client.get(TASKS_PATH, params={"task_ids": ",".join(ids[start : start + BATCH])}).json()["data"]
        pending += len(ids[start : start + BATCH]) - sum(r["status"] in ("succeeded", "failed") for r in records)
    return pending


def id_paths(task: dict[str, Any]) -> dict[str, str]:
    """The single-task path of one legacy task by each id form."""
    ids = {
        "task_id": task["task_id"],
        "platform_id": task["platform_id"],
        "external_task_id": task["task_info"]["external_task_id"],
    }
    return {form: f"{GATEWAY_PATH}/{ids[form]}" for form in ID_FORMS}


def measure_finished(plan: Plan) -> dict[str, Load]:
    """Store finished tasks of both generations, then load single-task GETs by each id form, two list pages and
    a batch of 20 through one API process; then the cost of metrics and the gain of a second worker."""
    loads: dict[str, Load] = {}
    with (
        ServerProcess(sandbox_factory(FAST_SPEED)) as sandbox,
        new_gateway(sandbox.url) as gateway,
        gateway.serve() as server,
        httpx.Client(base_url=server.url, headers=gateway.headers, timeout=30) as client,
    ):
        legacy = create_tasks(client, GATEWAY_PATH, plan.stored_tasks, "finished")
        new = [task["platform_id"] for task in create_tasks(client, f"/kling/{NEW_ACTION}", BATCH // 2, "new")]
        wait_all_finished(client, new)
        task = client.get(f"{GATEWAY_PATH}/{legacy[len(legacy) // 2]['task_id']}").json()["data"]
        paths = id_paths(task)
        for form, path in paths.items():
            loads[f"query_finished_{form}"] = wrk(server.url + path, headers=gateway.headers, seconds=plan.seconds)
        for size in (30, 500):
            path = f"{GATEWAY_PATH}?pageNum=1&pageSize={size}"
            loads[f"list_{size}"] = wrk(server.url + path, headers=gateway.headers, seconds=plan.seconds)
        # Half of the batch legacy tasks, half new-generation ones, as a client of both would ask.
        batch = ",".join([*(row["task_id"] for row in legacy[: BATCH - len(new)]), *new])
        found = client.get(TASKS_PATH, params={"task_ids": batch}).json()["data"]
        if len(found) != BATCH:  # a figure of short answers would measure the wrong thing
            raise RuntimeError(f"the batch of {BATCH} answered {len(found)} tasks")
        batch_url = f"{server.url}{TASKS_PATH}?task_ids={batch}"
        loads["tasks_batch_20"] = wrk(batch_url, headers=gateway.headers, seconds=plan.seconds)
        scaling_path = paths[SCALING_FORM]
        loads |= best_in_turns(
            plan,
            gateway,
            scaling_path,
            {"workers_1": server, "workers_2": gateway.serve(workers=2)},
        )
        loads |= best_in_turns(
            plan,
            gateway,
            scaling_path,
            {"query_metrics_on": server, "query_metrics_off": gateway.serve(settings={"METRICS__ENABLED": "false"})},
        )
    return loads


def best_in_turns(plan: Plan, gateway: Gateway, path: str, servers: dict[str, CommandServer]) -> dict[str, Load]:
    """Load the same path on each server in turns, ROUNDS times, keeping the best load of each: their ratio is
    what tells them apart, and a busy moment of the machine hits only one round. Servers not yet started are
    started for the while and stopped after."""
    best: dict[str, Load] = {}
    started = [server for server in servers.values() if server.process is None]
    for server in started:
        server.__enter__()
    try:
        for _ in range(ROUNDS):
            for label, server in servers.items():
                load = wrk(server.url + path, headers=gateway.headers, seconds=plan.seconds)
                if label not in best or load.requests_per_s > best[label].requests_per_s:
                    best[label] = load
    finally:
        for server in started:
            server.__exit__()
    return best


def measure_inflight(plan: Plan, sandbox_url: str) -> dict[str, Load]:
    """Load single-task GETs of an in-flight task by each id form."""
    loads: dict[str, Load] = {}
    with (
        new_gateway(sandbox_url) as gateway,
        gateway.serve() as server,
        httpx.Client(base_url=server.url, headers=gateway.headers, timeout=30) as client,
    ):
        created = create_task(client, GATEWAY_PATH, "inflight")
        task = client.get(f"{GATEWAY_PATH}/{created['task_id']}").json()["data"]
        for form, path in id_paths(task).items():
            loads[f"query_inflight_{form}"] = wrk(server.url + path, headers=gateway.headers, seconds=plan.seconds)
    return loads
