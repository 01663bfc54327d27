"""The migrations on real SQLite and PostgreSQL: rows stored before a migration keep their meaning after it, the
schema they build is the one the models describe, and each new one can be taken back."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import select

from kling_gateway.store.database import Database
from kling_gateway.store.migrate import downgrade, head_revision, upgrade
from kling_gateway.store.models import CHANNELS, USERS, Base

pytestmark = pytest.mark.both_backends  # the migrations run on each backend


@pytest.fixture
async def db(empty_database_url: str) -> AsyncIterator[Database]:
    database = Database(empty_database_url)
    yield database
    await database.dispose()


async def test_users_and_channels_of_before_0010_are_active_without_a_note_in_the_modelled_schema(db: Database) -> None:
    assert await upgrade(db, to="0009") == "0009"
    async with db.engine.begin() as connection:  # rows as that version wrote them, not as the models would
        await connection.exec_driver_sql(
            "INSERT INTO users (name, balance_micros, held_micros, created_at) VALUES ('alice', 0, 0, 1)"
        )
        await connection.exec_driver_sql(
            "INSERT INTO channels (name, base_url, api_key, priority, weight, video_concurrency, image_concurrency,"
            " try_on_concurrency, enabled, created_at) VALUES ('main', 'https://k.example', 'K', 0, 1, 5, 10, 5,"
            " true, 1)"
        )
    assert await upgrade(db) == head_revision()
    async with db.engine.connect() as connection:
        users = (await connection.execute(select(USERS.c.name, USERS.c.disabled_at, USERS.c.note))).all()
        channels = (await connection.execute(select(CHANNELS.c.name, CHANNELS.c.removed_at))).all()
    assert [tuple(row) for row in users] == [("alice", None, "")]
    assert [tuple(row) for row in channels] == [("main", None)]
    async with db.engine.connect() as connection:  # and the schema is the one the models describe
        differences = await connection.run_sync(lambda sync: compare_metadata(MigrationContext.configure(sync),
                                                                              Base.metadata))  # fmt: skip
    assert differences == []

    assert await downgrade(db, "0009") == "0009"
    assert await upgrade(db) == head_revision()
