"""Time sequential submits through the gateway against the sandbox's own create, in process or on loopback.

    python scripts/profile_submit.py                      # in process, SQLite, legacy path
    python scripts/profile_submit.py --new --postgres     # the new-style path on a scratch PostgreSQL database
    python scripts/profile_submit.py --loopback           # each server in its own process, as a deployment runs
    python scripts/profile_submit.py --profile out.prof   # cProfile the gateway's submits (in process)
    python scripts/profile_submit.py --statements         # count each submit's statements and transactions

The figure is the gateway's p50 minus the sandbox's p50 for the same create, measured in the same run.
"""

from __future__ import annotations

import argparse
import cProfile
import multiprocessing
import socket
import statistics
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import uvicorn
import uvloop
from sqlalchemy import event

from kling_gateway.api import create_app as create_gateway
from kling_gateway.billing.money import yuan_to_micros
from kling_gateway.channels.admin import add_channel
from kling_gateway.keys.service import create_key
from kling_gateway.sandbox import Account, SandboxConfig
from kling_gateway.sandbox import create_app as create_sandbox
from kling_gateway.settings import Settings
from kling_gateway.store.database import Database, sqlite_url
from kling_gateway.store.migrate import upgrade
from kling_gateway.upstream.tokens import TokenCache
from kling_gateway.users.service import create_user

ACCOUNT = Account(access_key="ak_profile", secret_key="sk_profile_" + "0" * 40, api_key="kling_profile_" + "0" * 30)
ROOMY = 10**9
POSTGRES = "postgres@127.0.0.1:5432"
LEGACY = ("/kling/v1/videos/text2video", "/v1/videos/text2video")  # through the gateway, straight to the sandbox
NEW = ("/kling/text-to-video/kling-3.0-turbo", "/text-to-video/kling-3.0-turbo")
WARM_UP = 5


def body(path: str, external_id: str) -> dict[str, Any]:
    """A small create body of the path's generation with its own external id."""
    if "/v1/" in path:
        return {"prompt": "a cat on a sofa", "external_task_id": external_id}
    return {"prompt": "a cat on a sofa", "options": {"external_task_id": external_id}}


# This process's CPU time per create, by prefix: steadier than wall time on a busy machine.
CPU_MS: dict[str, float] = {}


async def timed(send: Callable[[str], Awaitable[httpx.Response]], count: int, prefix: str) -> list[float]:
    """Send `count` creates one after another; return each one's milliseconds."""
    samples = []
    for index in range(-WARM_UP, count):
        if index == 0:
            cpu_started = time.process_time()
        started = time.perf_counter()
        answer = await send(f"{prefix}-{index}")
        if answer.status_code != 200:
            raise RuntimeError(f"a create failed: {answer.status_code} {answer.text}")
        if index >= 0:
            samples.append((time.perf_counter() - started) * 1000)
    CPU_MS[prefix] = (time.process_time() - cpu_started) * 1000 / count
    return samples


async def set_up(database_url: str, sandbox_url: str) -> str:
    """Create the schema, a roomy channel for the sandbox account and a user with a key; return the key."""
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
            user = await create_user(session, name="profile", balance_micros=yuan_to_micros("100000000"))
            return (await create_key(session, user_id=user.id, name="profile"))[1]
    finally:
        await db.dispose()


@asynccontextmanager
async def database(postgres: bool) -> AsyncIterator[str]:
    """A fresh database: a SQLite file in a temporary directory, or a scratch PostgreSQL database."""
    if not postgres:
        with tempfile.TemporaryDirectory(prefix="kling-profile-") as directory:
            yield sqlite_url(Path(directory))
        return
    name = f"kling_profile_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(f"postgresql://{POSTGRES}/postgres")
    await admin.execute(f"CREATE DATABASE {name}")
    try:
        yield f"postgresql+asyncpg://{POSTGRES}/{name}"
    finally:
        await admin.execute(f"DROP DATABASE {name} WITH (FORCE)")
        await admin.close()


def sandbox_config() -> SandboxConfig:
    return SandboxConfig(accounts=(ACCOUNT,), speed=0.001, video_concurrency=ROOMY, resource_pack_units=10**12, seed=1)


def gateway_settings(database_url: str) -> Settings:
    return Settings(database_url=database_url, log_level="error")


