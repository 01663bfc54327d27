"""Replay what a hostile user does against running processes, and show what another user sees meanwhile.

    python -m benchmarks.abuse [--quick] [--only NAME] [--json FILE]

A sandbox (its result videos padded to 50 MiB) and `kling-gateway serve` (worker inside, SQLite) run as processes
on loopback. A victim submits a task and queries it, one request after another, before any abuse, then during and
after each abuse an attacker runs from a process of its own: downloads it never reads, a callback receiver that
never answers and one whose answer is 400 MB, a flood of forged upstream callbacks, 10 MB headers, 50 MB bodies,
and connections that send a byte a second; each attacker runs at the lowest CPU priority, as if from another
machine, so that what the victim feels is the gateway's work. It prints the victim's p50 and p99 in each phase,
what the gateway answered the attacker, and the gateway's peak RSS; it passes when the victim's p99 during every
abuse stays within 2× of before and the RSS under 300 MB.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from multiprocessing.synchronize import Event
from pathlib import Path

import httpx
import orjson
from rich.console import Console
from rich.table import Table

from benchmarks.chaos import Process, wait_listening
from benchmarks.harness import free_port
from kling_gateway.billing.money import yuan_to_micros
from kling_gateway.channels.admin import add_channel
from kling_gateway.keys.service import create_key
from kling_gateway.sandbox import Account
from kling_gateway.store.database import Database, sqlite_url
from kling_gateway.store.migrate import upgrade
from kling_gateway.users.service import create_user

T2V = "/v1/videos/text2video"
PADDING_MB = 50  # result files as large as real ones
P99_BOUND = 2.0  # the victim's p99 during an abuse, at most this many times its p99 before any
RSS_BOUND_MB = 300.0
ROOMY = 1000  # slots: the abuses are not about concurrency limits
ACCOUNT = Account.generate()
SAMPLE_S = 0.1  # how often the gateway's RSS is read


@dataclass(frozen=True)
class Target:
    """Where the attacker aims: the gateway, its key, and a finished task with a large video."""

    gateway_url: str
    key: str
    platform_id: str


Attack = Callable[[Target, Event, "multiprocessing.Queue[str]"], None]


@dataclass
class Phase:
    """What the victim saw in one phase, and the gateway's largest RSS meanwhile."""

    name: str
    submits_ms: list[float] = field(default_factory=list)
    queries_ms: list[float] = field(default_factory=list)
    failures: Counter[str] = field(default_factory=Counter)
    peak_rss_mb: float = 0.0
    attacker: Counter[str] = field(default_factory=Counter)  # what the gateway answered the attacker

    def p(self, which: str, quantile: float) -> float:
        """The victim's latency at a quantile (0.5, 0.99) of its submits or queries, in ms."""
        values = sorted(self.submits_ms if which == "submit" else self.queries_ms)
        if not values:
            return float("nan")
        return values[min(len(values) - 1, int(quantile * len(values)))]


# --- the attacks: each runs in a process of its own until `stop` is set, and reports what it got on `seen` ---------


def unread_downloads(target: Target, stop: Event, seen: multiprocessing.Queue[str]) -> None:
    """Ask for a 50 MiB video 210 times at once and read nothing but the status line."""
    request = (
        f"GET /v1/videos/{target.platform_id}/content HTTP/1.1\r\nHost: gateway\r\n"
        f"Authorization: Bearer {target.key}\r\n\r\n"
    ).encode()
    asyncio.run(_hold_connections(target, stop, seen, count=210, opening=request, drip=None))


def endless_headers(target: Target, stop: Event, seen: multiprocessing.Queue[str]) -> None:
    """Send requests with a 10 MB Authorization header, 20 at a time, over and over."""
    header = b"Bearer " + b"x" * 10_000_000
    request = b"GET " + T2V.encode() + b" HTTP/1.1\r\nHost: gateway\r\nAuthorization: " + header + b"\r\n\r\n"
    asyncio.run(_repeat_requests(target, stop, seen, at_once=20, request=request))


