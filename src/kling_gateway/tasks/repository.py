"""Every query on the tasks table, in SQLAlchemy Core: no ORM objects on these paths."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, cast

from sqlalchemy import CursorResult, Row, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from kling_gateway.store.models import TASKS
from kling_gateway.tasks.ids import is_platform_id
from kling_gateway.tasks.states import IN_FLIGHT, UNFINISHED, TaskStatus

TaskRow = Row[*tuple[Any, ...]]
Executor = AsyncConnection | AsyncSession

_c = TASKS.c
# What a query answer shows: fewer columns than the row, so the hot path reads less.
VIEW_COLUMNS = (
    _c.platform_id,
    _c.family,
    _c.action,
    _c.upstream_task_id,
    _c.external_task_id,
    _c.status,
    _c.status_msg,
    _c.task_info_json,
    _c.result_json,
    _c.watermark,
    _c.final_unit_deduction,
    _c.created_at,
    _c.updated_at,
    _c.model,
    _c.seconds,
    _c.width,
    _c.height,
    _c.fps,
    _c.expected_ms,
)


async def find_for_user(
    connection: Executor, *, user_id: int, family: str, reference: str, action: str | None = None
) -> TaskRow | None:
    """Find one of a user's tasks (of one action, or of any in the family) by platform_id, task_id or
    external_task_id: one indexed lookup."""
    query = select(*VIEW_COLUMNS).where(_c.user_id == user_id, _c.family == family)
    if action is not None:
        query = query.where(_c.action == action)
    if is_platform_id(reference):
        rows = (await connection.execute(query.where(_c.platform_id == reference))).all()
    else:
        matches = or_(_c.upstream_task_id == reference, _c.external_task_id == reference)
        rows = (await connection.execute(query.where(matches).limit(2))).all()
    # An external id may happen to equal another task's upstream id; the upstream id wins, as upstream it would.
    return min(rows, key=lambda row: row.upstream_task_id != reference, default=None)


async def page_for_user(
    connection: Executor, *, user_id: int, family: str, action: str, page_num: int, page_size: int
) -> tuple[Sequence[TaskRow], bool]:
    """List a page of a user's tasks of an action, newest first; say whether another page follows."""
    query = (
        select(*VIEW_COLUMNS)
        .where(_c.user_id == user_id, _c.family == family, _c.action == action)
        .order_by(_c.id.desc())
        .limit(page_size + 1)
        .offset((page_num - 1) * page_size)
    )
    rows = (await connection.execute(query)).all()
    return rows[:page_size], len(rows) > page_size


async def cursor_page_for_user(
    connection: Executor, *, user_id: int, family: str, after: str | None, limit: int, newest_first: bool
) -> tuple[Sequence[TaskRow], bool] | None:
    """List a user's tasks of a family from just past the task `after` (a platform id); None if `after` is not
    one of theirs. Say whether more follow."""
    query = select(*VIEW_COLUMNS).where(_c.user_id == user_id, _c.family == family)
    if after is not None:
        start = (
            await connection.execute(
                select(_c.id).where(_c.user_id == user_id, _c.family == family, _c.platform_id == after)
            )
        ).scalar_one_or_none()
        if start is None:
            return None
        query = query.where(_c.id < start if newest_first else _c.id > start)
    query = query.order_by(_c.id.desc() if newest_first else _c.id.asc()).limit(limit + 1)
    rows = (await connection.execute(query)).all()
    return rows[:limit], len(rows) > limit


async def find_by_external_id(session: Executor, *, user_id: int, external_task_id: str) -> TaskRow | None:
    """Find the task a user submitted under an external id (the idempotency key)."""
    query = select(TASKS).where(_c.user_id == user_id, _c.external_task_id == external_task_id)
    return (await session.execute(query)).one_or_none()


async def find_by_platform_id(session: Executor, platform_id: str) -> TaskRow | None:
    """Find a task by the gateway's own id, whoever owns it (for the worker and upstream callbacks)."""
    return (await session.execute(select(TASKS).where(_c.platform_id == platform_id))).one_or_none()


async def insert(session: AsyncSession, values: Mapping[str, Any]) -> int:
    """Store a new task; return its row id."""
    return int((await session.execute(TASKS.insert().values(**values).returning(_c.id))).scalar_one())


async def transition(session: AsyncSession, *, task_id: int, expected: TaskStatus, values: Mapping[str, Any]) -> bool:
    """Change a task only if it is still in `expected`; tell whether this write won."""
    query = update(TASKS).where(_c.id == task_id, _c.status == expected.value).values(**values)
    return cast(CursorResult[Any], await session.execute(query)).rowcount == 1


async def assign_channel(session: AsyncSession, *, task_id: int, channel_id: int, now_ms: int) -> None:
    """Remember which channel a queued task was sent to, while its outcome there is unknown."""
    await session.execute(update(TASKS).where(_c.id == task_id).values(channel_id=channel_id, updated_at=now_ms))


async def delete_queued(session: AsyncSession, *, task_id: int) -> bool:
    """Forget a task that never reached the upstream; tell whether it was still queued."""
    query = delete(TASKS).where(_c.id == task_id, _c.status == TaskStatus.QUEUED.value)
    return cast(CursorResult[Any], await session.execute(query)).rowcount == 1


async def due_for_sync(session: Executor, *, now_ms: int, limit: int) -> Sequence[TaskRow]:
    """List in-flight tasks whose next look upstream is due, most overdue first."""
    query = (
        select(TASKS)
        .where(_c.status.in_([s.value for s in IN_FLIGHT]), _c.next_sync_at <= now_ms)
        .order_by(_c.next_sync_at)
        .limit(limit)
    )
    return (await session.execute(query)).all()


async def reschedule(session: AsyncSession, *, task_ids: Iterable[int], next_sync_at: int) -> None:
    """Set when unfinished tasks are next looked at upstream."""
    ids = list(task_ids)
    if ids:
        query = update(TASKS).where(_c.id.in_(ids), _c.status.in_([s.value for s in IN_FLIGHT]))
        await session.execute(query.values(next_sync_at=next_sync_at))


async def stuck(session: Executor, *, created_before_ms: int, limit: int) -> Sequence[TaskRow]:
    """List unfinished tasks submitted before a moment."""
    query = (
        select(TASKS)
        .where(_c.status.in_([s.value for s in UNFINISHED]), _c.created_at < created_before_ms)
        .order_by(_c.id)
        .limit(limit)
    )
    return (await session.execute(query)).all()


async def unknown_submits(session: Executor, *, updated_before_ms: int, limit: int) -> Sequence[TaskRow]:
    """List queued tasks sent to a channel whose answer never came."""
    query = (
        select(TASKS)
        .where(_c.status == TaskStatus.QUEUED.value, _c.channel_id.is_not(None), _c.updated_at < updated_before_ms)
        .order_by(_c.id)
        .limit(limit)
    )
    return (await session.execute(query)).all()


async def slots_in_use(session: Executor, *, pack_type: str) -> dict[int, int]:
    """Count the concurrency each channel's unfinished tasks of a pack type occupy."""
    query = (
        select(_c.channel_id, func.sum(_c.slots))
        .where(
            _c.pack_type == pack_type,
            _c.channel_id.is_not(None),
            _c.status.in_([s.value for s in UNFINISHED]),
        )
        .group_by(_c.channel_id)
    )
    return {int(channel_id): int(used) for channel_id, used in (await session.execute(query)).all()}
