"""Kling's `/tasks` over the gateway's store: read its query (`GET`, ids) and body (`POST`, a cursor listing) as
Kling does (reference 2026 §3.8, §3.9), and answer them with the caller's own tasks of both generations.

A cursor is opaque to the client: it carries the last row id of the page and the time window of the first page
(later pages ignore the window they are sent, as Kling's do), so paging is a keyset walk that never skips or
repeats a task, however many are added meanwhile.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from kling_gateway.errors import InvalidRequest
from kling_gateway.keys.service import Principal
from kling_gateway.store.database import Database
from kling_gateway.store.records import TaskStatus, TaskView
from kling_gateway.tasks import record_reads
from kling_gateway.tasks.record_reads import ALL_PACK_TYPES, BATCH_MAX_IDS, NEWEST_ID

TOO_MANY_IDS = f"task_ids and external_task_ids cannot exceed {BATCH_MAX_IDS} in total"  # Kling's own words
DEFAULT_LIMIT = 100
MAX_LIMIT = 500
DEFAULT_WINDOW_MS = 30 * 24 * 3600 * 1000  # 30 days back from end_time
STATUS_FILTER = {
    "submitted": (TaskStatus.QUEUED, TaskStatus.SUBMITTED),
    "processing": (TaskStatus.PROCESSING,),
    "succeeded": (TaskStatus.SUCCEED,),
    "failed": (TaskStatus.FAILED,),
}
LIST_FIELDS = ("start_time", "end_time", "cursor", "limit", "filters")
FILTER_KEYS = {"status": tuple(STATUS_FILTER), "product_type": ALL_PACK_TYPES}


@dataclass(frozen=True, slots=True)
class IdQuery:
    """`GET /tasks`: the ids asked for, in order, and whether they are all the client's external ids."""

    references: tuple[str, ...]
    external_only: bool


@dataclass(frozen=True, slots=True)
class ListQuery:
    """`POST /tasks`: where the page starts, its time window and filters, and how long it is."""

    before_id: int
    start_ms: int
    end_ms: int
    statuses: tuple[TaskStatus, ...]
    pack_types: tuple[str, ...]
    limit: int


def parse_ids(task_ids: str | None, external_task_ids: str | None) -> IdQuery:
    """Read `task_ids` or `external_task_ids` (comma lists, one of the two, at most 20 ids in all)."""
    ids, external = _split(task_ids), _split(external_task_ids)
    if len(ids) + len(external) > BATCH_MAX_IDS:
        raise InvalidRequest(TOO_MANY_IDS, param="task_ids" if ids else "external_task_ids")
    if ids and external:
        raise InvalidRequest("give either task_ids or external_task_ids, not both", param="task_ids")
    if not ids and not external:
        raise InvalidRequest(
            "task_ids: give task_ids (platform_id or task_id values) or external_task_ids, as a comma list",
            param="task_ids",
        )
    return IdQuery(references=tuple(ids or external), external_only=not ids)


def _split(raw: str | None) -> list[str]:
    return [] if raw is None else [part.strip() for part in raw.split(",") if part.strip()]


def parse_listing(raw: object, *, now_ms: int) -> ListQuery:
    """Read a `POST /tasks` body; refuse any field Kling does not define, or a value it does not take."""
    if not isinstance(raw, dict):
        raise InvalidRequest("request body must be a JSON object with start_time, end_time, cursor, limit, filters")
    unknown = sorted(set(raw) - set(LIST_FIELDS))
    if unknown:
        raise InvalidRequest(
            f"{unknown[0]}: not a field of POST /tasks; use {', '.join(LIST_FIELDS)}", param=unknown[0]
        )
    limit = _limit(raw.get("limit"))
    statuses, pack_types = _filters(raw.get("filters"))
    cursor = raw.get("cursor")
    if cursor is not None and not isinstance(cursor, str):
        raise InvalidRequest("cursor: must be the next_cursor text of an earlier answer", param="cursor")
    if cursor:
        before_id, start_ms, end_ms = _read_cursor(cursor)
    else:
        end_ms = _moment(raw, "end_time", now_ms)
        start_ms = _moment(raw, "start_time", end_ms - DEFAULT_WINDOW_MS)
        if start_ms >= end_ms:
            raise InvalidRequest(
                f"start_time: {start_ms} must be before end_time ({end_ms}), both Unix milliseconds",
                param="start_time",
            )
        before_id = NEWEST_ID
    return ListQuery(before_id, start_ms, end_ms, statuses, pack_types, limit)


