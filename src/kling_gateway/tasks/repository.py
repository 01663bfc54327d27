"""Every query on the tasks table, in SQLAlchemy Core, handing out the typed records of `store.records`."""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypedDict, cast

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    CursorResult,
    Integer,
    Select,
    Update,
    and_,
    bindparam,
    case,
    delete,
    func,
    literal_column,
    or_,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from kling_gateway.channels.selection import KEPT, ChannelChoice, choice_of
from kling_gateway.store.database import Executor, fetch_all
from kling_gateway.store.models import CHANNELS, TASKS
from kling_gateway.store.records import PolledTask, Task, TaskDraft, TaskStatus, TaskView, Waiting
from kling_gateway.tasks.ids import is_platform_id
from kling_gateway.tasks.states import IN_FLIGHT, UNFINISHED

_c = TASKS.c
# Each record's columns, in its fields' order: a record is built from its row by position.
VIEW_COLUMNS = tuple(_c[name] for name in TaskView._fields)
TASK_COLUMNS = tuple(_c[name] for name in Task._fields)
POLL_COLUMNS = tuple(_c[name] for name in PolledTask._fields)


class TaskChanges(TypedDict, total=False):
    """What a transition writes; a column left out stays as it is."""

    status: str
    status_msg: str
    task_info_json: str
    result_json: str
    updated_at: int
    next_sync_at: int | None
    upstream_task_id: str
    final_unit_deduction: str | None
    charge_micros: int
    billing_json: str
    channel_id: int
    unbilled_reason: str | None
    absent_count: int
    absent_since: int | None


def _find_statement(*, by_platform_id: bool, of_action: bool) -> Select[Any]:
    query = select(*VIEW_COLUMNS).where(_c.user_id == bindparam("user_id"), _c.family == bindparam("family"))
    # A family's tasks are its asynchronous ones: a synchronous call kept as a task is not one of them.
    query = query.where(_c.action == bindparam("action") if of_action else _c.sync_call.is_(False))
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
) -> TaskView | None:
    """Find one of a user's tasks (of one action, or of any in the family) by platform_id, task_id or
    external_task_id: one indexed lookup."""
    query = _FIND[(is_platform_id(reference), action is not None)]
    values = {"user_id": user_id, "family": family, "reference": reference}
    if action is not None:
        values["action"] = action
    views = await fetch_all(connection, query, values, TaskView.of)
    # An external id may happen to equal another task's upstream id; the upstream id wins, as upstream it would.
    return min(views, key=lambda view: view.upstream_task_id != reference, default=None)


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


def _page_values(*, user_id: int, family: str, action: str, page_num: int, page_size: int) -> dict[str, int | str]:
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
) -> tuple[list[TaskView], bool]:
    """List a page of a user's tasks of an action, newest first; say whether another page follows."""
    values = _page_values(user_id=user_id, family=family, action=action, page_num=page_num, page_size=page_size)
    views = await fetch_all(connection, _PAGE, values, TaskView.of)
    return views[:page_size], len(views) > page_size


async def cursor_page_for_user(
    connection: Executor, *, user_id: int, family: str, after: str | None, limit: int, newest_first: bool
) -> tuple[list[TaskView], bool] | None:
    """List a user's tasks of a family from just past the task `after` (a platform id); None if `after` is not
    one of theirs. Say whether more follow."""
    query = select(*VIEW_COLUMNS).where(_c.user_id == user_id, _c.family == family, _c.sync_call.is_(False))
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
    return [TaskView.of(row) for row in rows[:limit]], len(rows) > limit


_NAMED_REFERENCE: BindParameter[str] = bindparam("reference")
# The statements of a submit, built once: building and keying a statement cost more than running it.
_NAMED = (
    select(*TASK_COLUMNS)
    .where(
        _c.user_id == bindparam("user_id"),
        or_(_c.external_task_id == _NAMED_REFERENCE, _c.upstream_task_id == _NAMED_REFERENCE),
    )
    .limit(2)
)
_VIEW_BY_ID = select(*VIEW_COLUMNS).where(_c.id == bindparam("task_id"))
_INSERT = TASKS.insert().returning(*TASK_COLUMNS)


