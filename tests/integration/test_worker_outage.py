"""A worker whose database is gone says so in one line per pause, with the reason and no traceback, pauses longer
and longer, and says once that the database is back; then its rounds go on."""

from __future__ import annotations

import asyncio
import logging
import shutil
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
GONE = {"sqlite": "unable to open database file", "postgresql": "does not exist"}


@asynccontextmanager
async def gone(database_url: str) -> AsyncIterator[None]:
    """Take the database away (a SQLite file replaced by a directory, a PostgreSQL database renamed), then back."""
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
        await admin.execute(f'ALTER DATABASE "{name}" RENAME TO "{name}_away"')
        try:
            yield
        finally:
            await admin.execute(f'ALTER DATABASE "{name}_away" RENAME TO "{name}"')
    finally:
        await admin.close()


def swap_for_a_directory(path: Path) -> None:
    """Put a directory where the file was, keeping the file aside; or the other way round."""
    away = path.with_name(path.name + ".away")
    if path.is_dir():
        shutil.rmtree(path)
        away.rename(path)
    else:
        path.rename(away)
        path.mkdir()


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
    async with httpx.AsyncClient() as http:
        worker = Worker(db, KlingClient(http), Settings(database_url=database_url, sync=SYNC))
        async with gone(database_url):
            running = asyncio.create_task(worker.run(stop))
            try:
                await until(lambda: worker.outage.failures >= 5, "five failed attempts")
                assert worker.rounds == 0
            except BaseException:
                stop.set()
                await running
                raise
        try:
            await until(lambda: worker.rounds >= 3, "rounds again once the database is back")
        finally:
            stop.set()
            await running
            await db.dispose()
    records = caplog.records
    assert all(record.exc_info is None and record.exc_text is None for record in records), "no traceback"
    assert all("\n" not in record.getMessage() for record in records)
    *outage, recovery = [record.getMessage() for record in records]
    assert len(outage) >= 5
    for line in outage:
        assert line.startswith("store unavailable: ")
        assert GONE[backend] in line
    pauses = [line.rsplit("retrying in ", 1)[1] for line in outage]
    assert pauses[:4] == ["0.01 s", "0.02 s", "0.04 s", "0.04 s"]  # doubling up to the longest pause
    assert recovery.startswith("store available again after ")
    assert recovery.endswith(f"({len(outage)} failed attempts)")
