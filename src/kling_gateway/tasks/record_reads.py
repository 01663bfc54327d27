"""The two reads behind Kling's `/tasks`: a batch of a user's tasks by any of their ids, and a keyset page of a
user's tasks, newest first. Both skip synchronous calls, as Kling's `/tasks` does, and both are statements built
once with a fixed number of value slots (unused ones bound to NULL, which matches nothing), so the SQLite reader
runs them straight through its driver."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import BigInteger, BindParameter, Integer, Select, bindparam, select, union_all

from kling_gateway.kling.task_queries import MAX_IDS, PRODUCT_TYPES
from kling_gateway.store.database import Executor, fetch_all
from kling_gateway.store.models import TASKS
from kling_gateway.store.records import TaskStatus, TaskView
from kling_gateway.tasks.repository import VIEW_COLUMNS

BATCH_MAX_IDS = MAX_IDS  # Kling's cap on ids per `GET /tasks` (reference 2026 §3.8 [obs])
NEWEST_ID = 2**62  # above every row id: the keyset bound of a first page
_c = TASKS.c
_REFERENCES: list[BindParameter[str]] = [bindparam(f"r{slot}") for slot in range(BATCH_MAX_IDS)]
_STATUSES: list[BindParameter[str]] = [bindparam(f"s{slot}") for slot in range(len(TaskStatus))]
ALL_PACK_TYPES = PRODUCT_TYPES  # Kling's product_type values, as the pack_type column holds them
_PACKS: list[BindParameter[str]] = [bindparam(f"p{slot}") for slot in range(len(ALL_PACK_TYPES))]


def _mine(*more: Any) -> Select[Any]:
    return select(*VIEW_COLUMNS, *more).where(_c.user_id == bindparam("user_id"), _c.sync_call.is_(False))


def _by_any_id() -> Select[Any]:
    """One statement of three indexed lookups, one per id form: platform_id (unique), upstream_task_id
    (ix_tasks_upstream) and the client's id ((user_id, external_task_id), unique). In the first two the owner is
    matched as `user_id + 0`, which no index serves, so that neither planner walks all of the user's tasks by
    ix_tasks_user_newest instead (SQLite, which keeps no statistics here, otherwise does)."""
    owner: BindParameter[int] = bindparam("user_id")
    not_sync = _c.sync_call.is_(False)
    lookups = union_all(
        select(*VIEW_COLUMNS).where(_c.platform_id.in_(_REFERENCES), (_c.user_id + 0) == owner, not_sync),
        select(*VIEW_COLUMNS).where(_c.upstream_task_id.in_(_REFERENCES), (_c.user_id + 0) == owner, not_sync),
        select(*VIEW_COLUMNS).where(_c.user_id == owner, _c.external_task_id.in_(_REFERENCES), not_sync),
    ).subquery("lookups")
    return select(*lookups.c)


_BY_ANY_ID = _by_any_id()
_BY_EXTERNAL_ID = _mine().where(_c.external_task_id.in_(_REFERENCES))
# A walk down ix_tasks_user_newest (user_id, id) from the cursor: never an OFFSET.
_PAGE = (
    _mine(_c.id)
    .where(
        _c.id < bindparam("before", type_=BigInteger),
        _c.created_at >= bindparam("start", type_=BigInteger),
        _c.created_at <= bindparam("end", type_=BigInteger),
        _c.status.in_(_STATUSES),
        _c.pack_type.in_(_PACKS),
    )
    .order_by(_c.id.desc())
    .limit(bindparam("limit", type_=Integer))
)


def _slots(prefix: str, values: Sequence[str], size: int) -> dict[str, str | None]:
    padded: list[str | None] = [*values, *([None] * (size - len(values)))]
    return {f"{prefix}{slot}": value for slot, value in enumerate(padded)}


async def tasks_by_ids(
    connection: Executor, *, user_id: int, references: Sequence[str], external_only: bool
) -> list[TaskView]:
    """Find a user's tasks named by up to `BATCH_MAX_IDS` references, in the order asked, each task once.

    A reference names a task by its platform_id, upstream id or the client's external id (with `external_only`,
    by the external id alone); one that names none of the user's tasks is left out, as Kling leaves out ids it
    does not know, so another user's ids are indistinguishable from unknown ones.
    """
    assert len(references) <= BATCH_MAX_IDS
    values: dict[str, Any] = {"user_id": user_id} | _slots("r", references, BATCH_MAX_IDS)
    views = await fetch_all(connection, _BY_EXTERNAL_ID if external_only else _BY_ANY_ID, values, TaskView.of)
    by_platform = {view.platform_id: view for view in views}
    by_upstream = {view.upstream_task_id: view for view in views if view.upstream_task_id is not None}
    by_external = {view.external_task_id: view for view in views if view.external_task_id is not None}
    found: dict[str, TaskView] = {}
    for reference in references:
        # The same precedence as a single lookup: the gateway's id, then the upstream's, then the client's.
        view = (
            by_external.get(reference)
            if external_only
            else by_platform.get(reference) or by_upstream.get(reference) or by_external.get(reference)
        )
        if view is not None:
            found.setdefault(view.platform_id, view)
    return list(found.values())


async def tasks_page(
    connection: Executor,
    *,
    user_id: int,
    before_id: int,
    start_ms: int,
    end_ms: int,
    statuses: Sequence[TaskStatus],
    pack_types: Sequence[str],
    limit: int,
) -> tuple[list[tuple[int, TaskView]], bool]:
    """List up to `limit` of a user's tasks with row ids below `before_id`, created in [start_ms, end_ms], of these
    statuses and pack types, newest first, each with its row id (the next page's keyset bound); say whether more
    follow."""
    values: dict[str, Any] = {
        "user_id": user_id,
        "before": before_id,
        "start": start_ms,
        "end": end_ms,
        "limit": limit + 1,
        **_slots("s", [status.value for status in statuses], len(_STATUSES)),
        **_slots("p", list(pack_types), len(_PACKS)),
    }
    rows = await fetch_all(connection, _PAGE, values, _with_id)
    return rows[:limit], len(rows) > limit


def _with_id(row: Sequence[Any]) -> tuple[int, TaskView]:
    return int(row[-1]), TaskView.of(row[:-1])