def _waiting(tasks: Any) -> tuple[ColumnElement[bool], ColumnElement[bool]]:
    """What a task waiting for a channel is, in `tasks` (the table, or an alias of it): queued, on no channel."""
    return tasks.c.status == TaskStatus.QUEUED.value, tasks.c.channel_id.is_(None)


_WAITING = _waiting(TASKS)


def _insert_behind_statement() -> Any:
    # A subquery of RETURNING names the new row by its table's name (SQLAlchemy does not correlate there, and
    # renders RETURNING's columns bare on SQLite); its own columns, unqualified there, are the alias's.
    ahead = TASKS.alias("ahead")

    def new(column: str) -> ColumnElement[Any]:
        return literal_column(f"{TASKS.name}.{column}")

    waiting = select(ahead.c.id).where(
        *_waiting(ahead),
        or_(ahead.c.next_sync_at.is_(None), ahead.c.next_sync_at <= new("created_at")),
        ahead.c.pack_type == new("pack_type"),
        ahead.c.id < new("id"),
    )
    return TASKS.insert().returning(*TASK_COLUMNS, waiting.exists().label("behind"))


_INSERT_BEHIND = _insert_behind_statement()  # a submit's one write of its task, and its one look at the queue


async def find_named(session: Executor, *, user_id: int, reference: str) -> list[Task]:
    """Find the user's tasks whose external id or upstream task id is `reference` (at most one of each)."""
    return await fetch_all(session, _NAMED, {"user_id": user_id, "reference": reference}, Task.of)


async def find_by_platform_id(session: Executor, platform_id: str) -> Task | None:
    """Find a task by the gateway's own id, whoever owns it (for the worker and upstream callbacks)."""
    row = (await session.execute(select(*TASK_COLUMNS).where(_c.platform_id == platform_id))).one_or_none()
    return None if row is None else Task.of(row)


async def find_polled(session: Executor, *, task_id: int) -> PolledTask | None:
    """Read what a move needs of a task, as it is now."""
    row = (await session.execute(select(*POLL_COLUMNS).where(_c.id == task_id))).one_or_none()
    return None if row is None else PolledTask.of(row)


async def find_view(session: Executor, *, task_id: int) -> TaskView | None:
    """Read a task as a query answers it, by its row id."""
    views = await fetch_all(session, _VIEW_BY_ID, {"task_id": task_id}, TaskView.of)
    return views[0] if views else None


async def channel_base_url(session: Executor, *, platform_id: str) -> str | None:
    """Read the base URL of the channel a task went to; None while it has none."""
    query = select(CHANNELS.c.base_url).join(TASKS, _c.channel_id == CHANNELS.c.id).where(_c.platform_id == platform_id)
    found: str | None = (await session.execute(query)).scalar_one_or_none()
    return found


async def find_for_callback(session: Executor, *, task_id: int) -> tuple[TaskView, str | None, str] | None:
    """Read a task as its client callback shows it, the dialect that callback speaks (None: the default) and the
    callback_url; None for a task without one."""
    query = select(*VIEW_COLUMNS, _c.dialect, _c.callback_url).where(_c.id == task_id, _c.callback_url.is_not(None))
    row = (await session.execute(query)).one_or_none()
    return None if row is None else (TaskView.of(row[:-2]), row[-2], row[-1])


async def insert(session: AsyncSession, draft: TaskDraft) -> Task:
    """Store a new task, queued; return it as stored."""
    return Task.of((await session.execute(_INSERT, _queued(draft))).one())


async def insert_behind(session: AsyncSession, draft: TaskDraft) -> tuple[Task, bool]:
    """Store a new task, queued; return it as stored, and whether a task of its pack type, due by the new one's
    submit, has been waiting for a channel longer (then the new one waits behind it)."""
    row = (await session.execute(_INSERT_BEHIND, _queued(draft))).one()
    return Task.of(row[:-1]), bool(row[-1])


def _queued(draft: TaskDraft) -> dict[str, Any]:
    return draft._asdict() | {"status": TaskStatus.QUEUED.value, "updated_at": draft.created_at}


