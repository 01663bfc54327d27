"""Measure the gateway's own API next to the bare baseline: task queries, lists and the cost of a submit.

Every server runs in its own process on loopback (benchmarks/harness.py): the bare baseline app, sandboxes and
gateways over SQLite in a temporary directory, each with one sandbox channel, one user and one `sk-` key.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from benchmarks.harness import Load, ServerProcess, baseline_app, wrk
from kling_gateway.api import create_app as create_gateway
from kling_gateway.billing.money import yuan_to_micros
from kling_gateway.channels.admin import add_channel
from kling_gateway.keys.service import create_key
from kling_gateway.sandbox import Account, SandboxConfig
from kling_gateway.sandbox import create_app as create_sandbox
from kling_gateway.settings import MetricsConfig, Settings, SyncConfig
from kling_gateway.store.database import Database, sqlite_url
from kling_gateway.store.migrate import upgrade
from kling_gateway.upstream.tokens import TokenCache
from kling_gateway.users.service import create_user

ACCOUNT = Account(access_key="ak_benchmark", secret_key="sk_benchmark_" + "0" * 40)
PATH = "/v1/videos/text2video"
GATEWAY_PATH = "/kling" + PATH
FAST_SPEED = 1000.0  # a 5 s std clip (about 120 s upstream) finishes in about 0.1 s
SLOW_SPEED = 0.001  # tasks stay in flight for the whole run
QUICK_SYNC = SyncConfig(poll_interval_s=0.05, idle_sleep_s=0.02)
ROOMY = 10**9  # concurrency slots no run comes near
FINISH_TIMEOUT_S = 300.0
FINAL = ("succeed", "failed")
ID_FORMS = ("task_id", "platform_id", "external_task_id")


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
    """Everything one run measured: wrk loads by label and the submit latencies through each server."""

    loads: dict[str, Load]
    submit_gateway: Latency
    submit_sandbox: Latency


@dataclass(frozen=True)
class Gateway:
    """A gateway's SQLite database and the `sk-` key of its one user."""

    database_url: str
    key: str

    def factory(self, *, worker: bool, metrics: bool = True) -> Callable[[], Any]:
        """Return a factory of this gateway's app, with or without its sync worker, measuring requests or not."""
        settings = Settings(
            database_url=self.database_url,
            log_level="error",
            sync=QUICK_SYNC,
            metrics=MetricsConfig(enabled=metrics),
        )
        return lambda: create_gateway(settings, run_worker=worker)

    @property
    def headers(self) -> dict[str, str]:
        """Headers that authenticate as the user."""
        return {"Authorization": f"Bearer {self.key}"}


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


async def _set_up(database_url: str, sandbox_url: str) -> str:
    """Create the schema, a channel for the sandbox account and a user with a key; return the key."""
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
                video_concurrency=ROOMY,
                image_concurrency=ROOMY,
                try_on_concurrency=ROOMY,
            )
            user = await create_user(session, name="benchmark", balance_micros=yuan_to_micros("100000000"))
            return (await create_key(session, user_id=user.id, name="benchmark"))[1]
    finally:
        await db.dispose()


@contextmanager
def new_gateway(sandbox_url: str) -> Iterator[Gateway]:
    """Set up a gateway database in a temporary directory, in front of the sandbox at `sandbox_url`."""
    with tempfile.TemporaryDirectory(prefix="kling-bench-") as directory:
        database_url = sqlite_url(Path(directory))
        yield Gateway(database_url=database_url, key=asyncio.run(_set_up(database_url, sandbox_url)))


def text2video_body(external_task_id: str) -> dict[str, Any]:
    """A small create body with its own external_task_id."""
    return {"prompt": "a cat on a sofa", "external_task_id": external_task_id}


def create_task(client: httpx.Client, path: str, external_task_id: str) -> dict[str, Any]:
    """Create one text2video task; return the `data` of the answer, stopping the run on any error."""
    answer = client.post(path, json=text2video_body(external_task_id))
    if answer.status_code != 200:
        raise RuntimeError(f"creating a task failed: {answer.status_code} {answer.text}")
    data: dict[str, Any] = answer.json()["data"]
    return data


def create_tasks(client: httpx.Client, path: str, count: int, prefix: str) -> list[dict[str, Any]]:
    """Create `count` text2video tasks one after another; return the `data` of each answer."""
    return [create_task(client, path, f"{prefix}-{index}") for index in range(count)]


def unfinished(client: httpx.Client) -> int:
    """Count the user's tasks that are not final yet, reading every page of the list."""
    count, page = 0, 1
    while tasks := client.get(GATEWAY_PATH, params={"pageNum": page, "pageSize": 500}).json()["data"]:
        count += sum(task["task_status"] not in FINAL for task in tasks)
        page += 1
    return count


def wait_all_finished(client: httpx.Client) -> None:
    """Wait until every task of the user is final."""
    deadline = time.monotonic() + FINISH_TIMEOUT_S
    while pending := unfinished(client):
        if time.monotonic() > deadline:
            raise RuntimeError(f"{pending} tasks were still unfinished after {FINISH_TIMEOUT_S:.0f} s")
        time.sleep(0.2)


