"""Every query on the tasks table, in SQLAlchemy Core: no ORM objects on these paths."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, cast

from sqlalchemy import (
    BindParameter,
    CursorResult,
    Integer,
    Row,
    Select,
    and_,
    bindparam,
    case,
    delete,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from kling_gateway.store.database import InlineReader, fetch_all
from kling_gateway.store.models import TASKS
from kling_gateway.store.records import TaskStatus
from kling_gateway.tasks.ids import is_platform_id
from kling_gateway.tasks.states import IN_FLIGHT, UNFINISHED

TaskRow = Row[*tuple[Any, ...]]
Executor = AsyncConnection | AsyncSession | InlineReader

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


def _find_statement(*, by_platform_id: bool, of_action: bool) -> Select[Any]:
    query = select(*VIEW_COLUMNS).where(_c.user_id == bindparam("user_id"), _c.family == bindparam("family"))
    if of_action:
        query = query.where(_c.action == bindparam("action"))
    if by_platform_id:
        return query.where(_c.platform_id == bindparam("reference"))
    reference: BindParameter[str] = bindparam("reference")
    return query.where(or_(_c.upstream_task_id == reference, _c.external_task_id == reference)).limit(2)


# Built once: the hot path only binds values (building and keying a statement per query cost more than the read).
_FIND = {
    (by_platform_id, of_action): _find_statement(by_platform_id=by_platform_id, of_action=of_action)
    for by_platform_id in (False, True)
    for of_action in (False, True)
}


async def find_for_user(
    connection: Executor, *, user_id: int, family: str, reference: str, action: str | None = None
) -> TaskRow | None:
    """Find one of a user's tasks (of one action, or of any in the family) by platform_id, task_id or
    external_task_id: one indexed lookup."""
    query = _FIND[(is_platform_id(reference), action is not None)]
    values = {"user_id": user_id, "family": family, "reference": reference}
    if action is not None:
        values["action"] = action
    rows = await fetch_all(connection, query, values)
    # An external id may happen to equal another task's upstream id; the upstream id wins, as upstream it would.
    return min(rows, key=lambda row: row.upstream_task_id != reference, default=None)


def _page_statement() -> Select[Any]:
    # The OFFSET skips entries of ix_tasks_user_action_newest alone (an index-only scan once the table is
    # vacuumed), so a deep page reads its own rows from the heap and not every row before it.
    mine = (_c.user_id == bindparam("user_id"), _c.family == bindparam("family"), _c.action == bindparam("action"))
    page_ids = (
        select(_c.id)
        .where(*mine)
        .order_by(_c.id.desc())
        .limit(bindparam("limit", type_=Integer))
        .offset(bindparam("offset", type_=Integer))
        .subquery("page_ids")
    )
    return select(*VIEW_COLUMNS).join_from(TASKS, page_ids, _c.id == page_ids.c.id).order_by(_c.id.desc())


# The page's ids first, then their rows (one more than the page, to see if another follows); built once.
_PAGE = _page_statement()


def _page_values(*, user_id: int, family: str, action: str, page_num: int, page_size: int) -> dict[str, Any]:
    return {
        "user_id": user_id,
        "family": family,
        "action": action,
        "limit": page_size + 1,
        "offset": (page_num - 1) * page_size,
    }


def page_query(*, user_id: int, family: str, action: str, page_num: int, page_size: int) -> Select[Any]:
    """The statement page_for_user runs for a page, with its values bound (to show or explain it)."""
    return _PAGE.params(
        _page_values(user_id=user_id, family=family, action=action, page_num=page_num, page_size=page_size)
    )


async def page_for_user(
    connection: Executor, *, user_id: int, family: str, action: str, page_num: int, page_size: int
) -> tuple[Sequence[TaskRow], bool]:
    """List a page of a user's tasks of an action, newest first; say whether another page follows."""
    values = _page_values(user_id=user_id, family=family, action=action, page_num=page_num, page_size=page_size)
    rows = await fetch_all(connection, _PAGE, values)
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


async def insert(session: AsyncSession, values: Mapping[str, Any]) -> TaskRow:
    """Store a new task; return it as stored."""
    return (await session.execute(TASKS.insert().values(**values).returning(*TASKS.c))).one()


async def transition(session: AsyncSession, *, task_id: int, expected: TaskStatus, values: Mapping[str, Any]) -> bool:
    """Change a task only if it is still in `expected`; tell whether this write won."""
    query = update(TASKS).where(_c.id == task_id, _c.status == expected.value).values(**values)
    return cast(CursorResult[Any], await session.execute(query)).rowcount == 1


