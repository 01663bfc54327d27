"""Name, announce and open the database a command works on; only `migrate`, `serve` and `demo` may create one.

Every problem in getting there — a URL that is not one, a driver the gateway does not speak, a file that is not
there, a database without the gateway's schema, a server that does not answer — is one `CannotOpen` whose message
is the one line the command prints.
"""

from __future__ import annotations

from collections.abc import Awaitable
from pathlib import Path
from typing import TypeVar

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError

from kling_gateway.settings import Settings
from kling_gateway.store.database import Database
from kling_gateway.store.migrate import SchemaBehind, current_revision, ensure_schema, head_revision, upgrade

DRIVERS = ("sqlite+aiosqlite", "postgresql+asyncpg")
USE_INSTEAD = "use sqlite+aiosqlite:///PATH or postgresql+asyncpg://USER:PASSWORD@HOST:PORT/DATABASE"
T = TypeVar("T")
FIRST_MIGRATE = "run `kling-gateway migrate` first, or pass --database-url"


class CannotOpen(Exception):
    """The database cannot be used: its URL is wrong, it is missing or not migrated, or its server is down."""


def database_url(given: str | None, settings: Settings) -> URL:
    """Settle the database a command works on: `--database-url`, else the settings'; refuse one the gateway
    cannot speak, naming where it came from."""
    text = given or settings.resolved_database_url()
    source = "--database-url" if given else "KLING_GATEWAY_DATABASE_URL"
    try:
        url = make_url(text)
    except ArgumentError:
        raise CannotOpen(f"{source}: {_hidden(text)!r} is not a database URL; {USE_INSTEAD}") from None
    if url.drivername not in DRIVERS:
        raise CannotOpen(f"{source}: {url.drivername} databases are not supported; {USE_INSTEAD}")
    return url


def described(url: URL) -> str:
    """Name a database for people, without its password."""
    return url.render_as_string(hide_password=True)


async def open_existing(url: URL) -> Database:
    """Open a database that exists and is at this version's migration; create nothing, not even a file."""
    _refuse_missing_file(url)
    db = _engine(url)
    try:
        revision = await _reached(db, current_revision(db))
        if revision is None:
            raise CannotOpen(f"no gateway database at {described(url)} (it has no schema); {FIRST_MIGRATE}")
        if revision != head_revision():
            raise CannotOpen(
                f"the database {described(url)} is at migration {revision}, this gateway needs {head_revision()}; "
                "run `kling-gateway migrate` first"
            )
    except BaseException:
        await db.dispose()
        raise
    return db


async def open_creating(url: URL) -> Database:
    """Open a database, creating its schema when it is empty (what `serve` does); refuse one that is behind."""
    db = _engine(url)
    try:
        await _reached(db, ensure_schema(db))
    except SchemaBehind as behind:
        await db.dispose()
        raise CannotOpen(str(behind)) from None
    except BaseException:
        await db.dispose()
        raise
    return db


async def migrated(url: URL) -> str | None:
    """Bring a database to this version's schema, making it (a SQLite file too) when there is none; return the
    migration it is at."""
    db = _engine(url)
    try:
        return await _reached(db, upgrade(db))
    finally:
        await db.dispose()


def _refuse_missing_file(url: URL) -> None:
    """Refuse a SQLite URL naming no file: connecting would create an empty one."""
    if url.get_backend_name() != "sqlite":
        return
    path = url.database or ""
    if path in ("", ":memory:"):
        raise CannotOpen(f"no database in memory (an empty one each time); {FIRST_MIGRATE}")
    if not Path(path).is_file():
        raise CannotOpen(f"no database at {Path(path).resolve()}; {FIRST_MIGRATE}")


def _engine(url: URL) -> Database:
    try:
        return Database(url)
    except OSError as error:  # e.g. a SQLite file's folder that cannot be made
        raise CannotOpen(f"cannot open the database {described(url)}: {error}") from None


async def _reached(db: Database, first_use: Awaitable[T]) -> T:
    """Await the first statement on a database; a failure there means a wrong URL, password or path, or a server
    that is down (a failure later is a bug, and is not dressed up as one of these)."""
    try:
        return await first_use
    except (OSError, DBAPIError) as error:
        reason = getattr(error, "orig", None) or error
        raise CannotOpen(f"cannot open the database {described(db.url)}: {_one_line(reason)}") from None


def _one_line(reason: BaseException) -> str:
    return " ".join(str(reason).split()) or type(reason).__name__


def _hidden(text: str) -> str:
    """Keep a password out of a URL that could not be read (the part between `:` and `@` of its authority)."""
    head, at, tail = text.rpartition("@")
    if not at or ":" not in head.partition("//")[2]:
        return text
    scheme, _, user_and_password = head.partition("//")
    return f"{scheme}//{user_and_password.partition(':')[0]}:***@{tail}"