@contextmanager
def counting_statements(db: Database) -> Iterator[Counter[str]]:
    """Count the statements and commits the gateway's pooled connections run (the inline reader is not pooled),
    and on PostgreSQL every round trip the driver makes, by kind (BEGIN, a pool's ping and COMMIT among them)."""
    counts: Counter[str] = Counter()

    def on_execute(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        counts[statement.split(maxsplit=1)[0].upper()] += 1

    def on_commit(_conn: Any) -> None:
        counts["(commit)"] += 1

    def on_checkout(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        driver = dbapi_connection.driver_connection
        if not isinstance(driver._protocol, _CountingProtocol):
            driver._protocol = _CountingProtocol(driver._protocol, counts)

    engine = db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", on_execute)
    event.listen(engine, "commit", on_commit)
    if not db.is_sqlite:  # first, so that a ping on checkout is counted too
        event.listen(engine.pool, "checkout", on_checkout, insert=True)
    try:
        yield counts
    finally:
        event.remove(engine, "before_cursor_execute", on_execute)
        event.remove(engine, "commit", on_commit)
        if not db.is_sqlite:
            event.remove(engine.pool, "checkout", on_checkout)


class _CountingProtocol:
    """asyncpg's protocol, counting the calls that wait for the server's answer: each is one round trip."""

    ROUND_TRIPS = frozenset({"prepare", "bind_execute", "bind_execute_many", "query", "close_statement"})

    def __init__(self, protocol: Any, counts: Counter[str]) -> None:
        self._protocol = protocol
        self._counts = counts

    def __getattr__(self, name: str) -> Any:
        found = getattr(self._protocol, name)
        if name not in self.ROUND_TRIPS:
            return found

        def counted(*args: Any, **kwargs: Any) -> Any:
            self._counts["(round trip)"] += 1
            if name == "query":  # a simple query: BEGIN, COMMIT, ROLLBACK or a ping
                self._counts[f"(round trip: {args[0].split(maxsplit=1)[0].rstrip(';').upper()})"] += 1
            return found(*args, **kwargs)

        return counted


async def in_process(args: argparse.Namespace) -> tuple[list[float], list[float]]:
    """Both apps on this loop, the gateway reaching the sandbox over an in-process transport."""
    gateway_path, sandbox_path = NEW if args.new else LEGACY
    sandbox = create_sandbox(sandbox_config())
    upstream = httpx.AsyncClient(transport=httpx.ASGITransport(app=sandbox), base_url="http://sandbox.test")
    async with database(args.postgres) as url, sandbox.router.lifespan_context(sandbox):
        key = await set_up(url, "http://sandbox.test")
        gateway = create_gateway(gateway_settings(url), http=upstream, run_worker=False)
        async with (
            gateway.router.lifespan_context(gateway),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=gateway),
                base_url="http://gateway.test",
                headers={"Authorization": f"Bearer {key}"},
            ) as client,
        ):

            def send(external_id: str) -> Awaitable[httpx.Response]:
                return client.post(gateway_path, json=body(gateway_path, external_id))

            runtime = gateway.state.runtime
            profiler = cProfile.Profile() if args.profile else None
            with counting_statements(runtime.db) if args.statements else _nothing() as counts:
                if profiler is not None:
                    profiler.enable()
                through = await timed(send, args.count, "via")
                if profiler is not None:
                    profiler.disable()
                    profiler.dump_stats(args.profile)
            if counts is not None:
                per = {name: round(number / (args.count + WARM_UP), 2) for name, number in sorted(counts.items())}
                print("per submit:", per)
        direct = await _direct(upstream, sandbox_path, args.count)
        await upstream.aclose()
    return through, direct


@contextmanager
def _nothing() -> Iterator[None]:
    yield None


async def _direct(upstream: httpx.AsyncClient, path: str, count: int) -> list[float]:
    if "/v1/" in path:
        headers = {"Authorization": f"Bearer {TokenCache(ttl_s=3600).token(ACCOUNT.access_key, ACCOUNT.secret_key)}"}
    else:
        headers = {"Authorization": f"Bearer {ACCOUNT.api_key}"}
    return await timed(lambda external: upstream.post(path, json=body(path, external), headers=headers), count, "d")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _serve(make: Callable[[], Any], port: int) -> None:
    uvicorn.run(make(), host="127.0.0.1", port=port, log_level="error", access_log=False)


@contextmanager
def serving(make: Callable[[], Any]) -> Iterator[str]:
    """Run an app under uvicorn in its own process; yield its URL once it answers."""
    port = _free_port()
    process = multiprocessing.get_context("fork").Process(target=_serve, args=(make, port))
    process.start()
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                httpx.get(url, timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.join(timeout=10)


async def on_loopback(args: argparse.Namespace) -> tuple[list[float], list[float]]:
    """Each server in its own process; sequential requests on one keep-alive client."""
    gateway_path, sandbox_path = NEW if args.new else LEGACY
    async with database(args.postgres) as url:
        with serving(lambda: create_sandbox(sandbox_config())) as sandbox_url:
            key = await set_up(url, sandbox_url)
            with serving(lambda: create_gateway(gateway_settings(url), run_worker=False)) as gateway_url:
                async with httpx.AsyncClient(base_url=gateway_url, headers={"Authorization": f"Bearer {key}"}) as c:
                    through = await timed(lambda e: c.post(gateway_path, json=body(gateway_path, e)), args.count, "v")
            async with httpx.AsyncClient(base_url=sandbox_url) as upstream:
                direct = await _direct(upstream, sandbox_path, args.count)
    return through, direct


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=200, help="submits timed through each (default 200)")
    parser.add_argument("--new", action="store_true", help="the new-style path instead of the legacy one")
    parser.add_argument("--postgres", action="store_true", help="a scratch PostgreSQL database instead of SQLite")
    parser.add_argument("--loopback", action="store_true", help="servers in their own processes on loopback")
    parser.add_argument("--profile", metavar="FILE", help="write a cProfile of the gateway's submits (in process)")
    parser.add_argument("--statements", action="store_true", help="count statements per submit (in process)")
    args = parser.parse_args()
    run = on_loopback if args.loopback else in_process
    through, direct = uvloop.run(run(args))
    gateway, sandbox = statistics.median(through), statistics.median(direct)
    cpu = ""
    if not args.loopback:  # both apps are this process: the sandbox's own CPU per create is taken off
        cpu = f" (CPU {CPU_MS['via']:.2f} ms a submit, {CPU_MS['via'] - CPU_MS['d']:.2f} ms more than the sandbox's)"
    added = gateway - sandbox
    print(f"gateway p50 {gateway:.2f} ms, sandbox p50 {sandbox:.2f} ms: the gateway adds {added:.2f} ms{cpu}")


if __name__ == "__main__":
    main()
