"""Open the gateway's database: SQLite (a WAL file, the default) or PostgreSQL, both through SQLAlchemy async."""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import stat
import threading
import weakref
from collections import namedtuple
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Connection, Dialect, Engine, Executable, Result, Select, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.engine.interfaces import ExceptionContext
from sqlalchemy.exc import DisconnectionError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.util import await_only

from kling_gateway.store.outages import DatabaseUnavailable, is_unusable
from kling_gateway.store.sqlite_inline import inline_creator
from kling_gateway.store.sqlite_inline import is_busy as _is_busy

R = TypeVar("R")
log = logging.getLogger(__name__)
# The database holds secret keys: its file and the directories made for it are for the gateway's user alone.
PRIVATE_DIRECTORY_MODE = 0o700
PRIVATE_FILE_MODE = 0o600
SQLITE_BUSY_TIMEOUT_MS = 10_000  # how long a writer waits for another writer before giving up, unless told
# The client waits this much longer than the server's statement timeout (or twice as long, for a shorter one).
COMMAND_MARGIN_S = 2.0
# PostgreSQL's SQLSTATEs of a statement stopped by a timeout (query_canceled, lock_not_available), and of a
# server that ended the session or cannot take one now (shutdowns, too many connections, connection failures).
TIMED_OUT_STATES = {
    "57014": "the database did not finish a statement in time",
    "55P03": "the database did not grant a lock in time",
}
UNAVAILABLE_STATES = frozenset({"57P01", "57P02", "57P03", "53300", "08000", "08003", "08006"})


# The SQLite driver logs every statement's parameters at DEBUG, secrets among them (keys' signing secrets,
# channels' secret keys); SQLAlchemy's own echo, which an operator can turn on knowingly, is enough.
logging.getLogger("aiosqlite").setLevel(logging.INFO)


def sqlite_url(data_dir: Path) -> str:
    """Name the default database: a SQLite file in the data directory."""
    return f"sqlite+aiosqlite:///{(data_dir / 'gateway.db').resolve()}"


class InlineReader:
    """Run single-statement reads of a SQLite file in the caller's own thread, with the async reader's interface.

    An indexed read of SQLite takes tens of microseconds. Through the async driver each statement is handed to a
    connection's thread and back; under load those threads and the event loop queue on the GIL, and a lookup that
    costs 30 µs waited milliseconds (a task query answered about 700 times a second at 32 connections). In WAL mode
    a reader seldom waits for a writer; writes stay on the async driver, which may wait for the write lock. When the
    file is locked even for readers (a checkpoint resetting the log, an exclusive lock taken by another program), the
    inline read does not wait at all: it is handed to the async driver (`fallback`), which waits in its own thread,
    so one busy moment never stalls every request on the loop. Each thread keeps one open connection, so a read
    checks nothing out.
    """

    def __init__(self, url: URL, fallback: AsyncEngine) -> None:
        self._engine = create_engine(url.set(drivername="sqlite+pysqlite"), isolation_level="AUTOCOMMIT")
        _tune_sqlite_reader(self._engine)
        self._fallback = fallback
        self.fallbacks = 0  # reads handed to the async driver because the file was busy
        self._local = threading.local()
        self._opened: list[Connection] = []
        self._prepared: weakref.WeakKeyDictionary[Select[Any], _Prepared] = weakref.WeakKeyDictionary()

    async def __aenter__(self) -> InlineReader:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        return None

    async def execute(
        self, statement: Executable, parameters: dict[str, Any] | None = None
    ) -> Result[*tuple[Any, ...]]:
        """Run one statement now and return its buffered result; on a busy file, through the async driver."""
        try:
            return (await self._connection()).execute(statement, parameters)
        except OperationalError as error:
            if not _is_busy(error.orig):
                raise
        return await self._through_fallback(statement, parameters)

    async def _through_fallback(
        self, statement: Executable, parameters: Mapping[str, Any] | None
    ) -> Result[*tuple[Any, ...]]:
        self.fallbacks += 1
        async with self._fallback.connect() as connection:
            # The async driver buffers every row before its connection goes back to the pool.
            return await connection.execute(statement, None if parameters is None else dict(parameters))

    async def _connection(self) -> Connection:
        connection: Connection | None = getattr(self._local, "connection", None)
        if connection is None:
            connection = self._local.connection = self._engine.connect()
            self._opened.append(connection)
        return connection

    async def fetch_all(
        self,
        statement: Select[Any],
        parameters: Mapping[str, Any],
        make: Callable[[Sequence[Any]], Any] | None = None,
    ) -> list[Any]:
        """Run a statement built once (a module constant) straight through the SQLite driver; return its rows,
        converted as SQLAlchemy would (e.g. 0/1 to booleans), as named tuples or as `make` builds them from the
        values in column order (a record built straight from the driver's row skips the named tuple).

        SQLAlchemy's execution costs four times the indexed read itself (18 µs against 4.6 µs for a task lookup);
        the statement is compiled to SQL once, and each call binds its values in order.
        """
        prepared = self._prepared.get(statement)
        if prepared is None:
            prepared = self._prepared[statement] = _Prepared.of(statement, self._engine.dialect)
        driver = (await self._connection()).connection.driver_connection
        assert driver is not None  # a connection in use always has one
        try:
            cursor = driver.execute(prepared.sql, prepared.arguments(parameters))
            raws = cursor.fetchall()
        except sqlite3.OperationalError as error:
            if not _is_busy(error):
                raise
            rows = (await self._through_fallback(statement, parameters)).all()
            return list(rows) if make is None else [make(row) for row in rows]
        if make is None:
            return [prepared.row(raw) for raw in raws]
        return [make(prepared.values(raw)) for raw in raws]

    def close(self) -> None:
        """Close every thread's connection."""
        for connection in self._opened:
            connection.close()
        self._opened.clear()
        self._local = threading.local()
        self._engine.dispose()


