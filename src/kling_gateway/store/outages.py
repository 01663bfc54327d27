"""Tell a store that cannot be used (down, unreachable, gone, out of room) from a statement that is wrong.

The first is the environment's fault and passes: whoever waits for it says so in one line and tries again later. The
second is a bug, and its traceback is what finds it.
"""

from __future__ import annotations

import sqlite3

from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

MAX_REASON_CHARS = 200  # of the driver's message, quoted in a log line

# SQLite's primary result codes of a file that cannot be used now (see sqlite.org/rescode.html): permission, busy,
# locked, read-only, I/O error, full disk, cannot open, locking protocol, not a database.
_SQLITE_UNAVAILABLE = frozenset(
    {
        sqlite3.SQLITE_PERM,
        sqlite3.SQLITE_BUSY,
        sqlite3.SQLITE_LOCKED,
        sqlite3.SQLITE_READONLY,
        sqlite3.SQLITE_IOERR,
        sqlite3.SQLITE_FULL,
        sqlite3.SQLITE_CANTOPEN,
        sqlite3.SQLITE_PROTOCOL,
        sqlite3.SQLITE_NOTADB,
    }
)
# PostgreSQL's SQLSTATE classes and codes of a server that cannot serve now: connection exceptions, insufficient
# resources, operator intervention (shutdown, a database dropped, a statement cancelled by its timeout), a refused
# login, a database that does not exist (dropped, or not created yet) or takes no connections.
_PG_CLASSES = ("08", "53", "57")
_PG_CODES = frozenset({"28000", "28P01", "3D000", "55000"})


class DatabaseUnavailable(OperationalError):
    """The database refused or dropped the connection, or did not answer in time; `reason` says which in words
    fit for a client (no address, no statement). The engine's hooks (store/database.py) raise it."""

    def __init__(self, reason: str, orig: BaseException) -> None:
        super().__init__(None, None, orig)
        self.reason = reason

    def __str__(self) -> str:
        return f"{self.reason} ({self.orig!r})"


def unavailable_reason(error: BaseException) -> str | None:
    """Say, in one line, why the store cannot be used when that is what `error` means; None for any other error
    (a bug). The reason of a `DatabaseUnavailable` is fit for a client; the others, the driver's, for a log."""
    if isinstance(error, DatabaseUnavailable):
        return error.reason
    if isinstance(error, PoolTimeout):
        return "no database connection came free in time"
    if isinstance(error, DBAPIError):
        # The driver's own message: SQLAlchemy's adds the statement and its parameters, which a log must not carry.
        reason = _one_line(str(error.orig))
        if error.connection_invalidated or is_unusable(error.orig):
            return reason
        return None
    if isinstance(error, OSError):  # raised by the driver's connect itself: refused, unreachable, timed out
        return _one_line(f"{type(error).__name__}: {error}")
    return None


def unavailable_detail(error: BaseException) -> str | None:
    """Say, in one line for an operator's log, why the store cannot be used, in the driver's words too; None for
    any other error."""
    if isinstance(error, DatabaseUnavailable):
        return _one_line(f"{error.reason}: {error.orig}")
    return unavailable_reason(error)


def is_unusable(orig: BaseException | None) -> bool:
    """Tell whether a driver's error is one of a database that cannot be used now, not of a wrong statement."""
    code = getattr(orig, "sqlite_errorcode", None)
    if isinstance(code, int):
        return code & 0xFF in _SQLITE_UNAVAILABLE  # an extended code carries its primary one in the low byte
    sqlstate = getattr(orig, "sqlstate", None)
    if isinstance(sqlstate, str):
        return sqlstate in _PG_CODES or sqlstate.startswith(_PG_CLASSES)
    return isinstance(orig, OSError)


def _one_line(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= MAX_REASON_CHARS else line[: MAX_REASON_CHARS - 1] + "…"