async def claim_send(session: AsyncSession, *, task_id: int, channel_id: int, now_ms: int, lease_until: int) -> bool:
    """Mark a waiting task as being sent to a channel; tell whether this caller won it.

    Until the upstream has been asked for the task by its external id, a claimed task goes nowhere else: the
    mark is what keeps a create whose answer was lost (or whose sender died) from being repeated elsewhere.
    """
    query = (
        update(TASKS)
        .where(_c.id == task_id, _c.status == TaskStatus.QUEUED.value, _c.channel_id.is_(None))
        .values(channel_id=channel_id, send_attempts=_c.send_attempts + 1, updated_at=now_ms, next_sync_at=lease_until)
    )
    return cast(CursorResult[Any], await session.execute(query)).rowcount == 1


async def release_send(session: AsyncSession, *, task_id: int, channel_id: int, retry_at: int | None) -> bool:
    """Put a task back in the queue once its channel is known not to have it; tell whether it was still there."""
    query = (
        update(TASKS)
        .where(_c.id == task_id, _c.status == TaskStatus.QUEUED.value, _c.channel_id == channel_id)
        .values(channel_id=None, next_sync_at=retry_at)
    )
    return cast(CursorResult[Any], await session.execute(query)).rowcount == 1


async def lock_queued_to(session: AsyncSession, *, task_id: int, channel_id: int) -> TaskRow | None:
    """Lock a queued task's row and set its channel; None if it is no longer queued (then nothing is changed)."""
    query = (
        update(TASKS)
        .where(_c.id == task_id, _c.status == TaskStatus.QUEUED.value)
        .values(channel_id=channel_id)
        .returning(TASKS)
    )
    return cast(TaskRow | None, (await session.execute(query)).one_or_none())


async def set_next_look(session: AsyncSession, *, task_id: int, at: int) -> None:
    """Set when a queued task is next offered to a channel, or its lost create next checked."""
    query = update(TASKS).where(_c.id == task_id, _c.status == TaskStatus.QUEUED.value).values(next_sync_at=at)
    await session.execute(query)


async def delete_unsent(session: AsyncSession, *, task_id: int) -> bool:
    """Forget a task that never reached the upstream; tell whether it was still queued and unclaimed."""
    query = delete(TASKS).where(_c.id == task_id, _c.status == TaskStatus.QUEUED.value, _c.channel_id.is_(None))
    return cast(CursorResult[Any], await session.execute(query)).rowcount == 1


_WAITING = (_c.status == TaskStatus.QUEUED.value, _c.channel_id.is_(None))


async def waiting_counts(session: Executor, *, user_id: int) -> tuple[int, int]:
    """Count the tasks waiting for a free channel: the user's, and everyone's."""
    mine = func.sum(case((_c.user_id == user_id, 1), else_=0))
    row = (await session.execute(select(mine, func.count()).where(*_WAITING))).one()
    return int(row[0] or 0), int(row[1])


async def waiting_ahead(session: Executor, *, task_id: int, pack_type: str, now_ms: int) -> bool:
    """Tell whether a task of the same pack type has been waiting in the queue longer than this one."""
    ready = or_(_c.next_sync_at.is_(None), _c.next_sync_at <= now_ms)
    query = select(_c.id).where(*_WAITING, ready, _c.pack_type == pack_type, _c.id < task_id).limit(1)
    return (await session.execute(query)).first() is not None


async def make_ready(session: AsyncSession, *, task_id: int) -> None:
    """Put a new task its submitter could not send in the queue, for the workers to send when there is room."""
    query = update(TASKS).where(*_WAITING, _c.id == task_id).values(next_sync_at=None)
    await session.execute(query)


async def in_flight_for_key(session: Executor, *, key_id: int) -> int:
    """Count a key's unfinished tasks."""
    query = select(func.count()).where(_c.key_id == key_id, _c.status.in_([s.value for s in UNFINISHED]))
    return int((await session.execute(query)).scalar_one())