@dataclass(frozen=True)
class StoreTimeouts:
    """How long the gateway waits on its database before it answers that the store is unavailable."""

    connect_s: float = 5.0  # opening a connection
    statement_s: float = 10.0  # one statement, waiting for locks included (SQLite: for the write lock)
    pool_s: float = 10.0  # waiting for a pooled connection to come free


Reader = AsyncConnection | InlineReader  # what `Database.read()` gives
Executor = AsyncConnection | AsyncSession | InlineReader  # what a repository's reads run on


@dataclass(frozen=True)
class _Prepared:
    """A select compiled for SQLite: its SQL, its parameters in order with their converters and fixed values
    (a LIMIT), and how to turn a driver row into a named row."""

    sql: str
    order: tuple[str, ...]
    fixed: Mapping[str, Any]
    bind_converters: tuple[tuple[int, Callable[[Any], Any]], ...]
    names: type[tuple[Any, ...]]
    converters: tuple[tuple[int, Callable[[Any], Any]], ...]

    @classmethod
    def of(cls, statement: Select[Any], dialect: Dialect) -> _Prepared:
        compiled = statement.compile(dialect=dialect)
        binds = compiled.binds
        order = tuple(compiled.positiontup or ())
        bind_converters = (
            (index, convert)
            for index, name in enumerate(order)
            if (convert := binds[name].type.bind_processor(dialect)) is not None
        )
        columns = list(statement.selected_columns)
        converters = (
            (index, convert)
            for index, column in enumerate(columns)
            if (convert := column.type.result_processor(dialect, None)) is not None
        )
        return cls(
            sql=compiled.string,
            order=order,
            fixed={name: bind.value for name, bind in binds.items() if bind.value is not None},
            bind_converters=tuple(bind_converters),
            names=namedtuple("Row", [column.key for column in columns]),  # type: ignore[misc]
            converters=tuple(converters),
        )

    def arguments(self, values: Mapping[str, Any]) -> list[Any]:
        """Put the values in the SQL's order, converted for the driver."""
        given = {**self.fixed, **values} if self.fixed else values
        arguments = [given[name] for name in self.order]
        for index, convert in self.bind_converters:
            arguments[index] = convert(arguments[index])
        return arguments

    def values(self, raw: tuple[Any, ...]) -> Sequence[Any]:
        """Convert a driver row's values as SQLAlchemy would."""
        if not self.converters:
            return raw
        values = list(raw)
        for index, convert in self.converters:
            values[index] = convert(values[index])
        return values

    def row(self, raw: tuple[Any, ...]) -> tuple[Any, ...]:
        """Name a driver row's columns, converting those SQLAlchemy would."""
        return self.names(*self.values(raw))


