"""Every query the operator's task commands make: tasks of every user listed newest first in keyset pages, a task
found by any of its ids, and a user's unfinished tasks."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from sqlalchemy import ColumnElement, RowMapping, and_, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from kling_gateway.errors import NotFound
from kling_gateway.kling.schemas import Family
from kling_gateway.store.models import API_KEYS, CHANNELS, TASKS, USERS
from kling_gateway.store.records import TaskStatus
from kling_gateway.tasks.ids import is_platform_id
from kling_gateway.tasks.states import UNFINISHED

_c = TASKS.c
_ran_on = CHANNELS.alias("ran_on")  # the channel a task is on
_bound_to = CHANNELS.alias("bound_to")  # the only channel that may take it
_UNFINISHED = [status.value for status in UNFINISHED]
FAMILIES = frozenset(family.value for family in Family)
MATCHES_SHOWN = 10  # tasks an ambiguous id is said to name, at most


class TaskLine(NamedTuple):
    """A task as the operator's listing shows it."""

    id: int
    platform_id: str
    user: str
    family: str
    action: str
    status: TaskStatus
    channel: str | None
    upstream_task_id: str | None
    external_task_id: str | None
    model: str | None
    hold_micros: int
    charge_micros: int | None
    created_at: int
    updated_at: int

    @classmethod
    def of(cls, row: Sequence[Any]) -> TaskLine:
        """Build the line from a row of `_LINE`, in its order."""
        return cls._make((*row[:5], TaskStatus(row[5]), *row[6:]))


_LINE = select(
    _c.id,
    _c.platform_id,
    USERS.c.name,
    _c.family,
    _c.action,
    _c.status,
    _ran_on.c.name,
    _c.upstream_task_id,
    _c.external_task_id,
    _c.model,
    _c.hold_micros,
    _c.charge_micros,
    _c.created_at,
    _c.updated_at,
).select_from(TASKS.join(USERS, USERS.c.id == _c.user_id).outerjoin(_ran_on, _ran_on.c.id == _c.channel_id))


async def list_tasks(
    session: AsyncSession,
    *,
    user_id: int | None = None,
    statuses: Sequence[TaskStatus] = (),
    channel_id: int | None = None,
    since_ms: int | None = None,
    until_ms: int | None = None,
    action: str | None = None,
    model: str | None = None,
    generation: str | None = None,
    before: str | None = None,
    limit: int,
) -> tuple[list[TaskLine], bool]:
    """List tasks of every user (or those matching each filter given), newest first, from just past the task
    `before` (a platform id); say whether more follow. Each filter walks an index newest first: the user's, the
    channel's or the status's; a time alone walks the ids, or the creation times where the database's statistics
    find that cheaper. `action` is `family/action` or an action alone; `until_ms` is exclusive."""
    conditions: list[ColumnElement[bool]] = []
    if user_id is not None:
        conditions.append(_c.user_id == user_id)
    if statuses:
        conditions.append(_c.status.in_([status.value for status in statuses]))
    if channel_id is not None:
        conditions.append(_c.channel_id == channel_id)
    if since_ms is not None:
        conditions.append(_c.created_at >= since_ms)
    if until_ms is not None:
        conditions.append(_c.created_at < until_ms)
    if action:
        family, _, named = action.partition("/")
        if family in FAMILIES and named:  # `videos/text2video`; an action may hold a slash itself (avatar/…)
            conditions += [_c.family == family, _c.action == named]
        else:
            conditions.append(_c.action == action)
    if model:
        conditions.append(_c.model == model)
    if generation is not None:
        conditions.append(_c.generation == generation)
    if before is not None:
        start = await session.scalar(select(_c.id).where(_c.platform_id == before))
        if start is None:
            raise NotFound(f"--before: there is no task {before!r}; give the platform_id a listing ended with")
        conditions.append(_c.id < start)
    query = _LINE.where(*conditions).order_by(_c.id.desc()).limit(limit + 1)
    lines = [TaskLine.of(row) for row in (await session.execute(query)).all()]
    return lines[:limit], len(lines) > limit


class TaskRecord(NamedTuple):
    """Everything the store keeps of one task, with the names of its user, its key and its channels."""

    row: RowMapping  # every column of the task
    user: str
    key_prefix: str | None
    channel: str | None
    channel_removed_at: int | None
    required_channel: str | None


async def find_task(session: AsyncSession, reference: str, *, user_id: int | None = None) -> TaskRecord:
    """Find one task of any user (or of one) by its platform_id, its upstream task_id or its external_task_id,
    tried in that order, as a client's own lookups are; refuse an id that names none, or several."""
    owner = [] if user_id is None else [_c.user_id == user_id]
    found: list[Any] = []
    if is_platform_id(reference):
        found = await _matching(session, and_(_c.platform_id == reference, *owner))
    for named in (_c.upstream_task_id == reference, _c.external_task_id == reference):
        if not found:
            found = await _matching(session, and_(named, *owner))
    if not found:
        whose = "" if user_id is None else " of that user"
        raise NotFound(f"no task{whose} has the platform_id, task_id or external_task_id {reference!r}")
    if len(found) > 1:
        named_tasks = ", ".join(f"{row.platform_id} ({row.user_name})" for row in found[:MATCHES_SHOWN])
        raise NotFound(f"{reference!r} names {len(found)} tasks: {named_tasks}; give the platform_id, or --user NAME")
    [row] = found
    key_prefix = None
    if row.key_id is not None:
        key_prefix = await session.scalar(select(API_KEYS.c.key_prefix).where(API_KEYS.c.id == row.key_id))
    return TaskRecord(
        row=row._mapping,
        user=row.user_name,
        key_prefix=key_prefix,
        channel=row.channel_name,
        channel_removed_at=row.channel_removed_at,
        required_channel=row.required_channel_name,
    )


async def _matching(session: AsyncSession, condition: ColumnElement[bool]) -> list[Any]:
    # From the users, so that an external_task_id alone is looked up per user in (user_id, external_task_id).
    query = (
        select(
            TASKS,
            USERS.c.name.label("user_name"),
            _ran_on.c.name.label("channel_name"),
            _ran_on.c.removed_at.label("channel_removed_at"),
            _bound_to.c.name.label("required_channel_name"),
        )
        .select_from(USERS.join(TASKS, _c.user_id == USERS.c.id))
        .outerjoin(_ran_on, _ran_on.c.id == _c.channel_id)
        .outerjoin(_bound_to, _bound_to.c.id == _c.required_channel_id)
        .where(condition)
        .order_by(_c.id.desc())
        .limit(MATCHES_SHOWN + 1)
    )
    return list((await session.execute(query)).all())


async def unfinished_of_user(session: AsyncSession, *, user_id: int) -> dict[TaskStatus, int]:
    """Count a user's unfinished tasks by status."""
    return await _counted(session, and_(_c.user_id == user_id, _c.status.in_(_UNFINISHED)))


async def finished_since(session: AsyncSession, *, since_ms: int) -> dict[TaskStatus, int]:
    """Count the tasks that finished (succeeded or failed) from a time on, by status."""
    final = [status.value for status in TaskStatus if status.is_final]
    return await _counted(session, and_(_c.status.in_(final), _c.updated_at >= since_ms))


async def _counted(session: AsyncSession, condition: ColumnElement[bool]) -> dict[TaskStatus, int]:
    query = select(_c.status, func.count()).where(condition).group_by(_c.status)
    return {TaskStatus(status): int(count) for status, count in (await session.execute(query)).all()}
