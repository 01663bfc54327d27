"""Open the gateway's database: SQLite (a WAL file, the default) or PostgreSQL, both through SQLAlchemy async."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

SQLITE_BUSY_TIMEOUT_MS = 10_000  # how long a writer waits for another writer before giving up


# The SQLite driver logs every statement's parameters at DEBUG, secrets among them (keys' signing secrets,
# channels' secret keys); SQLAlchemy's own echo, which an operator can turn on knowingly, is enough.
logging.getLogger("aiosqlite").setLevel(logging.INFO)


def sqlite_url(data_dir: Path) -> str:
    """Name the default database: a SQLite file in the data directory."""
    return f"sqlite+aiosqlite:///{(data_dir / 'gateway.db').resolve()}"


class Database:
    """One engine, a session factory for units of work, and a transaction-free reader for the hot path."""

    def __init__(self, url: str | URL, *, pool_size: int = 10) -> None:
        self.url = make_url(url)
        self.is_sqlite = self.url.get_backend_name() == "sqlite"
        options: dict[str, Any] = {"pool_pre_ping": False}
        if self.is_sqlite:
            if self.url.database and self.url.database != ":memory:":
                Path(self.url.database).parent.mkdir(parents=True, exist_ok=True)
        else:
            options |= {"pool_size": pool_size, "max_overflow": pool_size}
        self.engine: AsyncEngine = create_async_engine(self.url, **options)
        if self.is_sqlite:
            _tune_sqlite(self.engine)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        # Reads of one row need no transaction: on SQLite this keeps them out of the writers' lock entirely.
        self.reader: AsyncEngine = self.engine.execution_options(isolation_level="AUTOCOMMIT")

    def session(self) -> AsyncSession:
        """Open a unit of work; the caller commits (`async with db.session() as s, s.begin(): ...`)."""
        return self.sessions()

    def read(self) -> AsyncConnection:
        """Open an autocommit connection for single-statement reads."""
        return self.reader.connect()

    async def dispose(self) -> None:
        """Close every pooled connection."""
        await self.engine.dispose()


def _tune_sqlite(engine: AsyncEngine) -> None:
    """Make SQLite safe for several writers: WAL, foreign keys, a busy timeout, and BEGIN IMMEDIATE.

    A deferred transaction that reads and then writes can fail at once with "database is locked" when another
    writer committed in between; taking the write lock at BEGIN makes writers queue behind the busy timeout instead.
    """

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # let the "begin" hook below issue BEGIN itself
        cursor = dbapi_connection.cursor()
        for pragma in (
            "journal_mode=WAL",
            "synchronous=NORMAL",
            "foreign_keys=ON",
            f"busy_timeout={SQLITE_BUSY_TIMEOUT_MS}",
        ):
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        if connection.get_execution_options().get("isolation_level") != "AUTOCOMMIT":
            connection.exec_driver_sql("BEGIN IMMEDIATE")
