"""Run the async SQLite driver's calls on the event loop's own thread, waiting for locks on its thread instead.

aiosqlite hands every call — making a cursor, running a statement, fetching its rows, closing it, committing — to
the connection's thread and back: four hops for one statement, some 45 for a submit. Each hop wakes a thread and
hands it the GIL; on a busy machine a woken thread waits for a core, and a submit that does 2 ms of work waited
tens of milliseconds. A statement of the gateway's units of work takes microseconds and, in WAL mode with
`synchronous=NORMAL`, a commit writes the log without an fsync; so each call runs where it is made.

The one thing that may take long is waiting for another writer's lock (`BEGIN IMMEDIATE`). The inline calls run
with a busy timeout of zero, so SQLite refuses at once instead of waiting on the loop; a refused call is then
handed to the connection's thread, which waits with the configured busy timeout as before. SQLite undoes a refused
statement entirely (a refused COMMIT leaves the transaction open to be committed again), so running it again there
is the same statement, not a second one.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from functools import partial
from typing import Any

import aiosqlite


def is_busy(error: BaseException | None) -> bool:
    """Tell whether SQLite refused a statement because the file is locked (SQLITE_BUSY or SQLITE_LOCKED)."""
    code = getattr(error, "sqlite_errorcode", None)
    return code in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED) or "database is locked" in str(error)


class InlineConnection(aiosqlite.Connection):
    """An aiosqlite connection whose calls run in the caller's thread unless the file is locked."""

    def __init__(self, connector: Callable[[], sqlite3.Connection], *, busy_timeout_ms: int) -> None:
        super().__init__(connector, iter_chunk_size=64)
        self.busy_timeout_ms = busy_timeout_ms
        self.waits = 0  # calls handed to the connection's thread because the file was locked

    async def _execute(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if not self._running or not self._connection:
            raise ValueError("Connection closed")
        try:
            return fn(*args, **kwargs)
        except sqlite3.OperationalError as error:
            if not is_busy(error):
                raise
        self.waits += 1
        future = asyncio.get_running_loop().create_future()
        self._tx.put_nowait((future, partial(self._waiting, partial(fn, *args, **kwargs))))
        return await future

    def _waiting(self, call: Callable[[], Any]) -> Any:
        """Make one call on the connection's thread, waiting for the lock as long as the busy timeout says."""
        connection = self._conn
        connection.execute(f"PRAGMA busy_timeout={self.busy_timeout_ms}")
        try:
            return call()
        finally:
            connection.execute("PRAGMA busy_timeout=0")


def inline_creator(*, busy_timeout_ms: int) -> Callable[..., InlineConnection]:
    """Make what opens the engine's connections (`connect_args={"async_creator_fn": ...}`, which the dialect
    calls with the URL's arguments): connections that run their calls inline.

    The sqlite3 connection is opened on the connection's thread and used from the loop's: it must allow that, and
    it is only ever used by one of them at a time (the loop awaits each call it hands over).
    """

    def create(database: str, **arguments: Any) -> InlineConnection:
        arguments |= {"check_same_thread": False, "isolation_level": None}

        def connect() -> sqlite3.Connection:
            connection: sqlite3.Connection = sqlite3.connect(database, **arguments)
            connection.execute("PRAGMA busy_timeout=0")
            return connection

        connection = InlineConnection(connect, busy_timeout_ms=busy_timeout_ms)
        connection._thread.daemon = True  # as SQLAlchemy makes aiosqlite's own: never keep a process alive
        return connection

    return create
