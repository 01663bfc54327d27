"""SQLite's inline reader: the driver-level path gives the rows SQLAlchemy would, converted the same way."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import BigInteger, Boolean, Column, MetaData, Select, String, Table, bindparam, select

from kling_gateway.store.database import Database, InlineReader, fetch_all, sqlite_url

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


async def test_fetch_all_takes_either_reader(db: Database) -> None:
    async with db.read() as inline, db.reader.connect() as connection:
        rows = {tuple(row) for row in await fetch_all(inline, BY_OWNER, {"owner": "alice"})}
        assert rows == {tuple(row) for row in await fetch_all(connection, BY_OWNER, {"owner": "alice"})}
        assert rows == {(1, "one", True), (2, None, False), (3, "three", True)}


async def test_a_missing_value_is_an_error_not_a_null(db: Database) -> None:
    assert db.inline is not None
    with pytest.raises(KeyError, match="owner"):
        await db.inline.fetch_all(BY_OWNER, {})
