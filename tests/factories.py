"""Small factories of the records tests store: a queued task's draft with everything a test does not care about."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from kling_gateway.store.models import USERS
from kling_gateway.store.records import TaskDraft


async def user_id_of_new_user(session: AsyncSession, *, name: str, created_at: int) -> int:
    """Store a user with no money (the ledger's business is not these tests'); return their id."""
    insert = USERS.insert().values(name=name, balance_micros=0, held_micros=0, created_at=created_at)
    return int((await session.execute(insert.returning(USERS.c.id))).scalar_one())


def task_draft(*, platform_id: str, user_id: int, created_at: int, **fields: Any) -> TaskDraft:
    """A queued text2video task of one slot, its fields overridden by `fields`."""
    defaults: dict[str, Any] = {
        "key_id": None,
        "dialect": None,
        "required_channel_id": None,
        "family": "videos",
        "action": "text2video",
        "external_task_id": None,
        "body_hash": "0" * 64,
        "request_json": "{}",
        "callback_url": None,
        "pack_type": "video",
        "slots": 1,
        "watermark": False,
        "rate_micros": 1_000_000,
        "hold_micros": 0,
        "next_sync_at": None,
        "model": None,
        "seconds": None,
        "width": None,
        "height": None,
        "fps": None,
        "expected_ms": None,
    }
    return TaskDraft(platform_id=platform_id, user_id=user_id, created_at=created_at, **(defaults | fields))