def huge_bodies(target: Target, stop: Event, seen: multiprocessing.Queue[str]) -> None:
    """Post 50 MB bodies with the attacker's key, 10 at a time, over and over."""
    body = b'{"prompt": "' + b"a" * 50_000_000 + b'"}'
    request = (
        f"POST {T2V} HTTP/1.1\r\nHost: gateway\r\nAuthorization: Bearer {target.key}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    asyncio.run(_repeat_requests(target, stop, seen, at_once=10, request=request))


def slow_clients(target: Target, stop: Event, seen: multiprocessing.Queue[str]) -> None:
    """Open 200 connections that each send their request a byte a second."""
    request = f"GET {T2V} HTTP/1.1\r\nHost: gateway\r\nAuthorization: Bearer {target.key}\r\n\r\n".encode()
    asyncio.run(_hold_connections(target, stop, seen, count=200, opening=b"", drip=request))


def forged_callbacks(target: Target, stop: Event, seen: multiprocessing.Queue[str]) -> None:
    """Post forged upstream callbacks, with no valid token, as fast as 16 connections allow."""
    body = orjson.dumps({"task_id": "1", "task_status": "succeed", "final_unit_deduction": "50"})

    async def flood() -> None:
        async with httpx.AsyncClient(base_url=target.gateway_url, timeout=30) as client:

            async def one_connection(number: int) -> None:
                while not stop.is_set():
                    path = f"/upstream/callbacks/{target.platform_id}/forged-{number}"
                    try:
                        answer = await client.post(path, content=body, headers={"content-type": "application/json"})
                        seen.put(str(answer.status_code))
                    except httpx.HTTPError as error:
                        seen.put(type(error).__name__)

            await asyncio.gather(*(one_connection(number) for number in range(16)))

    asyncio.run(flood())


def silent_receiver(target: Target, stop: Event, seen: multiprocessing.Queue[str]) -> None:
    """Submit 12 tasks whose callback receiver takes every connection and never answers."""
    asyncio.run(_receiver_attack(target, stop, seen, answer=None))


def huge_answer_receiver(target: Target, stop: Event, seen: multiprocessing.Queue[str]) -> None:
    """Submit 12 tasks whose callback receiver answers each delivery with 400 MB."""
    asyncio.run(_receiver_attack(target, stop, seen, answer=400_000_000))


ATTACKS: dict[str, Attack] = {
    "unread-downloads": unread_downloads,
    "silent-receiver": silent_receiver,
    "huge-answer-receiver": huge_answer_receiver,
    "forged-callbacks": forged_callbacks,
    "10MB-headers": endless_headers,
    "50MB-bodies": huge_bodies,
    "slow-clients": slow_clients,
}


def attack_from_afar(name: str, target: Target, stop: Event, seen: multiprocessing.Queue[str]) -> None:
    """Run an attack at the lowest CPU priority, as if from another machine.

    On two shared cores an attacker at full priority takes a core of its own (building 10 MB requests, parsing
    answers), and the victim would then measure the attacker's own work rather than what it makes the gateway do.
    Niced, it still sends as fast as the cores the gateway leaves idle allow.
    """
    os.nice(19)
    ATTACKS[name](target, stop, seen)


async def _until_stopped(stop: Event) -> None:
    """Return once `stop` (set by the measuring process) is.

    Polled, never waited on: a process that ends (or is killed) while one of its threads waits on a
    `multiprocessing.Event` leaves the event's sleeper count behind, and the measuring process's `set()` then waits
    for that sleeper to wake, forever.
    """
    while not stop.is_set():  # noqa: ASYNC110 (the event is another process's: see above)
        await asyncio.sleep(0.05)


def _address(target: Target) -> tuple[str, int]:
    url = httpx.URL(target.gateway_url)
    return url.host, url.port or 80


async def _status_of(reader: asyncio.StreamReader) -> str:
    line = await reader.readline()
    parts = line.split()
    return parts[1].decode() if len(parts) > 1 else "closed"


async def _hold_connections(
    target: Target, stop: Event, seen: multiprocessing.Queue[str], *, count: int, opening: bytes, drip: bytes | None
) -> None:
    """Keep `count` connections open until stopped: send `opening` on each (then `drip` a byte a second), never read
    past a status; a dripping connection the gateway answers or cuts off is opened again, as a patient attacker's
    would be."""
    host, port = _address(target)
    stopped = asyncio.create_task(_until_stopped(stop))

    async def hold() -> None:
        reader, writer = await asyncio.open_connection(host, port)
        try:
            writer.write(opening)
            for byte in drip or b"":
                if stop.is_set():
                    return
                writer.write(bytes((byte,)))
                await writer.drain()
                await asyncio.sleep(1.0)
            seen.put(await asyncio.wait_for(_status_of(reader), timeout=120))
            if not drip:  # a download: never read its body; a dripped request's answer ends its connection
                await asyncio.shield(stopped)
        finally:
            writer.close()

    async def keep_holding() -> None:
        while not stop.is_set():
            try:
                await hold()
            except (OSError, TimeoutError) as error:
                seen.put(type(error).__name__)
                await asyncio.sleep(0.1)

    await asyncio.gather(*(keep_holding() for _ in range(count)))


async def _repeat_requests(
    target: Target, stop: Event, seen: multiprocessing.Queue[str], *, at_once: int, request: bytes
) -> None:
    host, port = _address(target)

    async def keep_sending() -> None:
        while not stop.is_set():
            try:
                reader, writer = await asyncio.open_connection(host, port)
                writer.write(request)
                await writer.drain()
                seen.put(await asyncio.wait_for(_status_of(reader), timeout=60))
                writer.close()
            except (OSError, TimeoutError) as error:
                seen.put(type(error).__name__)
                await asyncio.sleep(0.1)

    await asyncio.gather(*(keep_sending() for _ in range(at_once)))


async def _receiver_attack(
    target: Target, stop: Event, seen: multiprocessing.Queue[str], *, answer: int | None
) -> None:
    """Serve a callback receiver on loopback (silent, or answering `answer` bytes) and submit 12 tasks to it."""
    stopped = asyncio.create_task(_until_stopped(stop))

    async def receive(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.put("delivery")
        try:
            await reader.readuntil(b"\r\n\r\n")
            if answer is not None:
                writer.write(f"HTTP/1.1 200 OK\r\nContent-Length: {answer}\r\n\r\n".encode())
                chunk = bytes(1 << 20)
                for _ in range(answer // len(chunk)):
                    writer.write(chunk)
                    await writer.drain()
            await asyncio.shield(stopped)
        except (OSError, asyncio.IncompleteReadError):
            pass
        writer.close()

    server = await asyncio.start_server(receive, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with httpx.AsyncClient(base_url=target.gateway_url, timeout=30) as client:
        for number in range(12):
            body = {"prompt": f"a receiver's task {number}", "callback_url": f"http://127.0.0.1:{port}/hook"}
            created = await client.post(T2V, json=body, headers={"Authorization": f"Bearer {target.key}"})
            seen.put(f"submit {created.status_code}")
    await stopped
    server.close()


# --- the victim, and the gateway's memory --------------------------------------------------------------------------


def victim_phase(client: httpx.Client, phase: Phase, seconds: float) -> None:
    """Submit a task and query it, again and again, for `seconds`; note each latency and failure."""
    deadline = time.monotonic() + seconds
    number = 0
    while time.monotonic() < deadline:
        number += 1
        started = time.perf_counter()
        try:
            created = client.post(T2V, json={"prompt": f"the victim's fox {phase.name} {number}", "duration": "5"})
        except httpx.HTTPError as error:
            phase.failures[f"submit {type(error).__name__}"] += 1
            continue
        phase.submits_ms.append((time.perf_counter() - started) * 1000)
        if created.status_code != 200:
            phase.failures[f"submit {created.status_code}"] += 1
            continue
        started = time.perf_counter()
        try:
            answer = client.get(f"{T2V}/{created.json()['data']['platform_id']}")
        except httpx.HTTPError as error:
            phase.failures[f"query {type(error).__name__}"] += 1
            continue
        phase.queries_ms.append((time.perf_counter() - started) * 1000)
        if answer.status_code != 200:
            phase.failures[f"query {answer.status_code}"] += 1


def rss_mb(pid: int) -> float:
    """The resident memory of a process and its descendants, in MB (Linux /proc)."""
    total_kb, pending = 0, [pid]
    while pending:
        current = pending.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except OSError:
            continue
        total_kb += next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")), 0)
        pending += [int(child) for child in children]
    return total_kb / 1024


@contextmanager
def watched_memory(pid: int, phase: Phase) -> Iterator[None]:
    """Keep the largest RSS of the process tree seen while the block runs."""
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            phase.peak_rss_mb = max(phase.peak_rss_mb, rss_mb(pid))
            done.wait(SAMPLE_S)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        yield
    finally:
        done.set()
        watcher.join()


# --- the run -------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    """How long each phase lasts."""

    quiet_s: float
    during_s: float
    after_s: float
    warm_up_s: float  # from an attack's start until the victim's phase begins: the attack is under way


PLANS = {"quick": Plan(quiet_s=5, during_s=6, after_s=3, warm_up_s=2), "full": Plan(20, 20, 10, 3)}


async def set_up(database_url: str, sandbox_url: str) -> tuple[str, str]:
    """Migrate, add the sandbox channel and the two users; return the victim's and the attacker's keys."""
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
            keys = []
            for name in ("victim", "attacker"):
                user = await create_user(session, name=name, balance_micros=yuan_to_micros("1000000"))
                keys.append((await create_key(session, user_id=user.id, name=name))[1])
            return keys[0], keys[1]
    finally:
        await db.dispose()


def finished_video(url: str, key: str) -> str:
    """Make the attacker's task whose (padded) video the downloads ask for; return its platform id."""
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=30) as client:
        created = client.post(T2V, json={"prompt": "the attacker's video", "duration": "5"})
        created.raise_for_status()
        platform_id: str = created.json()["data"]["platform_id"]
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            status = client.get(f"{T2V}/{platform_id}").json()["data"]["task_status"]
            if status == "succeed":
                return platform_id
            if status == "failed":
                raise RuntimeError("the attacker's video task failed")
            time.sleep(0.2)
    raise RuntimeError("the attacker's video task did not finish in 120 s")


def run_abuse(plan: Plan, only: Sequence[str], console: Console) -> list[Phase]:
    """Start the processes, measure the victim quiet, then during and after each attack."""
    with tempfile.TemporaryDirectory(prefix="kling-abuse-") as directory:
        work_dir = Path(directory)
        sandbox_port, gateway_port = free_port(), free_port()
        sandbox_url, gateway_url = f"http://127.0.0.1:{sandbox_port}", f"http://127.0.0.1:{gateway_port}"
        database_url = sqlite_url(work_dir)
        victim_key, attacker_key = asyncio.run(set_up(database_url, sandbox_url))
        env = os.environ | {
            "KLING_GATEWAY_LOG_LEVEL": "warning",
            "KLING_GATEWAY_DATA_DIR": str(work_dir),
            "KLING_GATEWAY_ALLOW_PRIVATE_CALLBACKS": "true",  # the attacker's receivers are on loopback
            "KLING_GATEWAY_SYNC__POLL_INTERVAL_S": "0.5",
        }
        sandbox = Process(
            "sandbox",
            ["sandbox", "--port", str(sandbox_port), "--speed", "50", "--video-padding-mb", str(PADDING_MB),
             "--access-key", ACCOUNT.access_key, "--secret-key", ACCOUNT.secret_key,
             "--video-concurrency", str(ROOMY), "--resource-pack-units", str(10**9)],
            env,
            work_dir,
        )  # fmt: skip
        serve = ["serve", "--workers", "1", "--port", str(gateway_port), "--database-url", database_url]
        gateway = Process("gateway", [*serve, "--public-url", gateway_url], env, work_dir)
        try:
            sandbox.start()
            wait_listening(sandbox, sandbox_url)
            gateway.start()
            wait_listening(gateway, gateway_url)
            assert gateway.pid is not None
            target = Target(gateway_url, attacker_key, finished_video(gateway_url, attacker_key))
            return _phases(plan, only, target, victim_key, gateway.pid, console)
        finally:
            gateway.stop()
            sandbox.stop()


def _phases(
    plan: Plan, only: Sequence[str], target: Target, victim_key: str, pid: int, console: Console
) -> list[Phase]:
    context = multiprocessing.get_context("spawn")
    headers = {"Authorization": f"Bearer {victim_key}"}
    with httpx.Client(base_url=target.gateway_url, headers=headers, timeout=60) as victim:
        quiet = Phase("before any abuse")
        with watched_memory(pid, quiet):
            victim_phase(victim, quiet, plan.quiet_s)
        phases = [quiet]
        for name in only:
            console.print(f"[dim]{name}…[/dim]")
            during, after = Phase(f"{name}: during"), Phase(f"{name}: after")
            stop, seen = context.Event(), context.Queue()
            attacker = context.Process(target=attack_from_afar, args=(name, target, stop, seen), daemon=True)
            with watched_memory(pid, during):
                attacker.start()
                time.sleep(plan.warm_up_s)
                victim_phase(victim, during, plan.during_s)
                stop.set()
            attacker.join(timeout=15)
            if attacker.is_alive():
                attacker.kill()
            while not seen.empty():
                during.attacker[seen.get()] += 1
            with watched_memory(pid, after):
                victim_phase(victim, after, plan.after_s)
            phases += [during, after]
    return phases


def figures(phases: Sequence[Phase]) -> dict[str, float]:
    """The figures by name: each attack's p99 ratios (during / before) and the peak RSS of the whole run."""
    quiet = phases[0]
    found: dict[str, float] = {"peak_rss_mb": round(max(phase.peak_rss_mb for phase in phases), 1)}
    for phase in phases[1:]:
        if phase.name.endswith(": during"):
            name = phase.name.removesuffix(": during").replace("-", "_")
            for which in ("submit", "query"):
                found[f"{name}_{which}_p99_ratio"] = round(phase.p(which, 0.99) / quiet.p(which, 0.99), 2)
    return found


def print_report(phases: Sequence[Phase], console: Console) -> bool:
    """Print each phase, the attacker's answers and the verdict; say whether every bound was met."""
    table = Table(title=f"The victim's latency (ms) and the gateway's RSS, result videos of {PADDING_MB} MiB")
    for column in ("phase", "submits", "submit p50", "submit p99", "query p50", "query p99", "failures", "RSS MB"):
        table.add_column(column, justify="left" if column in ("phase", "failures") else "right")
    for phase in phases:
        failures = ", ".join(f"{k}: {n}" for k, n in phase.failures.most_common()) or "-"
        table.add_row(
            phase.name,
            str(len(phase.submits_ms)),
            *(f"{phase.p(which, q):.1f}" for which in ("submit", "query") for q in (0.5, 0.99)),
            failures,
            f"{phase.peak_rss_mb:.0f}",
        )
    console.print(table)
    for phase in phases:
        if phase.attacker:
            answers = ", ".join(f"{k}: {n}" for k, n in phase.attacker.most_common(6))
            console.print(f"  {phase.name.removesuffix(': during')}: the attacker got {answers}", highlight=False)
    found = figures(phases)
    ratios = {name: value for name, value in found.items() if name.endswith("_ratio")}
    missed = [f"{name} = {value} > {P99_BOUND}" for name, value in ratios.items() if not value <= P99_BOUND]
    if found["peak_rss_mb"] > RSS_BOUND_MB:
        missed.append(f"peak_rss_mb = {found['peak_rss_mb']} > {RSS_BOUND_MB}")
    failed = [f"{phase.name}: {sum(phase.failures.values())} failed" for phase in phases if phase.failures]
    for line in [*missed, *failed]:
        console.print(f"[red]✗[/red] {line}", highlight=False)
    ok = not missed and not failed
    console.print("[bold green]every bound met[/bold green]" if ok else "[bold red]bounds missed[/bold red]")
    return ok


def parser() -> argparse.ArgumentParser:
    """The command line."""
    parsed = argparse.ArgumentParser(prog="python -m benchmarks.abuse", description=__doc__.split("\n\n")[0])
    parsed.add_argument("--quick", action="store_true", help="short phases (about two minutes in all)")
    parsed.add_argument("--only", action="append", choices=list(ATTACKS), help="run only this attack (repeatable)")
    parsed.add_argument("--json", type=Path, help="write the figures as JSON to this file")
    return parsed


def main(argv: Sequence[str] | None = None) -> int:
    """Run the attacks and print the report; exit 1 when a bound is missed."""
    arguments = parser().parse_args(argv)
    console = Console(width=140 if not sys.stdout.isatty() else None)
    plan = PLANS["quick" if arguments.quick else "full"]
    phases = run_abuse(plan, arguments.only or list(ATTACKS), console)
    ok = print_report(phases, console)
    if arguments.json is not None:
        arguments.json.write_bytes(orjson.dumps(figures(phases), option=orjson.OPT_INDENT_2))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
