"""Look at the database as it is now, for health checks: a fresh connection each time, never one from the pool,
which may have outlived the database it was opened on; and on SQLite, never creating a file that is missing."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from alembic.runtime.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool


class Probe:
    """Open one short-lived connection per look at the database named by `url`."""

    def __init__(self, url: str | URL, *, timeout_s: float) -> None:
        self.url = make_url(url)
        on_file = self.url.get_backend_name() == "sqlite" and self.url.database not in (None, "", ":memory:")
        self.file = Path(str(self.url.database)) if on_file else None
        # `timeout` is the connect timeout of asyncpg, and the busy timeout of SQLite.
        self.engine: AsyncEngine = create_async_engine(
            _without_creating(self.url), poolclass=NullPool, connect_args={"timeout": timeout_s}
        )

    @contextlib.asynccontextmanager
    async def connect(self) -> AsyncIterator[AsyncConnection]:
        """Open a connection that reads without a transaction of its own, and close it afterwards."""
        if self.file is not None and not self.file.is_file():
            # Said before the driver tries: its thread, left behind by a failed connect, outlives a short event loop.
            missing = "is not a file" if self.file.exists() else "does not exist"
            raise FileNotFoundError(f"unable to open database file: {self.file} {missing}")
        async with self.engine.connect() as connection:
            yield await connection.execution_options(isolation_level="AUTOCOMMIT")

    async def dispose(self) -> None:
        """Close the engine (it keeps no connection between looks)."""
        await self.engine.dispose()


async def reachable(connection: AsyncConnection) -> None:
    """Run the cheapest statement, to see that the database answers."""
    await connection.execute(text("SELECT 1"))


async def revision(connection: AsyncConnection) -> str | None:
    """Name the migration the database is at; None for a database with no schema."""
    return await connection.run_sync(lambda sync: MigrationContext.configure(sync).get_current_revision())


def _without_creating(url: URL) -> URL:
    """Open a SQLite file only if it exists (SQLite would otherwise make an empty one where it is missing)."""
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return url
    return url.set(database=f"file:{url.database}", query={**url.query, "mode": "rw", "uri": "true"})
