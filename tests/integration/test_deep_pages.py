"""A list page read ids-first holds exactly the tasks a plain ORDER BY ... OFFSET would, at every depth."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

import pytest
from sqlalchemy import select

from kling_gateway.store.database import Database, Executor
from kling_gateway.store.models import TASKS, USERS
from kling_gateway.tasks import repository
from kling_gateway.tasks.repository import VIEW_COLUMNS
from tests.databases import run

pytestmark = pytest.mark.both_backends  # the list repository: the store matters

NOW = 1_800_000_000_000
ACTIONS = (("videos", "text2video"), ("videos", "image2video"), ("images", "generations"))
PAGE_SIZES = (1, 7, 50, 103, 104, 500)


async def _add_user(db: Database, name: str) -> int:
    async with db.session() as session, session.begin():
        query = USERS.insert().values(name=name, balance_micros=0, held_micros=0, created_at=NOW)
        return int((await session.execute(query.returning(USERS.c.id))).scalar_one())


async def _store_mixed_tasks(db: Database, user_ids: Sequence[int], count: int) -> None:
    """Store `count` tasks of the users and actions shuffled together, so each list skips over the others."""
    rng = random.Random(7)
    rows: list[dict[str, Any]] = []
    for number in range(count):
        family, action = rng.choice(ACTIONS)
        rows.append(
            {
                "platform_id": f"{'video' if family == 'videos' else 'image'}_{number:026d}",
                "user_id": rng.choice(user_ids),
                "family": family,
                "action": action,
                "upstream_task_id": str(10**17 + number),
                "body_hash": "0" * 64,
                "request_json": "{}",
                "pack_type": "video" if family == "videos" else "image",
                "slots": 1,
                "status": rng.choice(("submitted", "processing", "succeed", "failed")),
                "watermark": False,
                "rate_micros": 1_000_000,
                "hold_micros": 0,
                "created_at": NOW + number,
                "updated_at": NOW + number,
            }
        )
    async with db.session() as session, session.begin():
        await session.execute(TASKS.insert(), rows)


async def _plain_offset_page(
    connection: Executor, *, user_id: int, family: str, action: str, page_num: int, page_size: int
) -> list[Any]:
    c = TASKS.c
    query = (
        select(*VIEW_COLUMNS)
        .where(c.user_id == user_id, c.family == family, c.action == action)
        .order_by(c.id.desc())
        .limit(page_size)
        .offset((page_num - 1) * page_size)
    )
    return list((await connection.execute(query)).all())


async def _total(connection: Executor, *, user_id: int, family: str, action: str) -> int:
    c = TASKS.c
    query = select(c.id).where(c.user_id == user_id, c.family == family, c.action == action)
    return len((await connection.execute(query)).all())


async def _page_through(connection: Executor, *, user_id: int, family: str, action: str, page_size: int) -> list[Any]:
    """Read every page of a list and one past its end, each equal to its plain OFFSET page; return them joined."""
    where: dict[str, Any] = {"user_id": user_id, "family": family, "action": action}
    total = await _total(connection, **where)
    last_page = -(-total // page_size)
    listed: list[Any] = []
    for page_num in range(1, last_page + 2):
        rows, more = await repository.page_for_user(connection, **where, page_num=page_num, page_size=page_size)
        expected = await _plain_offset_page(connection, **where, page_num=page_num, page_size=page_size)
        assert list(rows) == expected, (where, page_num, page_size)
        assert more == (page_num < last_page), (where, page_num, page_size)
        listed.extend(rows)
    assert len(listed) == total > 50  # every list spans several pages of the smaller sizes
    return listed


async def _compare_every_page(url: str) -> None:
    db = Database(url)
    try:
        user_ids = [await _add_user(db, name) for name in ("big", "small")]
        await _store_mixed_tasks(db, user_ids, 600)
        async with db.read() as connection:
            for user_id in user_ids:
                for family, action in ACTIONS:
                    for page_size in PAGE_SIZES:
                        listed = await _page_through(
                            connection, user_id=user_id, family=family, action=action, page_size=page_size
                        )
                        # The statement shown for a page (to explain it) is the one that reads it.
                        where: dict[str, Any] = {"user_id": user_id, "family": family, "action": action}
                        shown_query = repository.page_query(**where, page_num=2, page_size=page_size)
                        shown = (await connection.execute(shown_query)).all()
                        rows, _more = await repository.page_for_user(
                            connection, **where, page_num=2, page_size=page_size
                        )
                        assert list(rows) == shown[:page_size]
                        # Together the pages hold each of the list's tasks once, newest first, and no other.
                        ids = [row.platform_id for row in listed]
                        assert len(set(ids)) == len(ids)
                        assert ids == sorted(ids, reverse=True)
                        assert {(row.family, row.action) for row in listed} == {(family, action)}
    finally:
        await db.dispose()


def test_pages_read_ids_first_equal_plain_offset_pages_at_every_depth(database_url: str) -> None:
    run(_compare_every_page(database_url))
