"""Apply the Alembic migrations shipped in this package, from code (no alembic.ini needed)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

from kling_gateway.store.database import Database

MIGRATIONS = Path(__file__).parent / "migrations"


class SchemaBehind(RuntimeError):
    """The database has an older schema than this version of the gateway; run `kling-gateway migrate`."""


def _config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


@cache  # the shipped migrations do not change while a process runs, and reading them takes tens of ms
def head_revision() -> str | None:
    """Name the newest migration this version ships."""
    return ScriptDirectory.from_config(_config()).get_current_head()


async def current_revision(db: Database) -> str | None:
    """Name the migration the database is at; None for an empty database."""
    async with db.engine.connect() as connection:
        return await connection.run_sync(lambda sync: MigrationContext.configure(sync).get_current_revision())


async def upgrade(db: Database, to: str = "head") -> str | None:
    """Bring the database to the newest schema (or to the revision `to`); return the revision it is at."""
    async with db.engine.begin() as connection:
        await connection.run_sync(lambda sync: command.upgrade(_config(sync), to))
    return await current_revision(db)


async def downgrade(db: Database, to: str) -> str | None:
    """Take the database back to the revision `to`; return the revision it is at."""
    async with db.engine.begin() as connection:
        await connection.run_sync(lambda sync: command.downgrade(_config(sync), to))
    return await current_revision(db)


async def ensure_schema(db: Database) -> None:
    """Create the schema on an empty database; refuse to run on one that is behind."""
    current = await current_revision(db)
    if current is None:
        await upgrade(db)
    elif current != head_revision():
        raise SchemaBehind(
            f"the database is at migration {current}, this gateway needs {head_revision()}; "
            "run `kling-gateway migrate` first"
        )