def _limit(raw: Any) -> int:
    if raw is None:
        return DEFAULT_LIMIT
    if isinstance(raw, bool) or not isinstance(raw, int) or not 1 <= raw <= MAX_LIMIT:
        raise InvalidRequest(f"limit: must be a whole number from 1 to {MAX_LIMIT} (got {raw!r})", param="limit")
    return raw


def _moment(body: Mapping[str, Any], name: str, default: int) -> int:
    """Read a time in Unix ms, given as a number or as a string of digits (Kling's pages say both)."""
    raw = body.get(name)
    if raw is None or raw == "":
        return default
    if isinstance(raw, str) and raw.isascii() and raw.isdigit():
        return int(raw)
    if isinstance(raw, int) and not isinstance(raw, bool) and raw >= 0:
        return raw
    raise InvalidRequest(f"{name}: must be a time in Unix milliseconds, a number or digits (got {raw!r})", param=name)


def _filters(raw: Any) -> tuple[tuple[TaskStatus, ...], tuple[str, ...]]:
    """Read `filters[]`: values of one key are alternatives, different keys must all hold."""
    if raw is None:
        raw = []
    if not isinstance(raw, list):
        raise InvalidRequest("filters: must be a list of {key, values}", param="filters")
    chosen: dict[str, list[str]] = {}
    for number, entry in enumerate(raw):
        where = f"filters[{number}]"
        if not isinstance(entry, dict) or set(entry) - {"key", "values"}:
            raise InvalidRequest(f"{where}: must be an object {{key, values}}", param=where)
        key, values = entry.get("key"), entry.get("values")
        if not isinstance(key, str) or key not in FILTER_KEYS:
            raise InvalidRequest(f"{where}.key: {key!r} is not allowed; use status or product_type", param=where)
        allowed = FILTER_KEYS[key]
        if not isinstance(values, list) or not values or any(value not in allowed for value in values):
            raise InvalidRequest(
                f"{where}.values: must be a non-empty list of {', '.join(allowed)} (got {values!r})", param=where
            )
        chosen.setdefault(key, []).extend(values)
    statuses = [status for name in chosen.get("status", STATUS_FILTER) for status in STATUS_FILTER[name]]
    pack_types = chosen.get("product_type", list(ALL_PACK_TYPES))
    return tuple(dict.fromkeys(statuses)), tuple(dict.fromkeys(pack_types))


def cursor_after(last_id: int, query: ListQuery) -> str:
    """The opaque cursor of the page after a row: its id and the first page's window."""
    text = orjson.dumps([last_id, query.start_ms, query.end_ms])
    return base64.urlsafe_b64encode(text).decode().rstrip("=")


def _read_cursor(cursor: str) -> tuple[int, int, int]:
    try:
        values = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        before_id, start_ms, end_ms = values
        if all(isinstance(value, int) and not isinstance(value, bool) for value in values):
            return int(before_id), int(start_ms), int(end_ms)
    except (binascii.Error, orjson.JSONDecodeError, ValueError, TypeError):
        pass
    raise InvalidRequest("cursor: not a cursor this gateway gave; send an earlier answer's next_cursor", param="cursor")


class TaskRecords:
    """Answer `/tasks` from the store: a caller's tasks of both generations, never their synchronous calls."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def by_ids(self, owner: Principal, query: IdQuery) -> list[TaskView]:
        """The caller's tasks among those asked for, in the order asked; ids of nobody's (or others') are left out."""
        async with self.db.read() as connection:
            return await record_reads.tasks_by_ids(
                connection, user_id=owner.user_id, references=query.references, external_only=query.external_only
            )

    async def page(self, owner: Principal, query: ListQuery) -> tuple[list[TaskView], str, bool]:
        """One page of the caller's tasks, newest first, the next page's cursor ("" after the last) and whether
        more follow."""
        async with self.db.read() as connection:
            rows, more = await record_reads.tasks_page(
                connection,
                user_id=owner.user_id,
                before_id=query.before_id,
                start_ms=query.start_ms,
                end_ms=query.end_ms,
                statuses=query.statuses,
                pack_types=query.pack_types,
                limit=query.limit,
            )
        next_cursor = cursor_after(rows[-1][0], query) if more and rows else ""
        return [view for _, view in rows], next_cursor, more
