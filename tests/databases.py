"""Fresh, migrated databases for tests: a SQLite file or a PostgreSQL database, cloned from a migrated template.

A test runs on SQLite. A test whose outcome depends on the store (repositories, transitions, the worker, billing,
migrations, the outbox, chaos and property runs) is marked `both_backends` and runs once on each: SQLite and the
machine's PostgreSQL. A SQLite database is removed as soon as its test ends. A PostgreSQL one is emptied and handed
to the worker's next test, unless its test changed its schema: emptying a dozen small tables takes a few
milliseconds where copying the template takes half a second.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import uuid
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import pytest

from kling_gateway.store.database import Database
from kling_gateway.store.migrate import upgrade

POSTGRES_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
POSTGRES_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
BACKENDS = ("sqlite", "postgresql")
BOTH_BACKENDS = "both_backends"  # the marker of tests that run on each backend

T = TypeVar("T")


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run one piece of async set-up or inspection from a plain test or fixture."""
    return asyncio.run(coroutine)


async def _migrate(url: str) -> None:
    db = Database(url)
    try:
        await upgrade(db)
    finally:
        await db.dispose()


async def _admin(*statements: str) -> None:
    connection = await asyncpg.connect(POSTGRES_DSN)
    try:
        for statement in statements:
            await connection.execute(statement)
    finally:
        await connection.close()


# What a database's schema is, as one digest: its tables, columns, sequences, indexes and migration.
SCHEMA_DIGEST = """
SELECT md5(string_agg(part, ',' ORDER BY part)) FROM (
    SELECT c.relname || ':' || c.relkind::text || ':' || coalesce(a.attname, '') || ':'
           || coalesce(format_type(a.atttypid, a.atttypmod), '') AS part
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
    WHERE n.nspname = 'public'
    UNION ALL SELECT indexdef FROM pg_indexes WHERE schemaname = 'public'
    UNION ALL SELECT version_num FROM alembic_version
) AS parts
"""


async def _schema_digest(name: str) -> str:
    connection = await asyncpg.connect(POSTGRES_DSN.rsplit("/", 1)[0] + f"/{name}")
    try:
        return str(await connection.fetchval(SCHEMA_DIGEST))
    finally:
        await connection.close()


async def _emptied(name: str, digest: str) -> bool:
    """Empty a test's PostgreSQL database for the next test: close its connections, then delete every row but the
    schema's version and restart its sequences. False when it cannot be reused (its schema changed, or it refuses
    connections), and must be dropped instead."""
    admin = await asyncpg.connect(POSTGRES_DSN)
    try:
        await admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", name)
    finally:
        await admin.close()
    try:
        connection = await asyncpg.connect(POSTGRES_DSN.rsplit("/", 1)[0] + f"/{name}")
    except (asyncpg.PostgresError, OSError):
        return False
    try:
        try:
            if await connection.fetchval(SCHEMA_DIGEST) != digest:
                return False
        except asyncpg.PostgresError:  # its migration's table is gone
            return False
        tables = await connection.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'alembic_version'"
        )
        sequences = await connection.fetch("SELECT sequencename FROM pg_sequences WHERE schemaname = 'public'")
        # Without foreign-key triggers (replica role) the tables empty in any order.
        await connection.execute(
            "; ".join(
                [
                    "SET session_replication_role = replica",
                    *(f'DELETE FROM "{row[0]}"' for row in tables),  # noqa: S608 (names from the catalog)
                    *(f"SELECT setval('\"{row[0]}\"', 1, false)" for row in sequences),
                    "RESET session_replication_role",
                ]
            )
        )
        return True
    finally:
        await connection.close()


def ensure_postgres_running() -> None:
    """Start the machine's PostgreSQL cluster when it is down (CI machines boot without it)."""
    ready = subprocess.run(["pg_isready", "-q", "-h", "127.0.0.1"], check=False)
    if ready.returncode != 0:
        for version in Path("/etc/postgresql").iterdir():
            subprocess.run(
                ["pg_ctlcluster", "--skip-systemctl-redirect", version.name, "main", "start"],
                check=False,
            )