async def fetch_all(
    reader: Reader | AsyncSession,
    statement: Select[Any],
    parameters: Mapping[str, Any],
    make: Callable[[Sequence[Any]], R],
) -> list[R]:
    """Run a statement built once with these values and return every row as `make` builds it from the row's
    values: straight through the driver when the reader is SQLite's inline one, else as any statement."""
    if isinstance(reader, InlineReader):
        made: list[R] = await reader.fetch_all(statement, parameters, make)
        return made
    return [make(row) for row in (await reader.execute(statement, dict(parameters))).all()]


class Database:
    """One engine, a session factory for units of work, and a transaction-free reader for the hot path."""

    def __init__(self, url: str | URL, *, pool_size: int = 10, timeouts: StoreTimeouts | None = None) -> None:
        """Open lazily; with `timeouts`, a statement, a connect or a wait for the pool is bounded, and going past
        the bound raises `DatabaseUnavailable` (without, only tools that run long statements knowingly)."""
        self.url = make_url(url)
        self.is_sqlite = self.url.get_backend_name() == "sqlite"
        options: dict[str, Any] = {"pool_pre_ping": False}
        if self.is_sqlite:
            if self.url.database and self.url.database != ":memory:":
                create_private_file(Path(self.url.database))
        else:
            # A connection the server ended is found out on checkout (`_check_on_checkout`), not by the request.
            options |= {"pool_size": pool_size, "max_overflow": pool_size}
            if timeouts is not None:
                options["connect_args"] = _postgres_timeouts(timeouts)
        if timeouts is not None:
            options["pool_timeout"] = timeouts.pool_s
        on_file = self.is_sqlite and self.url.database not in (None, "", ":memory:")
        busy_ms = SQLITE_BUSY_TIMEOUT_MS if timeouts is None else round(timeouts.statement_s * 1000)
        if on_file:
            # Statements run on the loop's thread; only a wait for another writer's lock goes to a thread.
            options["connect_args"] = {"async_creator_fn": inline_creator(busy_timeout_ms=busy_ms)}
        self.engine: AsyncEngine = create_async_engine(self.url, **options)
        _report_unavailability(self.engine)
        if not self.is_sqlite:
            _check_on_checkout(self.engine)
        if self.is_sqlite:
            _tune_sqlite(self.engine, 0 if on_file else busy_ms)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        # Reads of one row need no transaction: on SQLite this keeps them out of the writers' lock entirely.
        self.reader: AsyncEngine = self.engine.execution_options(isolation_level="AUTOCOMMIT")
        self.inline = InlineReader(self.url, fallback=self.reader) if on_file else None

    def session(self) -> AsyncSession:
        """Open a unit of work; the caller commits (`async with db.session() as s, s.begin(): ...`)."""
        return self.sessions()

    def read(self) -> contextlib.AbstractAsyncContextManager[Reader]:
        """Open an autocommit connection for single-statement reads (on a SQLite file, one run inline)."""
        return self.inline if self.inline is not None else self.reader.connect()

    def one_statement(self) -> contextlib.AbstractAsyncContextManager[AsyncConnection]:
        """Open a connection for a unit of work that is one statement. On PostgreSQL the statement commits by
        itself: no BEGIN and no COMMIT, two round trips fewer. On SQLite it is a transaction as any other (run on
        the loop's thread), as making a connection autocommit hands a call to the driver's thread and back."""
        return self.engine.begin() if self.is_sqlite else self.reader.connect()

    def committed(self, session: AsyncSession) -> Executor:
        """Where a unit of work reads what it need not see of its own writes: on a SQLite file the inline reader
        (the committed state, which a writer holding the file's write lock sees too, with no SQLAlchemy execution
        in between), elsewhere the session itself (no second connection)."""
        return self.inline if self.inline is not None else session

    async def dispose(self) -> None:
        """Close every pooled connection."""
        await self.engine.dispose()
        if self.inline is not None:
            self.inline.close()


def create_private_file(path: Path) -> None:
    """Create a SQLite file, and each directory missing on the way to it, for this user alone (SQLite gives the
    file's `-wal` and `-shm` companions its mode); warn about an existing file other users can read."""
    missing = [directory for directory in (path.parent, *path.parent.parents) if not directory.exists()]
    for directory in reversed(missing):
        directory.mkdir(mode=PRIVATE_DIRECTORY_MODE, exist_ok=True)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE))
    except FileExistsError:
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            log.warning(
                "the database %s, which holds secret keys, is open to other users (mode %04o): chmod 600 it", path, mode
            )