# Built once: its SET clause is the columns each run's values name (the keys of `where` name no column).
_TRANSITION = update(TASKS).where(_c.id == bindparam("moved_id"), _c.status == bindparam("moved_from"))


async def transition(session: AsyncSession, *, task_id: int, expected: TaskStatus, changes: TaskChanges) -> bool:
    """Change a task only if it is still in `expected`; tell whether this write won."""
    values = {"moved_id": task_id, "moved_from": expected.value, **changes}
    return cast(CursorResult[Any], await session.execute(_TRANSITION, values)).rowcount == 1


_TRANSITION_SHOWN = _TRANSITION.returning(*VIEW_COLUMNS)


async def transition_shown(
    connection: AsyncConnection, *, task_id: int, expected: TaskStatus, changes: TaskChanges
) -> TaskView | None:
    """Change a task only if it is still in `expected`, in a statement that is its own unit of work; return the
    task as the write left it, or None if the write lost."""
    values = {"moved_id": task_id, "moved_from": expected.value, **changes}
    row = (await connection.execute(_TRANSITION_SHOWN, values)).one_or_none()
    return None if row is None else TaskView.of(row)


async def adopt_channel(session: AsyncSession, *, task_id: int, channel_id: int) -> None:
    """Set the channel of a task whose upstream callback overtook its create's answer."""
    await session.execute(update(TASKS).where(_c.id == task_id, _c.channel_id.is_(None)).values(channel_id=channel_id))


async def claim_send(session: AsyncSession, *, task_id: int, channel_id: int, now_ms: int, lease_until: int) -> bool:
    """Mark a waiting task as being sent to a channel; tell whether this caller won it.

    Until the upstream has been asked for the task by its external id, a claimed task goes nowhere else: the
    mark is what keeps a create whose answer was lost (or whose sender died) from being repeated elsewhere.
    """
    values = {"claimed_id": task_id, "claimed_for": channel_id, "claimed_at": now_ms, "lease_until": lease_until}
    return cast(CursorResult[Any], await session.execute(_CLAIM_SEND, values)).rowcount == 1


def _claim_send_statement() -> Update:
    # The channel must not have been removed since it was chosen. On PostgreSQL its row is read under a key-share
    # lock, which waits for a removal under way (it locks the row for update) and then sees the row as it left it.
    channel_id: BindParameter[int] = bindparam("claimed_for")
    live = (
        select(CHANNELS.c.id)
        .where(CHANNELS.c.id == channel_id, CHANNELS.c.removed_at.is_(None))
        .with_for_update(read=True, key_share=True)
        .exists()
    )
    return (
        update(TASKS)
        .where(_c.id == bindparam("claimed_id"), _c.status == TaskStatus.QUEUED.value, _c.channel_id.is_(None), live)
        .values(
            channel_id=channel_id,
            send_attempts=_c.send_attempts + 1,
            updated_at=bindparam("claimed_at"),
            next_sync_at=bindparam("lease_until"),
        )
    )


_CLAIM_SEND = _claim_send_statement()  # built once, as every submit claims


async def release_send(session: AsyncSession, *, task_id: int, channel_id: int, retry_at: int | None) -> bool:
    """Put a task back in the queue once its channel is known not to have it; tell whether it was still there."""
    query = (
        update(TASKS)
        .where(_c.id == task_id, _c.status == TaskStatus.QUEUED.value, _c.channel_id == channel_id)
        .values(channel_id=None, next_sync_at=retry_at)
    )
    return cast(CursorResult[Any], await session.execute(query)).rowcount == 1


async def lock_queued_to(session: AsyncSession, *, task_id: int, channel_id: int) -> PolledTask | None:
    """Lock a queued task's row and set its channel; None if it is no longer queued (then nothing is changed)."""
    row = (await session.execute(_LOCK_QUEUED_TO, {"locked_id": task_id, "locked_to": channel_id})).one_or_none()
    return None if row is None else PolledTask.of(row)


_LOCK_QUEUED_TO = (  # built once, as every accepted create runs it
    update(TASKS)
    .where(_c.id == bindparam("locked_id"), _c.status == TaskStatus.QUEUED.value)
    .values(channel_id=bindparam("locked_to"))
    .returning(*POLL_COLUMNS)
)


