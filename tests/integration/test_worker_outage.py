"""A worker whose database is gone says so in one line per pause, with the reason and no traceback, pauses longer
and longer, and says once that the database is back; then its rounds go on."""

from __future__ import annotations

import asyncio
import ctypes
import logging
import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
import httpx
import pytest
from sqlalchemy.engine import make_url

from kling_gateway.settings import Settings, SyncConfig
from kling_gateway.store.database import Database
from kling_gateway.sync.worker import Worker
from kling_gateway.upstream.client import KlingClient
from tests.databases import POSTGRES_DSN

pytestmark = pytest.mark.both_backends  # what a database that is gone answers differs by backend

SYNC = SyncConfig(idle_sleep_s=0.01, store_retry_s=0.01, store_retry_max_s=0.04)
AT_FDCWD, RENAME_EXCHANGE = -100, 2  # from <fcntl.h> and <stdio.h>
GONE = {"sqlite": "unable to open database file", "postgresql": "is not currently accepting connections"}


@asynccontextmanager
async def gone(database_url: str) -> AsyncIterator[None]:
    """Take the database away, then give it back: a SQLite file replaced by a directory; a PostgreSQL database
    that takes no new connections, its open ones killed."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        path = Path(str(url.database))
        swap_for_a_directory(path)
        try:
            yield
        finally:
            swap_for_a_directory(path)
        return
    name = str(url.database)
    admin = await asyncpg.connect(POSTGRES_DSN)
    try:
        await admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false')
        await admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", name)
        try:
            yield
        finally:
            await admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true')
    finally:
        await admin.close()


def swap_for_a_directory(path: Path) -> None:
    """Put a directory where the file was, keeping the file aside; or the other way round.

    Each way is one atomic exchange of the two names (Linux's renameat2): were the path ever free, a connection
    trying it meanwhile would create an empty database there, and keep it.
    """
    away = path.with_name(path.name + ".away")
    if not away.exists():
        away.mkdir()
    _exchange(path, away)
    if away.is_dir():
        away.rmdir()


def _exchange(first: Path, second: Path) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.renameat2(AT_FDCWD, os.fsencode(first), AT_FDCWD, os.fsencode(second), RENAME_EXCHANGE) != 0:
        number = ctypes.get_errno()
        raise OSError(number, os.strerror(number), str(first), None, str(second))


async def until(condition: Callable[[], bool], what: str, timeout_s: float = 20.0) -> None:
    """Wait until `condition()` holds; at the deadline, fail saying what was awaited."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.005)


async def test_a_database_outage_is_one_line_per_pause_and_one_when_it_is_back(
    database_url: str, backend: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    db = Database(database_url)
    stop = asyncio.Event()
    running: asyncio.Task[None] | None = None
    async with httpx.AsyncClient() as http:
        worker = Worker(db, KlingClient(http), Settings(database_url=database_url, sync=SYNC))
        try:
            if backend == "postgresql":  # its pool holds connections for the outage to kill mid-run
                running = asyncio.create_task(worker.run(stop))
                await until(lambda: worker.rounds >= 2, "two rounds before the outage")
            async with gone(database_url):  # a SQLite file's open connections would go on: it is gone from the start
                running = running or asyncio.create_task(worker.run(stop))
                await until(lambda: worker.outage.failures >= 5, "five failed attempts")
            await until(lambda: not worker.outage.ongoing, "the database back")
            back_at = worker.rounds
            await until(lambda: worker.rounds >= back_at + 3, "rounds again once the database is back")
        finally:
            stop.set()
            if running is not None:
                await running
            await db.dispose()
    records = caplog.records
    assert all(record.exc_info is None and record.exc_text is None for record in records), "no traceback"
    assert all("\n" not in record.getMessage() for record in records)
    *outage, recovery = [record.getMessage() for record in records]
    assert len(outage) >= 5
    assert all(line.startswith("store unavailable: ") for line in outage)
    assert GONE[backend] in outage[-1]  # the reason, as the driver gives it (a killed connection first, on PostgreSQL)
    pauses = [line.rsplit("; retrying in ", 1)[1] for line in outage]
    assert pauses[:4] == ["0.01 s", "0.02 s", "0.04 s", "0.04 s"]  # doubling up to the longest pause
    assert recovery.startswith("store available again after ")
    assert recovery.endswith(f"({len(outage)} failed attempts)")
