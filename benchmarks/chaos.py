"""Run the gateway under faults and prove it loses nothing and does nothing twice.

    python -m benchmarks.chaos [--tasks 5000] [--users 8] [--workers 3] [--database-url URL|sqlite]
        [--failure-rate 0.1] [--error-rate 0.05] [--lost-response-rate 0.05] [--kill-every SECONDS]
        [--kill-api-every SECONDS] [--channels 2] [--speed 300] [--new-share 0.33] [--json FILE]

Starts a sandbox (its accounts, with their key pairs and API keys, are the channels), the API and sync workers as
processes on loopback ports, submits tasks from many users at once as careful clients (a failed submit is sent
again with the same external_task_id and body), SIGKILLs and restarts workers at random, waits until every task is
final, stops everything and audits the gateway's ledger against the sandbox's tasks (benchmarks/audit.py). The
tasks are a mix of Kling's legacy `/v1` generations and, a share of them, its new model-in-path generation. Exits 1
on any violation.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

import asyncpg
import httpx
import orjson
from rich.console import Console
from rich.table import Table
from sqlalchemy import func, select

from benchmarks.audit import Audit, audit
from benchmarks.harness import free_port, wait_answering
from benchmarks.upstream_tasks import FINAL
from kling_gateway.billing.money import yuan_to_micros
from kling_gateway.channels.admin import add_channel
from kling_gateway.keys.service import create_key
from kling_gateway.sandbox import Account
from kling_gateway.store.database import Database
from kling_gateway.store.migrate import upgrade
from kling_gateway.store.models import TASKS
from kling_gateway.users.service import create_user

COMMAND = [sys.executable, "-m", "kling_gateway"]
POSTGRES_ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
POSTGRES_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
PICTURE = "https://cdn.example.com/in/cat.png"  # the sandbox takes a picture URL as it is, never fetches it
BALANCE_YUAN = "1000000"  # per user: far more than any run can spend, so no submit is refused for money
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 15.0
PROGRESS_EVERY_S = 5.0
QUEUED = "queued"  # the status of a task waiting for a channel
BACKOFF_S = (0.05, 2.0)  # a client's first and longest pause before sending a failed submit again
SETTLE_S = 10.0  # how long the audit waits for upstream tasks still running once the gateway has stopped
TEXT2VIDEO = ("videos", "text2video")
IMAGE2VIDEO = ("videos", "image2video")
IMAGES = ("images", "generations")
ACTIONS = (TEXT2VIDEO, IMAGE2VIDEO, IMAGES)  # the legacy tasks the clients submit, and what the audit lists upstream
NEW_DURATIONS_S = (3, 5)  # short, as the new models allow, so that they finish about as soon as legacy videos


@dataclass(frozen=True)
class ChaosConfig:
    """One chaos run: its size, its faults, and where the gateway keeps its data."""

    tasks: int = 5000
    users: int = 8
    workers: int | None = None  # None: 3 on PostgreSQL, 1 on SQLite
    apis: int = 1
    database_url: str | None = None  # None: a fresh PostgreSQL database; "sqlite": a SQLite file in work_dir
    failure_rate: float = 0.1
    error_rate: float = 0.05
    lost_response_rate: float = 0.05
    kill_every_s: float | None = None  # SIGKILL a worker about this long after it came up
    kill_api_every_s: float | None = None  # SIGKILL an API process about this long after it came up
    channels: int = 2
    concurrency: int = 10  # video tasks per channel, on the gateway and in the sandbox alike; images take twice
    speed: float = 300.0
    client_concurrency: int = 48  # submits the clients have under way at once
    duplicate_rate: float = 0.05  # submits a client sends twice at once (a double click), same id and body
    new_share: float = 0.33  # tasks submitted on Kling's new generation (POST /kling/{product}/{model})
    deadline_s: float = 900.0  # from the first submit until every task must be final
    poll_interval_s: float = 0.2
    lease_s: float = 3.0
    upstream_timeout_s: float = 5.0  # the sandbox is local: a slower answer counts as lost, as a timeout would
    seed: int | None = None
    work_dir: Path | None = None  # logs and the SQLite file; default: a new temporary directory
    keep_database: bool = False

    def worker_count(self, sqlite: bool) -> int:
        """Name how many workers run: the configured number, else 3 on PostgreSQL and 1 on SQLite."""
        return self.workers if self.workers is not None else (1 if sqlite else 3)


@dataclass
class Submission:
    """One task a client wants made, and what the gateway answered it."""

    client_id: str
    path: str
    body: dict[str, Any]
    key: str
    platform_ids: list[str] = field(default_factory=list)  # from each 2xx answer
    attempts: int = 0
    refusal: str | None = None  # an answer that sending again cannot change


@dataclass
class ChaosReport:
    """What a run did and what the audit found."""

    config: dict[str, Any]
    database_url: str
    workers: int
    setup_s: float = 0.0  # until the APIs answer: processes started, channels, users and keys created
    elapsed_s: float = 0.0  # from the first submit until every task is final
    submit_s: float = 0.0  # from the first submit until every submit has its answer
    audit_s: float = 0.0
    kills: int = 0  # of workers
    api_kills: int = 0
    most_queued: int = 0  # the most tasks seen waiting for a channel at once: how much the admission queue took
    answers: Counter[str] = field(default_factory=Counter)
    unaccepted: list[str] = field(default_factory=list)
    audit: Audit = field(default_factory=Audit)

    def violations(self) -> list[str]:
        """Every violation: the audit's and the submits the gateway never accepted."""
        return [*self.audit.violations(), *self.unaccepted]

    def as_json(self) -> dict[str, Any]:
        """Give every figure and violation as plain JSON values."""
        return {
            "config": self.config,
            "workers": self.workers,
            "setup_s": round(self.setup_s, 1),
            "elapsed_s": round(self.elapsed_s, 1),
            "submit_s": round(self.submit_s, 1),
            "audit_s": round(self.audit_s, 1),
            "kills": self.kills,
            "api_kills": self.api_kills,
            "most_queued": self.most_queued,
            "answers": dict(self.answers),
            "unaccepted": self.unaccepted,
            "audit": self.audit.as_json(),
            "violations": self.violations(),
        }

    def print(self, console: Console) -> None:
        """Print the run's figures, the audit's table and findings, and the verdict."""
        table = Table(title="Chaos run")
        table.add_column("measure")
        table.add_column("value", justify="right")
        table.add_row("database", self.database_url)
        table.add_row("workers / worker kills / API kills", f"{self.workers} / {self.kills} / {self.api_kills}")
        table.add_row("set-up / audit", f"{self.setup_s:.1f} s / {self.audit_s:.1f} s")
        table.add_row("all submits answered in", f"{self.submit_s:.1f} s")
        table.add_row("every task final in", f"{self.elapsed_s:.1f} s")
        table.add_row("tasks per second", f"{self.audit.submitted / max(self.elapsed_s, 0.001):.1f}")
        table.add_row("answers to submits", ", ".join(f"{k}: {n}" for k, n in sorted(self.answers.items())))
        table.add_row("most tasks queued at once", str(self.most_queued))
        table.add_row("submits never accepted", str(len(self.unaccepted)))
        console.print(table)
        self.audit.print(console)
        for line in self.unaccepted[:10]:
            console.print(f"[red]✗[/red] {line}", highlight=False, soft_wrap=True)
        verdict = "[bold red]VIOLATIONS[/bold red]" if self.violations() else "[bold green]no violations[/bold green]"
        console.print(f"{verdict}: {len(self.violations())}")