def id_paths(task: dict[str, Any]) -> dict[str, str]:
    """The single-task path of one task by each id form."""
    ids = {
        "task_id": task["task_id"],
        "platform_id": task["platform_id"],
        "external_task_id": task["task_info"]["external_task_id"],
    }
    return {form: f"{GATEWAY_PATH}/{ids[form]}" for form in ID_FORMS}


def measure_baseline(plan: Plan) -> Load:
    """Load the bare app on the same server settings."""
    with ServerProcess(baseline_app) as baseline:
        return wrk(f"{baseline.url}{PATH}/1", seconds=plan.seconds)


def measure_finished(plan: Plan) -> dict[str, Load]:
    """Store finished tasks, then load single-task GETs by each id form and the two list pages."""
    loads: dict[str, Load] = {}
    with ServerProcess(sandbox_factory(FAST_SPEED)) as sandbox, new_gateway(sandbox.url) as gateway:
        with (
            ServerProcess(gateway.factory(worker=True)) as server,
            httpx.Client(base_url=server.url, headers=gateway.headers, timeout=30) as client,
        ):
            created = create_tasks(client, GATEWAY_PATH, plan.stored_tasks, "finished")
            wait_all_finished(client)
        with ServerProcess(gateway.factory(worker=False)) as server:
            middle = created[len(created) // 2]["task_id"]
            task = httpx.get(f"{server.url}{GATEWAY_PATH}/{middle}", headers=gateway.headers).json()["data"]
            for form, path in id_paths(task).items():
                loads[f"query_finished_{form}"] = wrk(server.url + path, headers=gateway.headers, seconds=plan.seconds)
            for size in (30, 500):
                path = f"{GATEWAY_PATH}?pageNum=1&pageSize={size}"
                loads[f"list_{size}"] = wrk(server.url + path, headers=gateway.headers, seconds=plan.seconds)
        loads |= measure_metrics_cost(plan, gateway, id_paths(task)[METRICS_FORM])
    return loads


METRICS_FORM = "platform_id"  # the id form the cost of metrics is measured on


METRICS_ROUNDS = 2  # loads of each gateway, taken in turns; the best of each counts, so a noisy moment misleads less


def measure_metrics_cost(plan: Plan, gateway: Gateway, path: str) -> dict[str, Load]:
    """Load one finished task's GET on a gateway measuring its requests and on one that does not, in turns, so
    their ratio is what the metrics cost."""
    best: dict[str, Load] = {}
    with (
        ServerProcess(gateway.factory(worker=False, metrics=True)) as measured,
        ServerProcess(gateway.factory(worker=False, metrics=False)) as bare,
    ):
        for _ in range(METRICS_ROUNDS):
            for label, server in (("query_metrics_on", measured), ("query_metrics_off", bare)):
                load = wrk(server.url + path, headers=gateway.headers, seconds=plan.seconds)
                if label not in best or load.requests_per_s > best[label].requests_per_s:
                    best[label] = load
    return best


def measure_inflight_and_submit(plan: Plan) -> tuple[dict[str, Load], Latency, Latency]:
    """Load single-task GETs of an in-flight task; time sequential creates through the gateway and directly."""
    loads: dict[str, Load] = {}
    with ServerProcess(sandbox_factory(SLOW_SPEED)) as sandbox, new_gateway(sandbox.url) as gateway:
        with (
            ServerProcess(gateway.factory(worker=False)) as server,
            httpx.Client(base_url=server.url, headers=gateway.headers, timeout=30) as client,
        ):
            created = create_task(client, GATEWAY_PATH, "inflight")
            task = client.get(f"{GATEWAY_PATH}/{created['task_id']}").json()["data"]
            for form, path in id_paths(task).items():
                loads[f"query_inflight_{form}"] = wrk(server.url + path, headers=gateway.headers, seconds=plan.seconds)
            through_gateway = timed_creates(client, GATEWAY_PATH, plan.submits, "via-gateway")
        token = TokenCache(ttl_s=3600).token(ACCOUNT.access_key, ACCOUNT.secret_key)
        with httpx.Client(base_url=sandbox.url, headers={"Authorization": f"Bearer {token}"}, timeout=30) as client:
            direct = timed_creates(client, PATH, plan.submits, "direct")
    return loads, through_gateway, direct


def timed_creates(client: httpx.Client, path: str, count: int, prefix: str) -> Latency:
    """Send `count` creates one after another on one keep-alive client; return their latency percentiles."""
    create_tasks(client, path, 5, f"{prefix}-warm-up")  # open the connection and warm caches outside the figures
    samples_ms = []
    for index in range(count):
        started = time.perf_counter()
        create_task(client, path, f"{prefix}-{index}")
        samples_ms.append((time.perf_counter() - started) * 1000)
    return Latency.of(samples_ms)


def measure_api(*, quick: bool) -> ApiFigures:
    """Run the baseline, query, list and submit parts once, in this order."""
    plan = Plan.of(quick=quick)
    loads = {"baseline": measure_baseline(plan)}
    loads |= measure_finished(plan)
    inflight, through_gateway, direct = measure_inflight_and_submit(plan)
    return ApiFigures(loads=loads | inflight, submit_gateway=through_gateway, submit_sandbox=direct)