async def set_next_look(session: AsyncSession, *, task_id: int, at: int) -> None:
    """Set when a queued task is next offered to a channel, or its lost create next checked."""
    query = update(TASKS).where(_c.id == task_id, _c.status == TaskStatus.QUEUED.value).values(next_sync_at=at)
    await session.execute(query)


async def delete_unsent(session: AsyncSession, *, task_id: int) -> bool:
    """Forget a task that never reached the upstream; tell whether it was still queued and unclaimed."""
    query = delete(TASKS).where(_c.id == task_id, _c.status == TaskStatus.QUEUED.value, _c.channel_id.is_(None))
    return cast(CursorResult[Any], await session.execute(query)).rowcount == 1


async def waiting_counts(session: Executor, *, user_id: int) -> tuple[int, int]:
    """Count the tasks waiting for a free channel: the user's, and everyone's."""
    mine = func.sum(case((_c.user_id == user_id, 1), else_=0))
    row = (await session.execute(select(mine, func.count()).where(*_WAITING))).one()
    return int(row[0] or 0), int(row[1])


async def make_ready(session: AsyncSession, *, task_id: int) -> None:
    """Put a new task its submitter could not send in the queue, for the workers to send when there is room."""
    query = update(TASKS).where(*_WAITING, _c.id == task_id).values(next_sync_at=None)
    await session.execute(query)


async def in_flight_for_key(session: Executor, *, key_id: int) -> int:
    """Count a key's unfinished tasks."""
    query = select(func.count()).where(_c.key_id == key_id, _c.status.in_([s.value for s in UNFINISHED]))
    return int((await session.execute(query)).scalar_one())


async def waiting_in_turn(session: Executor, *, now_ms: int, limit: int) -> list[Waiting]:
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
        select(*TASK_COLUMNS, place)
        .join(ranked, ranked.c.id == _c.id)
        .outerjoin(running, running.c.user_id == ranked.c.user_id)
        .order_by(place, _c.id)
        .limit(limit)
    )
    return [Waiting(Task.of(row[:-1]), int(row[-1])) for row in (await session.execute(query)).all()]


async def _claim(
    session: AsyncSession,
    condition: ColumnElement[bool],
    *,
    now_ms: int,
    lease_until: int,
    limit: int,
    columns: Sequence[ColumnElement[Any]],
    newest_first: bool = False,
) -> list[Sequence[Any]]:
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
    rows: list[Sequence[Any]] = list((await session.execute(query)).all())
    rows.sort(key=lambda row: row[0], reverse=newest_first)  # the id comes first in every record
    return rows


async def claim_due(session: AsyncSession, *, now_ms: int, lease_until: int, limit: int) -> list[PolledTask]:
    """Claim in-flight tasks whose next poll is due, most overdue first and then newest first (the order the
    upstream lists them in, so a sweep of its pages can start on the first of several claims). A polled task has
    a fraction of the row's columns, so claiming 100 000 tasks in flight reads and holds a fraction of them."""
    condition = _c.status.in_([s.value for s in IN_FLIGHT])
    rows = await _claim(
        session,
        condition,
        now_ms=now_ms,
        lease_until=lease_until,
        limit=limit,
        columns=POLL_COLUMNS,
        newest_first=True,
    )
    return [PolledTask.of(row) for row in rows]


async def claim_unknown(session: AsyncSession, *, now_ms: int, lease_until: int, limit: int) -> list[Task]:
    """Claim queued tasks sent to a channel whose answer never came (or whose sender died)."""
    condition = and_(_c.status == TaskStatus.QUEUED.value, _c.channel_id.is_not(None))
    rows = await _claim(session, condition, now_ms=now_ms, lease_until=lease_until, limit=limit, columns=TASK_COLUMNS)
    return [Task.of(row) for row in rows]


RESCHEDULE_CHUNK = 1000  # ids per statement: well under the bind-parameter limits of asyncpg and SQLite


