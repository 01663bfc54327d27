"""Every statement on the outbox of client callbacks (`client_callbacks`), handing out typed records."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, TypedDict, cast

from sqlalchemy import ColumnElement, CursorResult, and_, exists, func, select, true, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from ulid import ULID

from kling_gateway.store.database import Executor
from kling_gateway.store.models import API_KEYS, CLIENT_CALLBACKS, TASKS

_cb = CLIENT_CALLBACKS.c


def new_message_id() -> str:
    """Name a callback: its `webhook-id`, the same on every retry, so receivers can drop repeats."""
    return f"msg_{ULID()}"


async def enqueue(
    session: AsyncSession, *, task_id: int, status: str, body: str, target: str, now_ms: int, give_up_at: int
) -> None:
    """Queue a callback of a task's new status to its receiver host `target`, inside the transaction that made the
    change; retried until it is delivered or `give_up_at` passes. Queuing the same status of a task twice keeps the
    first."""
    values = {
        "task_id": task_id,
        "status": status,
        "message_id": new_message_id(),
        "body": body,
        "target": target,
        "attempts": 0,
        "next_attempt_at": now_ms,
        "last_error": "",
        "created_at": now_ms,
        "give_up_at": give_up_at,
    }
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    await session.execute(insert(CLIENT_CALLBACKS).values(**values).on_conflict_do_nothing())


@dataclass(frozen=True, slots=True)
class Claimed:
    """A callback its claimer holds the lease on, with where it goes and what signs it."""

    id: int
    task_id: int
    message_id: str
    body: str
    attempts: int
    give_up_at: int
    url: str | None
    platform_id: str
    target: str  # the receiver's host
    webhook_secret: str | None = field(repr=False)  # never in a log line or a traceback


_TARGETS = (
    select(
        _cb.id,
        _cb.task_id,
        _cb.message_id,
        _cb.body,
        _cb.attempts,
        _cb.give_up_at,
        TASKS.c.callback_url.label("url"),
        TASKS.c.platform_id,
        _cb.target,
        API_KEYS.c.webhook_secret,
    )
    .select_from(CLIENT_CALLBACKS.join(TASKS, TASKS.c.id == _cb.task_id))
    .outerjoin(API_KEYS, API_KEYS.c.id == TASKS.c.key_id)
)


CANDIDATES_PER_CLAIM = 4  # due callbacks read for each one a claim may take, to find those whose receiver has room
CLAIM_PASSES = 4  # reads of due callbacks in one claim, at most: each skips the receivers the one before filled


async def claim_due(
    session: AsyncSession,
    *,
    now_ms: int,
    lease_until: int,
    limit: int,
    per_target: int,
    under_way: Mapping[str, int],
) -> list[Claimed]:
    """Take the lease on up to `limit` due callbacks whose task has no earlier one still pending, most overdue
    first, and no more to one receiver host than brings it to `per_target` with those `under_way` to it already.

    A claim moves a callback's next attempt past the lease, and on PostgreSQL skips rows another claim holds, so no
    callback is sent twice at the same time. The callbacks of a receiver at its bound stay due for when it has room;
    those behind them are claimed meanwhile.
    """
    earlier = CLIENT_CALLBACKS.alias("earlier")
    blocked = exists().where(
        earlier.c.task_id == _cb.task_id,
        earlier.c.id < _cb.id,
        earlier.c.delivered_at.is_(None),
        earlier.c.given_up_at.is_(None),
    )
    taken: Counter[str] = Counter(under_way)
    full = {target for target, count in taken.items() if count >= per_target}
    picked: list[int] = []
    for _ in range(CLAIM_PASSES):
        window = (limit - len(picked)) * CANDIDATES_PER_CLAIM
        due = (
            select(_cb.id, _cb.target)
            .where(_cb.next_attempt_at <= now_ms, ~blocked, _cb.target.not_in(sorted(full)), _cb.id.not_in(picked))
            .order_by(_cb.next_attempt_at, _cb.id)
            .limit(window)
            .with_for_update(skip_locked=True, of=CLIENT_CALLBACKS)
        )
        rows = (await session.execute(due)).all()
        for callback_id, target in rows:
            if target in full:
                continue
            picked.append(callback_id)
            taken[target] += 1
            if taken[target] >= per_target:
                full.add(target)
            if len(picked) == limit:
                break
        # Every callback read was taken or waits on a receiver now full: the next read starts past them.
        if len(picked) == limit or len(rows) < window:
            break
    if not picked:
        return []
    claim = (
        update(CLIENT_CALLBACKS)
        .where(_cb.id.in_(picked), _cb.next_attempt_at <= now_ms)
        .values(next_attempt_at=lease_until)
        .returning(_cb.id)
    )
    ids = list((await session.execute(claim)).scalars())
    if not ids:
        return []
    found = (await session.execute(_TARGETS.where(_cb.id.in_(ids)).order_by(_cb.id))).all()
    return [Claimed(**row._mapping) for row in found]


class AfterDelivery(TypedDict, total=False):
    """How a callback stands after one delivery attempt."""

    attempts: int
    next_attempt_at: int | None
    delivered_at: int
    given_up_at: int
    last_error: str


async def release(session: AsyncSession, *, callback_ids: Sequence[int], lease_until: int, now_ms: int) -> None:
    """Hand back claimed callbacks whose delivery was abandoned (the worker stopping), due again now, unless the
    lease on them was lost meanwhile."""
    still_ours = (_cb.id.in_(list(callback_ids)), _cb.next_attempt_at == lease_until)
    await session.execute(update(CLIENT_CALLBACKS).where(*still_ours).values(next_attempt_at=now_ms))


async def record_attempts(
    session: AsyncSession, outcomes: Sequence[tuple[int, AfterDelivery]], *, lease_until: int
) -> int:
    """Write how each claimed callback stands, unless the lease on it was lost meanwhile; return how many were
    still held."""
    held = 0
    for callback_id, after in outcomes:
        still_ours = (_cb.id == callback_id, _cb.next_attempt_at == lease_until)
        written = await session.execute(update(CLIENT_CALLBACKS).where(*still_ours).values(**after))
        held += cast(CursorResult[Any], written).rowcount
    return held


class ListedCallback(NamedTuple):
    """A callback as the admin sees it."""

    id: int
    platform_id: str
    status: str
    message_id: str
    attempts: int
    next_attempt_at: int | None
    last_error: str
    delivered_at: int | None
    given_up_at: int | None
    created_at: int
    give_up_at: int


_LISTED = (
    _cb.id,
    TASKS.c.platform_id,
    _cb.status,
    _cb.message_id,
    _cb.attempts,
    _cb.next_attempt_at,
    _cb.last_error,
    _cb.delivered_at,
    _cb.given_up_at,
    _cb.created_at,
    _cb.give_up_at,
)
_WITH_TASKS = CLIENT_CALLBACKS.join(TASKS, TASKS.c.id == _cb.task_id)
PENDING = _cb.next_attempt_at.is_not(None)
DELIVERED = _cb.delivered_at.is_not(None)
GIVEN_UP = _cb.given_up_at.is_not(None)


async def backlog(session: Executor) -> tuple[int, int | None]:
    """Count the callbacks waiting to be delivered, and say when the most overdue of them was due."""
    count, due = (await session.execute(select(func.count(), func.min(_cb.next_attempt_at)).where(PENDING))).one()
    return int(count), None if due is None else int(due)


async def given_up_since(session: AsyncSession, *, since_ms: int) -> int:
    """Count the callbacks given up from a time on."""
    return int(await session.scalar(select(func.count()).where(_cb.given_up_at >= since_ms)) or 0)


async def newest(session: AsyncSession, *, only: ColumnElement[bool] | None = None, limit: int) -> list[ListedCallback]:
    """List callbacks newest first; `only` is PENDING, DELIVERED or GIVEN_UP, or None for every callback."""
    query = select(*_LISTED).select_from(_WITH_TASKS)
    if only is not None:
        query = query.where(only)
    rows = (await session.execute(query.order_by(_cb.id.desc()).limit(limit))).all()
    return [ListedCallback(*row) for row in rows]


async def of_task(
    session: AsyncSession, *, platform_id: str, only: ColumnElement[bool] | None = None, limit: int
) -> list[ListedCallback] | None:
    """List one task's callbacks newest first (only those matching `only`, when given); None when there is no
    task with that platform id."""
    # From the task, so that a task without such callbacks still gives a row (of nulls) and an unknown one none.
    joined = and_(_cb.task_id == TASKS.c.id, true() if only is None else only)
    query = (
        select(*_LISTED)
        .select_from(TASKS.outerjoin(CLIENT_CALLBACKS, joined))
        .where(TASKS.c.platform_id == platform_id)
        .order_by(_cb.id.desc())
        .limit(limit)
    )
    rows = (await session.execute(query)).all()
    if not rows:
        return None
    return [ListedCallback(*row) for row in rows if row.id is not None]


async def find(session: AsyncSession, callback_id: int) -> ListedCallback | None:
    """Find one callback by its id."""
    row = (await session.execute(select(*_LISTED).select_from(_WITH_TASKS).where(_cb.id == callback_id))).one_or_none()
    return None if row is None else ListedCallback(*row)


async def rearm(session: AsyncSession, *, callback_id: int, now_ms: int, give_up_at: int | None) -> None:
    """Make a callback due now; with `give_up_at`, also give it a new deadline (re-arming a given-up one)."""
    query = update(CLIENT_CALLBACKS).where(_cb.id == callback_id)
    if give_up_at is None:
        await session.execute(query.values(next_attempt_at=now_ms))
    else:
        await session.execute(query.values(next_attempt_at=now_ms, given_up_at=None, give_up_at=give_up_at))