class DatabaseFactory:
    """Hand out empty, migrated databases of one backend, each cloned from a template migrated on first use."""

    def __init__(self, backend: str, tmp_dir: Path) -> None:
        self.backend = backend
        self._tmp_dir = tmp_dir
        self._template: str | None = None
        self._digest = ""  # the template's schema digest
        self._spare: list[str] = []  # emptied PostgreSQL databases, for the next tests

    def _template_ready(self) -> str:
        if self._template is None:
            if self.backend == "sqlite":
                path = self._tmp_dir / "template.db"
                run(_migrate(f"sqlite+aiosqlite:///{path}"))
                self._template = str(path)
            else:
                ensure_postgres_running()
                name = f"kg_template_{uuid.uuid4().hex[:12]}"
                run(_admin(f'CREATE DATABASE "{name}"'))
                self._template = name
                run(_migrate(POSTGRES_URL.format(name=name)))
                self._digest = run(_schema_digest(name))
        return self._template

    def new_url(self) -> str:
        """Make a fresh migrated database and return its SQLAlchemy URL."""
        template = self._template_ready()
        if self._spare:
            return POSTGRES_URL.format(name=self._spare.pop())
        name = f"kg_test_{uuid.uuid4().hex[:12]}"
        if self.backend == "sqlite":
            path = self._tmp_dir / f"{name}.db"
            shutil.copy(template, path)  # with its mode: private, as the gateway makes its database
            return f"sqlite+aiosqlite:///{path}"
        run(_admin(f'CREATE DATABASE "{name}" TEMPLATE "{template}" STRATEGY FILE_COPY'))
        return POSTGRES_URL.format(name=name)

    def give_back(self, url: str) -> None:
        """Take back a database this factory made, whoever is still connected to it: remove a SQLite file; empty a
        PostgreSQL database for the next test, or drop it when it cannot be reused."""
        name = url.rsplit("/", 1)[1]
        if self.backend == "sqlite":
            for path in self._tmp_dir.glob(f"{name}*"):  # the file, and its -wal and -shm
                path.unlink()
        elif run(_emptied(name, self._digest)):
            self._spare.append(name)
        else:
            run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    def drop_all(self) -> None:
        """Drop the PostgreSQL template and the spare databases, once no test needs them any more."""
        if self.backend == "postgresql" and self._template is not None:
            for name in [*self._spare, self._template]:
                run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run a test marked `both_backends` (itself, or by its module) once per backend.

    A test that uses no database runs once, whatever its module's mark; marking such a test itself is a mistake.
    """
    if metafunc.definition.get_closest_marker(BOTH_BACKENDS) is None:
        return
    if "backend" in metafunc.fixturenames:
        metafunc.parametrize("backend", BACKENDS)
    elif any(mark.name == BOTH_BACKENDS for mark in metafunc.definition.own_markers):
        raise pytest.UsageError(f"{metafunc.definition.nodeid} is marked {BOTH_BACKENDS} but uses no database")


@pytest.fixture
def backend() -> str:
    """The backend of this test's database: SQLite, unless the test is marked `both_backends`."""
    return "sqlite"


@pytest.fixture(scope="session")
def database_factories(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, DatabaseFactory]]:
    """One factory of fresh databases per backend; each migrates its template only when first asked."""
    factories = {name: DatabaseFactory(name, tmp_path_factory.mktemp(f"db-{name}")) for name in BACKENDS}
    yield factories
    for factory in factories.values():
        factory.drop_all()


@pytest.fixture
def empty_database_url(backend: str, tmp_path: Path) -> Iterator[str]:
    """The URL of a database that exists but has no schema: an empty SQLite file, or a new PostgreSQL database."""
    if backend == "sqlite":
        path = tmp_path / "empty.db"
        path.touch()
        yield f"sqlite+aiosqlite:///{path}"
        return
    ensure_postgres_running()
    name = f"kg_empty_{uuid.uuid4().hex[:12]}"
    run(_admin(f'CREATE DATABASE "{name}"'))
    yield POSTGRES_URL.format(name=name)
    run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def database_url(backend: str, database_factories: dict[str, DatabaseFactory]) -> Iterator[str]:
    """The URL of an empty, migrated database just for this test, removed when the test ends."""
    factory = database_factories[backend]
    url = factory.new_url()
    yield url
    factory.give_back(url)
