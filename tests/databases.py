"""Fresh, migrated databases for tests: a SQLite file or a PostgreSQL database, cloned from a migrated template.

A test runs on SQLite. A test whose outcome depends on the store (repositories, transitions, the worker, billing,
migrations, the outbox, chaos and property runs) is marked `both_backends` and runs once on each: SQLite and the
machine's PostgreSQL. Each database is removed as soon as its test ends.
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
        return self._template

    def new_url(self) -> str:
        """Make a fresh migrated database and return its SQLAlchemy URL."""
        template = self._template_ready()
        name = f"kg_test_{uuid.uuid4().hex[:12]}"
        if self.backend == "sqlite":
            path = self._tmp_dir / f"{name}.db"
            shutil.copy(template, path)  # with its mode: private, as the gateway makes its database
            return f"sqlite+aiosqlite:///{path}"
        run(_admin(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
        return POSTGRES_URL.format(name=name)

    def drop(self, url: str) -> None:
        """Remove a database this factory made, whoever is still connected to it."""
        name = url.rsplit("/", 1)[1]
        if self.backend == "sqlite":
            for path in self._tmp_dir.glob(f"{name}*"):  # the file, and its -wal and -shm
                path.unlink()
        else:
            run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    def drop_template(self) -> None:
        """Drop the PostgreSQL template, once no test needs it any more."""
        if self.backend == "postgresql" and self._template is not None:
            run(_admin(f'DROP DATABASE IF EXISTS "{self._template}" WITH (FORCE)'))


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
        factory.drop_template()


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
    factory.drop(url)