# --- processes ----------------------------------------------------------------------------------------------------


class Process:
    """A `kling-gateway` command running in the background, logging to a file; it can be killed and restarted."""

    def __init__(self, name: str, arguments: Sequence[str], env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self._arguments = list(arguments)
        self._env = env
        self._log_path = log_dir / f"{name}.log"
        self._log: IO[bytes] | None = None
        self._log_size_at_start = 0
        self._running: subprocess.Popen[bytes] | None = None

    def start(self) -> Process:
        """Start the command (again), appending to its log."""
        self._log = self._log or self._log_path.open("ab")
        self._log.flush()
        self._log_size_at_start = self._log_path.stat().st_size
        self._running = subprocess.Popen(
            [*COMMAND, *self._arguments], stdout=self._log, stderr=subprocess.STDOUT, env=self._env
        )
        return self

    async def started(self) -> None:
        """Wait until the process has printed its first line: its imports are done and it is at work."""
        deadline = time.monotonic() + START_TIMEOUT_S
        while self._log_path.stat().st_size <= self._log_size_at_start and time.monotonic() < deadline:
            self.check_alive()
            await asyncio.sleep(0.1)

    @property
    def pid(self) -> int | None:
        """The process id while it runs."""
        return None if self._running is None else self._running.pid

    def kill(self) -> None:
        """SIGKILL the process: no clean-up, as a crash or an OOM kill would leave it."""
        if self._running is not None:
            self._running.send_signal(signal.SIGKILL)
            self._running.wait()

    def stop(self) -> None:
        """Stop the process with SIGTERM, as an operator would, or SIGKILL if it does not end in time."""
        if self._running is not None and self._running.poll() is None:
            self._running.terminate()
            try:
                self._running.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.kill()
        if self._log is not None:
            self._log.close()
            self._log = None

    def check_alive(self) -> None:
        """Raise, with the end of its log, if the process has exited."""
        if self._running is None or self._running.poll() is not None:
            tail = self._log_path.read_text(errors="replace")[-2000:] if self._log_path.exists() else ""
            raise RuntimeError(f"{self.name} exited; the end of {self._log_path}:\n{tail}")


def wait_listening(process: Process, url: str) -> None:
    """Wait until the process answers HTTP on `url`."""
    wait_answering(url, check_alive=process.check_alive, timeout_s=START_TIMEOUT_S)


def child_env(config: ChaosConfig, work_dir: Path) -> dict[str, str]:
    """The environment of every process: quiet logs, quick polling, short leases and upstream timeouts (a
    submitter killed mid-call blocks its task for twice the timeout), data in the work directory."""
    return os.environ | {
        "KLING_GATEWAY_LOG_LEVEL": "warning",
        "KLING_GATEWAY_DATA_DIR": str(work_dir),
        "KLING_GATEWAY_SYNC__POLL_INTERVAL_S": str(config.poll_interval_s),
        "KLING_GATEWAY_SYNC__IDLE_SLEEP_S": str(min(config.poll_interval_s, 0.1)),
        "KLING_GATEWAY_SYNC__LEASE_S": str(config.lease_s),
        "KLING_GATEWAY_SYNC__UPSTREAM_TIMEOUT_S": str(config.upstream_timeout_s),
    }


def sandbox_arguments(config: ChaosConfig, port: int, accounts: Sequence[Account]) -> list[str]:
    """The `kling-gateway sandbox` command line: the run's faults and limits, one account per channel."""
    arguments = [
        "sandbox", "--port", str(port), "--speed", str(config.speed),
        "--failure-rate", str(config.failure_rate), "--error-rate", str(config.error_rate),
        "--lost-response-rate", str(config.lost_response_rate),
        "--video-concurrency", str(config.concurrency), "--image-concurrency", str(2 * config.concurrency),
        "--try-on-concurrency", str(config.concurrency), "--resource-pack-units", str(10**9),
    ]  # fmt: skip
    if config.seed is not None:
        arguments += ["--seed", str(config.seed)]
    for account in accounts:
        arguments += ["--access-key", account.access_key, "--secret-key", account.secret_key]
        if account.api_key is not None:
            arguments += ["--api-key", account.api_key]
    return arguments


# --- the gateway's data -------------------------------------------------------------------------------------------


async def create_postgres_database() -> str:
    """Create an empty PostgreSQL database for the run; return its URL."""
    name = f"kg_chaos_{time.strftime('%Y%m%d_%H%M%S')}_{uuid.uuid4().hex[:6]}"
    connection = await asyncpg.connect(POSTGRES_ADMIN_DSN)
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    return POSTGRES_URL.format(name=name)


async def drop_postgres_database(url: str) -> None:
    """Drop a database the run created."""
    name = url.rsplit("/", 1)[1]
    connection = await asyncpg.connect(POSTGRES_ADMIN_DSN)
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await connection.close()


async def set_up(database_url: str, config: ChaosConfig, sandbox_url: str, accounts: Sequence[Account]) -> list[str]:
    """Bring the schema up to date, add a channel per account and the users with a key each; return the keys.

    Every other user pays prices of their own with odd micro-yuan, so that rounding is exercised.
    """
    db = Database(database_url)
    try:
        await upgrade(db)
        async with db.session() as session, session.begin():
            for index, account in enumerate(accounts):
                await add_channel(
                    session,
                    name=f"chaos-{index}",
                    base_url=sandbox_url,
                    access_key=account.access_key,
                    secret_key=account.secret_key,
                    api_key=account.api_key,  # the new generation takes nothing else
                    video_concurrency=config.concurrency,
                    image_concurrency=2 * config.concurrency,
                    try_on_concurrency=config.concurrency,
                )
            keys = []
            for index in range(config.users):
                own_prices = index % 2 == 1
                user = await create_user(
                    session,
                    name=f"chaos-{index}",
                    balance_micros=yuan_to_micros(BALANCE_YUAN),
                    video_rate_micros=1_000_000 + 123_457 * index if own_prices else None,
                    image_rate_micros=25_000 + 1_333 * index if own_prices else None,
                )
                keys.append((await create_key(session, user_id=user.id, name="chaos"))[1])
        return keys
    finally:
        await db.dispose()


async def unfinished_counts(db: Database) -> tuple[int, int]:
    """Count the unfinished tasks, and those of them still waiting for a channel (`queued`)."""
    async with db.read() as connection:
        query = (
            select(TASKS.c.status, func.count()).where(TASKS.c.status.not_in(sorted(FINAL))).group_by(TASKS.c.status)
        )
        counts = {status: int(count) for status, count in (await connection.execute(query)).all()}
    return sum(counts.values()), counts.get(QUEUED, 0)


# --- the clients --------------------------------------------------------------------------------------------------


def make_submissions(config: ChaosConfig, keys: Sequence[str], rng: random.Random) -> list[Submission]:
    """Draw a mix of legacy and new-generation tasks (`new_share` of them new-style), spread over the users."""
    submissions = []
    for index in range(config.tasks):
        client_id = f"chaos-{index}-{uuid.uuid4().hex[:8]}"
        draw = rng.random()
        if draw < config.new_share:
            path, body = new_style_task(index, client_id, rng)
        else:
            path, body = legacy_task(index, client_id, (draw - config.new_share) / (1 - config.new_share), rng)
        submissions.append(Submission(client_id, path, body, keys[index % len(keys)]))
    return submissions


def legacy_task(index: int, client_id: str, draw: float, rng: random.Random) -> tuple[str, dict[str, Any]]:
    """Draw a legacy text2video, image2video or image generation (by `draw`, from 0 to 1); return its path and body."""
    if draw < 0.45:
        action = TEXT2VIDEO
        body: dict[str, Any] = {
            "prompt": f"chaos {index}: a fox in the snow",
            "model_name": rng.choice(["kling-v1-6", "kling-v2-5-turbo"]),
            "mode": rng.choice(["std", "pro"]),
            "duration": rng.choice(["5", "10"]),
        }
    elif draw < 0.7:
        action = IMAGE2VIDEO
        body = {"image": PICTURE, "prompt": f"chaos {index}: the cat yawns"}
    else:
        action = IMAGES
        body = {"prompt": f"chaos {index}: a red bicycle", "n": rng.randint(1, 4)}
    return "/kling/v1/{}/{}".format(*action), body | {"external_task_id": client_id}


def new_style_task(index: int, client_id: str, rng: random.Random) -> tuple[str, dict[str, Any]]:
    """Draw a short new-generation video: Kling 3.0 Turbo from a prompt or a first frame, or Kling O1 omni-video;
    return its path and body, the client's id in its options."""
    duration = rng.choice(NEW_DURATIONS_S)
    model = rng.choice(["text-to-video/kling-3.0-turbo", "image-to-video/kling-3.0-turbo", "omni-video/kling-o1"])
    if model.startswith("text-to-video/"):
        body: dict[str, Any] = {
            "prompt": f"chaos {index}: a heron lands on a frozen pond",
            "settings": {"duration": duration, "resolution": rng.choice(["720p", "1080p"])},
        }
    elif model.startswith("image-to-video/"):
        contents = [{"type": "first_frame", "url": PICTURE}, {"type": "prompt", "text": f"chaos {index}: it yawns"}]
        body = {"contents": contents, "settings": {"duration": duration}}
    else:
        contents = [{"type": "prompt", "text": f"chaos {index}: a paper boat on a rainy street"}]
        body = {"contents": contents, "settings": {"aspect_ratio": "16:9", "duration": duration}}
    return f"/kling/{model}", body | {"options": {"external_task_id": client_id}}


async def submit(
    http: httpx.AsyncClient,
    api_url: str,
    submission: Submission,
    answers: Counter[str],
    deadline: float,
    rng: random.Random,
) -> None:
    """Send one task until the gateway accepts or refuses it for good, as a careful client does: after a 429 other
    than a short balance, a 5xx or a lost connection, the same body with the same external_task_id again."""
    pause = BACKOFF_S[0]
    headers = {"Authorization": f"Bearer {submission.key}"}
    while time.monotonic() < deadline:
        submission.attempts += 1
        try:
            answer = await http.post(f"{api_url}{submission.path}", json=submission.body, headers=headers)
        except httpx.TransportError as error:
            answers[type(error).__name__] += 1
        else:
            code = _code(answer)
            answers[f"{answer.status_code}/{code}"] += 1
            if answer.is_success:
                submission.platform_ids.append(answer.json()["data"]["platform_id"])
                return
            if not (answer.status_code >= 500 or (answer.status_code == 429 and code != 1102)):
                submission.refusal = f"{answer.status_code} {answer.text[:300]}"
                return
        await asyncio.sleep(pause * rng.uniform(0.5, 1.5))
        pause = min(pause * 2, BACKOFF_S[1])


def _code(answer: httpx.Response) -> object:
    try:
        return orjson.loads(answer.content).get("code")
    except (orjson.JSONDecodeError, AttributeError):
        return None


async def run_clients(
    config: ChaosConfig,
    api_urls: Sequence[str],
    submissions: Sequence[Submission],
    answers: Counter[str],
    deadline: float,
) -> None:
    """Submit everything with bounded concurrency; a share of submits goes out twice at once."""
    rng = random.Random(config.seed)
    gate = asyncio.Semaphore(config.client_concurrency)
    limits = httpx.Limits(max_connections=2 * config.client_concurrency)

    async def one(index: int, submission: Submission) -> None:
        api_url = api_urls[index % len(api_urls)]
        async with gate:
            copies = 2 if rng.random() < config.duplicate_rate else 1
            await asyncio.gather(*(submit(http, api_url, submission, answers, deadline, rng) for _ in range(copies)))

    async with httpx.AsyncClient(timeout=60, limits=limits) as http:
        await asyncio.gather(*(one(index, submission) for index, submission in enumerate(submissions)))


# --- faults -------------------------------------------------------------------------------------------------------


async def kill_at_random(processes: Sequence[Process], every_s: float, stop: asyncio.Event, rng: random.Random) -> int:
    """SIGKILL one of `processes` at random about `every_s` seconds after it came up, and start it again; return
    how many were killed.

    The interval counts from the moment the process is at work, so a slow start never turns the run into one
    where no worker ever gets to sync.
    """
    kills = 0
    while True:
        victim = rng.choice(processes)
        await victim.started()
        try:
            await asyncio.wait_for(stop.wait(), timeout=every_s * rng.uniform(0.5, 1.5))
            return kills
        except TimeoutError:
            pass
        victim.kill()
        kills += 1
        await asyncio.sleep(rng.uniform(0.0, 0.5))
        victim.start()


# --- the run ------------------------------------------------------------------------------------------------------


def resolve_database(config: ChaosConfig, work_dir: Path) -> tuple[str, bool]:
    """Name the run's database and whether the run created it (and may drop it)."""
    if config.database_url is None:
        return asyncio.run(create_postgres_database()), True
    if config.database_url == "sqlite":
        return f"sqlite+aiosqlite:///{work_dir / 'gateway.db'}", False
    return config.database_url, False


class Cluster:
    """The processes of one run: a sandbox whose accounts are the channels, API processes and sync workers."""

    def __init__(self, config: ChaosConfig, database_url: str, work_dir: Path, workers: int) -> None:
        env = child_env(config, work_dir)
        self.accounts = [Account.generate() for _ in range(config.channels)]
        sandbox_port = free_port()
        self.sandbox_url = f"http://127.0.0.1:{sandbox_port}"
        self.sandbox = Process("sandbox", sandbox_arguments(config, sandbox_port, self.accounts), env, work_dir)
        api_ports = [free_port() for _ in range(config.apis)]
        self.api_urls = [f"http://127.0.0.1:{port}" for port in api_ports]
        serve = ["serve", "--workers", "1", "--no-worker", "--database-url", database_url, "--port"]
        self.apis = [Process(f"api-{n}", [*serve, str(port)], env, work_dir) for n, port in enumerate(api_ports)]
        worker = ["worker", "--database-url", database_url]
        self.workers = [Process(f"worker-{n}", worker, env, work_dir) for n in range(workers)]

    def start_sandbox(self) -> None:
        """Start the sandbox and wait until it answers."""
        self.sandbox.start()
        wait_listening(self.sandbox, self.sandbox_url)

    def start_gateway(self) -> None:
        """Start the API processes and the workers together (they import in parallel); wait for the APIs."""
        for process in [*self.apis, *self.workers]:
            process.start()
        for api, url in zip(self.apis, self.api_urls, strict=True):
            wait_listening(api, url)

    def stop_gateway(self) -> None:
        """Stop the workers and the APIs, leaving the sandbox up for the audit."""
        for process in [*self.workers, *self.apis]:
            process.stop()

    def stop(self) -> None:
        """Stop every process."""
        self.stop_gateway()
        self.sandbox.stop()


def run_chaos(config: ChaosConfig, console: Console | None = None) -> ChaosReport:
    """Run the gateway under faults, then audit it; print progress to `console` when given."""
    check(config)
    say: Callable[[str], None] = console.print if console is not None else (lambda _line: None)
    began = time.monotonic()
    work_dir = config.work_dir or Path(tempfile.mkdtemp(prefix="kling-chaos-"))
    work_dir.mkdir(parents=True, exist_ok=True)
    database_url, created = resolve_database(config, work_dir)
    workers = config.worker_count(database_url.startswith("sqlite"))
    report = ChaosReport(config=_jsonable(config), database_url=database_url, workers=workers)
    cluster = Cluster(config, database_url, work_dir, workers)
    try:
        cluster.start_sandbox()
        keys = asyncio.run(set_up(database_url, config, cluster.sandbox_url, cluster.accounts))
        cluster.start_gateway()
        report.setup_s = time.monotonic() - began
        say(f"{config.tasks} tasks, {config.apis} API, {workers} workers on {database_url}; logs in {work_dir}")
        submissions = make_submissions(config, keys, random.Random(config.seed))
        asyncio.run(drive(config, report, database_url, cluster, submissions, say))
        cluster.stop_gateway()
        audit_began = time.monotonic()
        accepted = {submission.client_id: submission.platform_ids for submission in submissions}
        report.audit = asyncio.run(audit(database_url, accepted=accepted, actions=ACTIONS, settle_s=SETTLE_S))
        report.audit_s = time.monotonic() - audit_began
        report.unaccepted = [
            f"unaccepted: {s.client_id} ({s.path}): {s.refusal or 'no 2xx answer before the deadline'} "
            f"after {s.attempts} attempts"
            for s in submissions
            if not s.platform_ids
        ]
    finally:
        cluster.stop()
        if created and not config.keep_database and not report.violations():
            asyncio.run(drop_postgres_database(database_url))
    return report


async def drive(
    config: ChaosConfig,
    report: ChaosReport,
    database_url: str,
    cluster: Cluster,
    submissions: Sequence[Submission],
    say: Callable[[str], None],
) -> None:
    """Submit every task, kill workers meanwhile, and wait until every task is final or the deadline passes."""
    started = time.monotonic()
    deadline = started + config.deadline_s
    stop_killing = asyncio.Event()
    rng = random.Random(config.seed)
    worker_killer = (
        asyncio.create_task(kill_at_random(cluster.workers, config.kill_every_s, stop_killing, rng))
        if config.kill_every_s
        else None
    )
    api_killer = (
        asyncio.create_task(kill_at_random(cluster.apis, config.kill_api_every_s, stop_killing, rng))
        if config.kill_api_every_s
        else None
    )
    clients = asyncio.create_task(run_clients(config, cluster.api_urls, submissions, report.answers, deadline))
    db = Database(database_url)
    last_said = started
    try:
        while time.monotonic() < deadline:
            await asyncio.sleep(0.5)
            if clients.done() and not report.submit_s:
                await clients
                report.submit_s = time.monotonic() - started
            unfinished, queued = await unfinished_counts(db)
            report.most_queued = max(report.most_queued, queued)
            if clients.done() and unfinished == 0:
                break
            if time.monotonic() - last_said >= PROGRESS_EVERY_S:
                last_said = time.monotonic()
                accepted = sum(bool(s.platform_ids) for s in submissions)
                say(
                    f"  {last_said - started:5.0f} s: {accepted}/{len(submissions)} accepted, "
                    f"{unfinished} unfinished of which {queued} queued"
                )
        report.elapsed_s = time.monotonic() - started
    finally:
        stop_killing.set()
        if worker_killer is not None:
            report.kills = await worker_killer
        if api_killer is not None:
            report.api_kills = await api_killer
        if not clients.done():
            clients.cancel()
        await db.dispose()


def check(config: ChaosConfig) -> None:
    """Refuse a configuration that cannot run, saying what is allowed."""
    problems = [
        f"{name} is {value}; it must be at least {low}"
        for name, value, low in (
            ("--tasks", config.tasks, 1),
            ("--users", config.users, 1),
            ("--apis", config.apis, 1),
            ("--channels", config.channels, 1),
            ("--concurrency", config.concurrency, 1),
            ("--client-concurrency", config.client_concurrency, 1),
        )
        if value < low
    ]
    if config.workers is not None and config.workers < 1:
        problems.append(f"--workers is {config.workers}; it must be at least 1")
    if (config.workers or 1) > 1 and (config.database_url or "postgresql").startswith("sqlite"):
        problems.append(f"--workers is {config.workers} on SQLite, which takes one worker; use PostgreSQL for more")
    for name, rate in (
        ("--failure-rate", config.failure_rate),
        ("--error-rate", config.error_rate),
        ("--lost-response-rate", config.lost_response_rate),
        ("--duplicate-rate", config.duplicate_rate),
        ("--new-share", config.new_share),
    ):
        if not 0 <= rate <= 1:
            problems.append(f"{name} is {rate}; it must be from 0 to 1")
    for name, every_s in (("--kill-every", config.kill_every_s), ("--kill-api-every", config.kill_api_every_s)):
        if every_s is not None and every_s <= 0:
            problems.append(f"{name} is {every_s}; it must be more than 0 seconds")
    if config.speed <= 0:
        problems.append(f"--speed is {config.speed}; it must be more than 0")
    if problems:
        raise ValueError("; ".join(problems))


def _jsonable(config: ChaosConfig) -> dict[str, Any]:
    return {name: str(value) if isinstance(value, Path) else value for name, value in asdict(config).items()}


# Each option: its flag, the ChaosConfig field it sets, its type and metavar, and what it does. Defaults are the
# config's own, so the command line and the test suite can never disagree about them.
OPTIONS: tuple[tuple[str, str, type, str, str], ...] = (
    ("--tasks", "tasks", int, "N", "tasks to submit"),
    ("--users", "users", int, "N", "users submitting them, each with a key; every other one has own prices"),
    ("--workers", "workers", int, "N", "sync worker processes (default: 3 on PostgreSQL, 1 on SQLite, its most)"),
    ("--apis", "apis", int, "N", "API processes (`serve --no-worker`); the clients spread over them"),
    (
        "--database-url",
        "database_url",
        str,
        "URL",
        "SQLAlchemy URL of an empty or migrated database; `sqlite` for a SQLite file in the work directory "
        "(default: a fresh PostgreSQL database on 127.0.0.1:5432, dropped after a clean run)",
    ),
    ("--failure-rate", "failure_rate", float, "SHARE", "share of sandbox tasks that end failed"),
    ("--error-rate", "error_rate", float, "SHARE", "share of sandbox requests answered 500/503/504"),
    ("--lost-response-rate", "lost_response_rate", float, "SHARE", "share of creates stored but answered 5xx"),
    (
        "--kill-every",
        "kill_every_s",
        float,
        "SECONDS",
        "SIGKILL a random worker about this long after it came up, then restart it",
    ),
    (
        "--kill-api-every",
        "kill_api_every_s",
        float,
        "SECONDS",
        "SIGKILL a random API process likewise (mid-submit), then restart it on its port",
    ),
    ("--channels", "channels", int, "N", "sandbox accounts, each a channel of the gateway"),
    (
        "--concurrency",
        "concurrency",
        int,
        "N",
        "video tasks per channel at once (images: twice); when all are taken, submits wait in the admission queue",
    ),
    ("--speed", "speed", float, "FACTOR", "sandbox speed-up of every task's duration"),
    ("--client-concurrency", "client_concurrency", int, "N", "submits under way at once"),
    ("--duplicate-rate", "duplicate_rate", float, "SHARE", "share of submits sent twice at once (a double click)"),
    (
        "--new-share",
        "new_share",
        float,
        "SHARE",
        "share of tasks submitted on Kling's new generation (POST /kling/{product}/{model}: 3.0 Turbo text-to-video "
        "and image-to-video, O1 omni-video), the rest on the legacy /v1 (text2video, image2video, images)",
    ),
    ("--deadline", "deadline_s", float, "SECONDS", "from the first submit until every task must be final"),
    ("--lease", "lease_s", float, "SECONDS", "KLING_GATEWAY_SYNC__LEASE_S of the gateway's processes"),
    (
        "--upstream-timeout",
        "upstream_timeout_s",
        float,
        "SECONDS",
        "KLING_GATEWAY_SYNC__UPSTREAM_TIMEOUT_S of the gateway's processes",
    ),
    ("--seed", "seed", int, "N", "fix the random draws of the clients, the faults and the sandbox"),
    ("--work-dir", "work_dir", Path, "DIR", "where the logs (and the SQLite file) go (default: a new temporary one)"),
)


def parser() -> argparse.ArgumentParser:
    """Describe the command line: every ChaosConfig knob, plus --keep-database and --json."""
    described = argparse.ArgumentParser(
        prog="python -m benchmarks.chaos",
        description="Run the gateway (sandbox, API and workers as processes) under faults and audit that no task "
        "was lost, sent twice, or held, charged or released twice. Exits 1 on any violation.",
    )
    defaults = ChaosConfig()
    for flag, name, kind, metavar, help_text in OPTIONS:
        default = getattr(defaults, name)
        shown = "" if default is None or "(default" in help_text else f" (default: {_plain(default)})"
        described.add_argument(flag, dest=name, type=kind, metavar=metavar, default=default, help=help_text + shown)
    described.add_argument("--keep-database", action="store_true", help="keep the PostgreSQL database the run made")
    described.add_argument("--json", type=Path, metavar="FILE", help="also write every figure and violation here")
    return described


def _plain(value: object) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the options, run, print the audit; return 1 on any violation."""
    command_line = parser()
    args = command_line.parse_args(argv)
    config = ChaosConfig(**{name: getattr(args, name) for _, name, *_ in OPTIONS}, keep_database=args.keep_database)
    try:
        check(config)
    except ValueError as error:
        command_line.error(str(error))
    console = Console()
    report = run_chaos(config, console)
    report.print(console)
    if report.violations() and report.database_url.startswith("postgresql"):
        console.print(f"the database is kept for inspection: {report.database_url}")
    if args.json:
        args.json.write_bytes(orjson.dumps(report.as_json(), option=orjson.OPT_INDENT_2))
    return 1 if report.violations() else 0


if __name__ == "__main__":
    sys.exit(main())
