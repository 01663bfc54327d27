"""SQLite's inline statements: the reader's driver-level path gives the rows SQLAlchemy would, converted the same
way; a read or a write that meets a locked file waits off the loop."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import BigInteger, Boolean, Column, MetaData, Select, String, Table, bindparam, select

from kling_gateway.store.database import Database, InlineReader, fetch_all, sqlite_url
from kling_gateway.store.sqlite_inline import InlineConnection

METADATA = MetaData()
THINGS = Table(
    "things",
    METADATA,
    Column("id", BigInteger, primary_key=True),
    Column("owner", String(16), nullable=False),
    Column("name", String(32)),
    Column("flag", Boolean, nullable=False),
)
BY_OWNER = select(THINGS.c.id, THINGS.c.name, THINGS.c.flag).where(THINGS.c.owner == bindparam("owner"))
FIRST_TWO = BY_OWNER.order_by(THINGS.c.id).limit(2)


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(sqlite_url(tmp_path))
    async with database.engine.begin() as connection:
        await connection.run_sync(METADATA.create_all)
        await connection.execute(
            THINGS.insert(),
            [
                {"id": 1, "owner": "alice", "name": "one", "flag": True},
                {"id": 2, "owner": "alice", "name": None, "flag": False},
                {"id": 3, "owner": "alice", "name": "three", "flag": True},
                {"id": 4, "owner": "bob", "name": "four", "flag": False},
            ],
        )
    yield database
    await database.dispose()


async def test_a_sqlite_file_is_read_inline_and_memory_is_not(db: Database) -> None:
    assert isinstance(db.inline, InlineReader)
    assert Database("sqlite+aiosqlite:///:memory:").inline is None


@pytest.mark.parametrize("statement", [BY_OWNER, FIRST_TWO], ids=["all", "limit"])
async def test_rows_and_their_types_match_sqlalchemys(db: Database, statement: Select[Any]) -> None:
    assert db.inline is not None
    for owner in ("alice", "bob", "nobody"):
        through_driver = await db.inline.fetch_all(statement, {"owner": owner})
        async with db.reader.connect() as connection:
            expected = (await connection.execute(statement, {"owner": owner})).all()
        assert [tuple(row) for row in through_driver] == [tuple(row) for row in expected]
        assert [type(row.flag) for row in through_driver] == [bool] * len(expected)
        assert [row.name for row in through_driver] == [row.name for row in expected]


async def test_fetch_all_takes_either_reader_and_builds_each_row_with_make(db: Database) -> None:
    async with db.read() as inline, db.reader.connect() as connection:
        rows = set(await fetch_all(inline, BY_OWNER, {"owner": "alice"}, tuple))
        assert rows == set(await fetch_all(connection, BY_OWNER, {"owner": "alice"}, tuple))
        assert rows == {(1, "one", True), (2, None, False), (3, "three", True)}
        assert [type(flag) for _, _, flag in rows] == [bool] * 3  # converted before `make` sees the values


async def test_a_missing_value_is_an_error_not_a_null(db: Database) -> None:
    assert db.inline is not None
    with pytest.raises(KeyError, match="owner"):
        await db.inline.fetch_all(BY_OWNER, {})


@pytest.fixture
async def locked(db: Database) -> AsyncIterator[Callable[[], None]]:
    """Lock the file even for readers, as another program holding it in exclusive mode does; yield what lets go."""
    assert db.url.database is not None
    await db.engine.dispose()  # the only connection left is the lock holder's, so it can take the file
    holder = sqlite3.connect(db.url.database, isolation_level=None, check_same_thread=False)
    holder.execute("PRAGMA locking_mode=EXCLUSIVE")
    holder.execute("SELECT 1 FROM things")  # in exclusive mode the first access takes the lock and keeps it

    yield holder.close  # a WAL file opened in exclusive mode stays locked until its connection closes
    holder.close()


@pytest.mark.parametrize("read", ["fetch_all", "execute"])
async def test_a_busy_file_hands_the_read_to_the_async_driver_and_the_loop_goes_on(
    db: Database, locked: Callable[[], None], read: str
) -> None:
    assert db.inline is not None
    loop = asyncio.get_running_loop()
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.01)

    ticker = asyncio.create_task(tick())
    loop.call_later(0.3, locked)  # the lock holder lets go after a while; until then the read waits off the loop
    started = loop.time()
    if read == "fetch_all":
        rows = await db.inline.fetch_all(BY_OWNER, {"owner": "bob"})
    else:
        rows = list((await db.inline.execute(BY_OWNER, {"owner": "bob"})).all())
    waited = loop.time() - started
    ticker.cancel()
    assert [tuple(row) for row in rows] == [(4, "four", False)]
    assert db.inline.fallbacks == 1
    assert waited >= 0.25  # it really waited for the lock...
    assert ticks >= 10  # ...and the loop went on meanwhile


async def test_a_file_not_busy_is_read_inline(db: Database) -> None:
    assert db.inline is not None
    await db.inline.fetch_all(BY_OWNER, {"owner": "bob"})
    await db.inline.execute(BY_OWNER, {"owner": "bob"})
    assert db.inline.fallbacks == 0


async def test_a_write_waits_for_another_writers_lock_off_the_loop(db: Database) -> None:
    assert db.url.database is not None
    holder = sqlite3.connect(db.url.database, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")  # another process's writer, in the middle of its transaction
    holder.execute("UPDATE things SET name = 'held' WHERE id = 4")
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while ticks < 5:
            ticks += 1
            await asyncio.sleep(0.01)
        holder.commit()  # lets go only once the loop has gone round while the write waited

    ticker = asyncio.create_task(tick())
    async with db.session() as session, session.begin():
        await session.execute(THINGS.update().where(THINGS.c.id == 4).values(flag=True))
        driver = (await (await session.connection()).get_raw_connection()).driver_connection
    await ticker
    holder.close()
    assert isinstance(driver, InlineConnection)
    assert driver.waits == 1  # BEGIN IMMEDIATE was refused inline and waited on the connection's thread
    async with db.read() as reader:
        rows = await fetch_all(reader, BY_OWNER, {"owner": "bob"}, tuple)
    assert rows == [(4, "held", True)]  # the two writes one after the other, neither lost


async def test_writes_to_a_file_not_locked_never_leave_the_loop(db: Database) -> None:
    async with db.session() as session, session.begin():
        await session.execute(THINGS.update().where(THINGS.c.id == 1).values(name="uno"))
        driver = (await (await session.connection()).get_raw_connection()).driver_connection
    assert isinstance(driver, InlineConnection)
    assert driver.waits == 0
