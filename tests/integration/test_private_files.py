"""The data directory and the SQLite file hold secret keys: the gateway makes them for its own user alone, and the
files SQLite adds beside the database take its mode."""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from kling_gateway.settings import Settings
from kling_gateway.store.database import Database
from kling_gateway.store.migrate import ensure_schema
from kling_gateway.users.service import create_user


@pytest.fixture
def usual_umask() -> Iterator[None]:
    """The umask most systems run with (022), which leaves new files readable by everyone."""
    before = os.umask(0o022)
    yield
    os.umask(before)


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.usefixtures("usual_umask")
async def test_the_default_data_directory_and_database_are_private(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data" / "gateway")  # neither directory exists yet
    db = Database(settings.resolved_database_url())
    try:
        await ensure_schema(db)
        async with db.session() as session, session.begin():
            await create_user(session, name="alice")  # a write: SQLite opens its -wal and -shm files
        files = [tmp_path / "data" / "gateway" / name for name in ("gateway.db", "gateway.db-wal", "gateway.db-shm")]
        assert [mode_of(path) for path in files] == [0o600, 0o600, 0o600]
    finally:
        await db.dispose()
    assert mode_of(tmp_path / "data") == 0o700
    assert mode_of(tmp_path / "data" / "gateway") == 0o700


async def test_a_database_file_others_can_read_is_reported(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "gateway.db"
    path.touch(mode=0o644)
    path.chmod(0o644)
    with caplog.at_level(logging.WARNING, logger="kling_gateway.store"):
        db = Database(f"sqlite+aiosqlite:///{path}")
        await db.dispose()
    assert f"the database {path}, which holds secret keys, is open to other users (mode 0644)" in caplog.text
    assert mode_of(path) == 0o644  # the operator's own file: said, not changed