def _postgres_timeouts(timeouts: StoreTimeouts) -> dict[str, Any]:
    """asyncpg's connect arguments: the server stops a statement past the bound (so its transaction is rolled
    back, a clear outcome), and the client gives up a little later, for a server that stopped answering."""
    return {
        "timeout": timeouts.connect_s,
        "command_timeout": timeouts.statement_s + min(COMMAND_MARGIN_S, timeouts.statement_s),
        "server_settings": {"statement_timeout": str(round(timeouts.statement_s * 1000))},
    }


def _report_unavailability(engine: AsyncEngine) -> None:
    """Raise `DatabaseUnavailable` for every failure that means the database cannot serve now, connecting or
    running a statement, so that the edge can tell it from a bug."""

    @event.listens_for(engine.sync_engine, "do_connect")
    def _connect(dialect: Dialect, _record: Any, cargs: Any, cparams: Any) -> Any:
        try:
            return dialect.connect(*cargs, **cparams)
        except TimeoutError as error:
            raise DatabaseUnavailable("the database did not accept a connection in time", error) from error
        except Exception as error:  # refused, unreachable, starting up, too many connections, a wrong password
            raise DatabaseUnavailable("the database could not be connected to", error) from error

    @event.listens_for(engine.sync_engine, "handle_error")
    def _on_error(context: ExceptionContext) -> BaseException | None:
        reason = _unavailability(context.original_exception, is_disconnect=context.is_disconnect)
        return None if reason is None else DatabaseUnavailable(reason, context.original_exception)


_JUST_CONNECTED = "just_connected"  # a pooled connection's note that it was never checked out yet


def _check_on_checkout(engine: AsyncEngine) -> None:
    """Find out on checkout a connection the server ended (a restart, pg_terminate_backend), not by the request
    that would have used it, in one round trip.

    The pool's own pre-ping costs three on asyncpg (BEGIN, a statement, ROLLBACK), and a submit checks out
    four times: twelve of its 28 round trips. One simple query finds out as surely: a backend told to end ends
    before it answers. Trusting the driver alone (its socket closed) does not: the backend may not have closed
    it yet when the next request checks the connection out.
    """

    @event.listens_for(engine.sync_engine, "connect")
    def _connected(_dbapi_connection: Any, record: Any) -> None:
        record.info[_JUST_CONNECTED] = True

    @event.listens_for(engine.sync_engine, "checkout")
    def _checked_out(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        if record.info.pop(_JUST_CONNECTED, False):
            return  # a connection made for this checkout needs no ping
        driver = dbapi_connection.driver_connection
        if driver.is_closed():
            raise DisconnectionError("the server ended the connection")
        try:
            await_only(driver.execute("SELECT 1"))
        except TimeoutError as error:  # a server that stopped answering: no hook sees the driver's bare error
            raise DatabaseUnavailable("the database did not answer in time", error) from error
        except Exception as error:
            if driver.is_closed():
                raise DisconnectionError("the server ended the connection") from error
            raise


def _unavailability(error: BaseException, *, is_disconnect: bool) -> str | None:
    if isinstance(error, TimeoutError):
        return "the database did not answer in time"
    state = getattr(error, "sqlstate", None) or getattr(error.__cause__, "sqlstate", None)
    if state in TIMED_OUT_STATES:
        return TIMED_OUT_STATES[state]
    if is_disconnect or state in UNAVAILABLE_STATES:
        return "the connection to the database was lost"
    if _is_busy(error):
        return "the database file stayed locked by another writer"
    if is_unusable(error):  # SQLite's file cannot be opened or written, the database was dropped, a login refused
        return "the database cannot be used now"
    return None


def _tune_sqlite(engine: AsyncEngine, busy_timeout_ms: int) -> None:
    """Make SQLite safe for several writers: WAL, foreign keys, a busy timeout, and BEGIN IMMEDIATE (a file's
    connections run statements inline with a timeout of zero and wait for locks on their thread: `sqlite_inline`).

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
            f"busy_timeout={busy_timeout_ms}",
        ):
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        if connection.get_execution_options().get("isolation_level") != "AUTOCOMMIT":
            connection.exec_driver_sql("BEGIN IMMEDIATE")


def _tune_sqlite_reader(engine: Engine) -> None:
    """Make the inline reader's connections answer at once when the file is locked, rather than wait on the loop
    (WAL is a property of the file)."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA busy_timeout=0")
        cursor.close()
