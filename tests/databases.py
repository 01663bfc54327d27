"""Fresh, migrated databases for tests: a SQLite file or a PostgreSQL database, cloned from a migrated template."""

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
    """Hand out empty, migrated databases of one backend; drop them at the end."""

    def __init__(self, backend: str, tmp_dir: Path) -> None:
        self.backend = backend
        self._tmp_dir = tmp_dir
        self._template: str | None = None
        self._created: list[str] = []

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
                self._created.append(name)
                run(_migrate(POSTGRES_URL.format(name=name)))
                self._template = name
        return self._template

    def new_url(self) -> str:
        """Make a fresh migrated database and return its SQLAlchemy URL."""
        template = self._template_ready()
        if self.backend == "sqlite":
            path = self._tmp_dir / f"{uuid.uuid4().hex[:12]}.db"
            shutil.copyfile(template, path)
            return f"sqlite+aiosqlite:///{path}"
        name = f"kg_test_{uuid.uuid4().hex[:12]}"
        run(_admin(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
        self._created.append(name)
        return POSTGRES_URL.format(name=name)

    def drop_all(self) -> None:
        """Drop every PostgreSQL database this factory made."""
        if self._created:
            run(_admin(*(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)' for name in reversed(self._created))))


@pytest.fixture(scope="session", params=BACKENDS)
def database_factory(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DatabaseFactory]:
    """A factory of fresh databases, once for SQLite and once for PostgreSQL."""
    factory = DatabaseFactory(request.param, tmp_path_factory.mktemp(f"db-{request.param}"))
    yield factory
    factory.drop_all()


@pytest.fixture
def database_url(database_factory: DatabaseFactory) -> str:
    """The URL of an empty, migrated database just for this test."""
    return database_factory.new_url()
