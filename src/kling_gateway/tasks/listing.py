"""Kling's `/tasks` over the gateway's store: read its query (`GET`, ids) and body (`POST`, a cursor listing) as
Kling does (reference 2026 §3.8, §3.9; `kling.task_queries`, which the sandbox reads them with too), and answer
them with the caller's own tasks of both generations.

A cursor is opaque to the client: it carries the last row id of the page and the time window of the first page
(later pages ignore the window they are sent, as Kling's do), so paging is a keyset walk that never skips or
repeats a task, however many are added meanwhile.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass

import orjson

from kling_gateway.errors import InvalidRequest
from kling_gateway.keys.service import Principal
from kling_gateway.kling import task_queries
from kling_gateway.kling.schemas import InvalidBody
from kling_gateway.store.database import Database
from kling_gateway.store.records import TaskStatus, TaskView
from kling_gateway.tasks import record_reads
from kling_gateway.tasks.record_reads import ALL_PACK_TYPES, NEWEST_ID

STATUS_FILTER = {
    "submitted": (TaskStatus.QUEUED, TaskStatus.SUBMITTED),
    "processing": (TaskStatus.PROCESSING,),
    "succeeded": (TaskStatus.SUCCEED,),
    "failed": (TaskStatus.FAILED,),
}
"""The stored statuses each status of the new generation's filter names (a task waiting here is `submitted`)."""


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


def parse_ids(params: Mapping[str, str]) -> IdQuery:
    """Read `task_ids` or `external_task_ids` (comma lists, one of the two, at most 20 ids in all) as Kling does."""
    try:
        asked = task_queries.read_id_query(params)
    except InvalidBody as invalid:
        raise InvalidRequest(invalid.message, param=invalid.field or "task_ids") from None
    return IdQuery(references=asked.ids, external_only=asked.kind == "external_task_ids")


def parse_listing(raw: object, *, now_ms: int) -> ListQuery:
    """Read a `POST /tasks` body as Kling does; a cursor brings back the window of the page it follows."""
    try:
        listing = task_queries.read_listing(raw, now_ms=now_ms)
    except InvalidBody as invalid:
        raise InvalidRequest(invalid.message, param=invalid.field) from None
    statuses = [status for name in sorted(listing.statuses or STATUS_FILTER) for status in STATUS_FILTER[name]]
    pack_types = sorted(listing.product_types or ALL_PACK_TYPES)
    if listing.cursor:
        before_id, start_ms, end_ms = _read_cursor(listing.cursor)
    else:
        before_id, start_ms, end_ms = NEWEST_ID, listing.start_ms, listing.end_ms
    return ListQuery(before_id, start_ms, end_ms, tuple(statuses), tuple(pack_types), listing.limit)


def cursor_after(last_id: int, query: ListQuery) -> str:
    """The opaque cursor of the page after a row: its id and the first page's window."""
    text = orjson.dumps([last_id, query.start_ms, query.end_ms])
    return base64.urlsafe_b64encode(text).decode().rstrip("=")


def _read_cursor(cursor: str) -> tuple[int, int, int]:
    try:
        values = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        before_id, start_ms, end_ms = values
        # Each value lands in a 64-bit column: a forged cursor outside that range is as foreign as any other.
        if all(isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**63 for value in values):
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