async def waiting_in_turn(session: Executor, *, now_ms: int, limit: int) -> Sequence[TaskRow]:
    """List waiting tasks in the order they get a channel: fair shares first, then age.

    A task's `place` is its rank among its owner's waiting tasks (oldest first) plus the number of tasks its
    owner already has upstream, so a user with nothing running goes before one with many.
    """
    sent = or_(
        _c.status.in_([s.value for s in IN_FLIGHT]),
        and_(_c.status == TaskStatus.QUEUED.value, _c.channel_id.is_not(None)),
    )
    running = select(_c.user_id, func.count().label("running")).where(sent).group_by(_c.user_id).subquery()
    turn = func.row_number().over(partition_by=_c.user_id, order_by=_c.id).label("turn")
    ready = or_(_c.next_sync_at.is_(None), _c.next_sync_at <= now_ms)
    ranked = select(_c.id, _c.user_id, turn).where(*_WAITING, ready).subquery()
    place = (ranked.c.turn + func.coalesce(running.c.running, 0)).label("place")
    query = (
        select(TASKS, place)
        .join(ranked, ranked.c.id == _c.id)
        .outerjoin(running, running.c.user_id == ranked.c.user_id)
        .order_by(place, _c.id)
        .limit(limit)
    )
    return (await session.execute(query)).all()


# What a poll needs of a claimed task: to group and sweep it, schedule it, and move and bill it. Fewer columns
# than the row, so claiming 100 000 tasks in flight reads and holds a fraction of them.
POLL_COLUMNS = (
    _c.id,
    _c.platform_id,
    _c.user_id,
    _c.channel_id,
    _c.family,
    _c.action,
    _c.upstream_task_id,
    _c.status,
    _c.rate_micros,
    _c.hold_micros,
    _c.created_at,
    _c.updated_at,
    _c.expected_ms,
    _c.next_sync_at,
    _c.callback_url,  # a move queues a client callback only for a task that has one
)


async def _claim(
    session: AsyncSession,
    condition: Any,
    *,
    now_ms: int,
    lease_until: int,
    limit: int,
    columns: Sequence[Any] = (TASKS,),
    newest_first: bool = False,
) -> list[TaskRow]:
    """Take up to `limit` tasks matching `condition` whose next look is due, moving that look past a lease; the
    most overdue first, and of those due at once the oldest (or, with `newest_first`, the newest) first.

    On PostgreSQL the rows are locked with SKIP LOCKED, so workers claiming at once take different tasks; SQLite
    has one writer at a time, so the same statement is already exclusive there. A worker that dies holding a
    claim simply lets the lease run out: the tasks come due again for the others.
    """
    due = (
        select(_c.id)
        .where(condition, _c.next_sync_at <= now_ms)
        .order_by(_c.next_sync_at, _c.id.desc() if newest_first else _c.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    query = update(TASKS).where(_c.id.in_(due.scalar_subquery())).values(next_sync_at=lease_until).returning(*columns)
    rows = list((await session.execute(query)).all())
    rows.sort(key=lambda row: row.id, reverse=newest_first)
    return rows


async def claim_due(session: AsyncSession, *, now_ms: int, lease_until: int, limit: int) -> list[TaskRow]:
    """Claim in-flight tasks whose next poll is due, most overdue first and then newest first (the order the
    upstream lists them in, so a sweep of its pages can start on the first of several claims); each row holds
    POLL_COLUMNS only."""
    condition = _c.status.in_([s.value for s in IN_FLIGHT])
    return await _claim(
        session,
        condition,
        now_ms=now_ms,
        lease_until=lease_until,
        limit=limit,
        columns=POLL_COLUMNS,
        newest_first=True,
    )


async def claim_unknown(session: AsyncSession, *, now_ms: int, lease_until: int, limit: int) -> list[TaskRow]:
    """Claim queued tasks sent to a channel whose answer never came (or whose sender died)."""
    condition = and_(_c.status == TaskStatus.QUEUED.value, _c.channel_id.is_not(None))
    return await _claim(session, condition, now_ms=now_ms, lease_until=lease_until, limit=limit)


RESCHEDULE_CHUNK = 1000  # ids per statement: well under the bind-parameter limits of asyncpg and SQLite


async def reschedule(session: AsyncSession, *, task_ids: Iterable[int], next_sync_at: int) -> None:
    """Set when unfinished tasks are next looked at upstream, in a few statements however many there are."""
    ids = list(task_ids)
    in_flight = _c.status.in_([s.value for s in IN_FLIGHT])
    for start in range(0, len(ids), RESCHEDULE_CHUNK):
        chunk = ids[start : start + RESCHEDULE_CHUNK]
        await session.execute(update(TASKS).where(_c.id.in_(chunk), in_flight).values(next_sync_at=next_sync_at))


async def stuck(session: Executor, *, created_before_ms: int, limit: int) -> Sequence[TaskRow]:
    """List unfinished tasks submitted before a moment."""
    query = (
        select(TASKS)
        .where(_c.status.in_([s.value for s in UNFINISHED]), _c.created_at < created_before_ms)
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
