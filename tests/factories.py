"""Small factories of the records tests store: a queued task's draft with everything a test does not care about."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from kling_gateway.clock import now_ms
from kling_gateway.kling.schemas import Family
from kling_gateway.store.models import TASKS, USERS
from kling_gateway.store.records import TaskDraft
from kling_gateway.tasks import repository
from kling_gateway.tasks.ids import new_platform_id

if TYPE_CHECKING:
    from tests.gateway import RunningGateway


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


@dataclass(frozen=True)
class Stored:
    """A stored task and the ids it answers to."""

    platform_id: str
    upstream_id: str | None
    external_id: str | None
    created_at: int = 0  # ms, as stored


def store(gw: RunningGateway, user: str, *, age_ms: int, **columns: Any) -> Stored:
    """Store a task of a user as the worker leaves it (status, result, deductions), `age_ms` old."""
    family = columns.pop("family", "videos")
    platform_id = new_platform_id(Family(family))
    changes = {name: columns.pop(name) for name in list(columns) if name not in _DRAFT_FIELDS}
    created_at = now_ms() - age_ms

    async def work(session: Any) -> None:
        user_id = (await session.execute(select(USERS.c.id).where(USERS.c.name == user))).scalar_one()
        draft = task_draft(platform_id=platform_id, user_id=user_id, created_at=created_at, family=family, **columns)
        task = await repository.insert(session, draft)
        if changes:
            await session.execute(TASKS.update().where(TASKS.c.id == task.id).values(**changes))

    gw.admin._run(work)
    return Stored(platform_id, changes.get("upstream_task_id"), columns.get("external_task_id"), created_at)


_DRAFT_FIELDS = {"action", "external_task_id", "pack_type", "generation", "sync_call", "model", "seconds"}