async def reschedule(session: AsyncSession, *, task_ids: Iterable[int], next_sync_at: int) -> None:
    """Set when unfinished tasks are next looked at upstream, in a few statements however many there are."""
    ids = list(task_ids)
    in_flight = _c.status.in_([s.value for s in IN_FLIGHT])
    for start in range(0, len(ids), RESCHEDULE_CHUNK):
        chunk = ids[start : start + RESCHEDULE_CHUNK]
        await session.execute(update(TASKS).where(_c.id.in_(chunk), in_flight).values(next_sync_at=next_sync_at))


async def count_absence(session: AsyncSession, *, task_ids: Sequence[int], now_ms: int) -> dict[int, tuple[int, int]]:
    """Count one more look upstream that did not find each of these tasks in flight (the first of a run at
    `now_ms`); return each one's count and the moment of the first, as they are now."""
    in_flight = _c.status.in_([s.value for s in IN_FLIGHT])
    query = (
        update(TASKS)
        .where(_c.id.in_(list(task_ids)), in_flight)
        .values(absent_count=_c.absent_count + 1, absent_since=func.coalesce(_c.absent_since, now_ms))
        .returning(_c.id, _c.absent_count, _c.absent_since)
    )
    rows = (await session.execute(query)).all()
    return {int(task_id): (int(count), int(since)) for task_id, count, since in rows}


async def reset_absence(session: AsyncSession, *, task_ids: Sequence[int]) -> None:
    """Forget the absences of tasks a look upstream found again."""
    await session.execute(update(TASKS).where(_c.id.in_(list(task_ids))).values(absent_count=0, absent_since=None))


async def stuck(session: Executor, *, created_before_ms: int, limit: int) -> list[PolledTask]:
    """List unfinished tasks submitted before a moment."""
    query = (
        select(*POLL_COLUMNS)
        .where(_c.status.in_([s.value for s in UNFINISHED]), _c.created_at < created_before_ms)
        .order_by(_c.id)
        .limit(limit)
    )
    return [PolledTask.of(row) for row in (await session.execute(query)).all()]


async def slots_in_use(session: Executor, *, pack_type: str) -> dict[int, int]:
    """Count the concurrency each channel's unfinished tasks of a pack type occupy."""
    used = await fetch_all(session, _SLOTS_IN_USE, {"pack_type": pack_type}, tuple)
    return {int(channel_id): int(slots) for channel_id, slots in used}


# Built once, for every offer of a task; the statuses are written into the SQL (a list of bound values would be
# expanded per execution, which the driver-level read does not do). They are the enum's own words.
_SLOTS_IN_USE = (
    select(_c.channel_id, func.sum(_c.slots).label("slots"))
    .where(
        _c.pack_type == bindparam("pack_type"),
        _c.channel_id.is_not(None),
        _c.status.in_([literal_column(f"'{status.value}'") for status in UNFINISHED]),
    )
    .group_by(_c.channel_id)
)


def _channels_in_use_statement() -> Select[Any]:
    used = _SLOTS_IN_USE.subquery("used")
    return (
        KEPT.add_columns(used.c.slots.label("slots_in_use"))
        .outerjoin_from(CHANNELS, used, used.c.channel_id == CHANNELS.c.id)
        .order_by(CHANNELS.c.id)
    )


# Built once: a submit's one read of where its task may go.
_CHANNELS_IN_USE = _channels_in_use_statement()
_ChannelInUse: Any = namedtuple("_ChannelInUse", [str(c.key) for c in _CHANNELS_IN_USE.selected_columns])  # type: ignore[misc]
_channel_in_use: Callable[[Sequence[Any]], Any] = _ChannelInUse._make


async def channels_in_use(session: Executor, *, pack_type: str) -> tuple[list[ChannelChoice], dict[int, int]]:
    """Load the channels (as `all_channels` does: the disabled ones too) and the concurrency each one's unfinished
    tasks of a pack type occupy (as `slots_in_use` counts it), in one read."""
    rows = await fetch_all(session, _CHANNELS_IN_USE, {"pack_type": pack_type}, _channel_in_use)
    return [choice_of(row) for row in rows], {int(row.id): int(row.slots_in_use) for row in rows if row.slots_in_use}
