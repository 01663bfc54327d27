"""Kling's new-generation records (reference 2026 §2.2, §3.7–3.9): what `/tasks` lists, what a new-style create
answers, and what a new-style task's client callbacks carry — for a task of either generation.

Next to Kling's fields each record has the gateway's `platform_id`; `id` is the upstream's id once it is known (null
before), and `external_id` is the client's own id, "" when it gave none, as Kling's records say it (never the platform
id the gateway sends upstream in its place).
"""

from __future__ import annotations

from collections.abc import Sequence

import orjson
from cachetools import LRUCache

from kling_gateway.dialects import kling
from kling_gateway.dialects.outputs import stored_billing, stored_outputs
from kling_gateway.store.records import TaskStatus, TaskView

STATUS = {
    TaskStatus.QUEUED: "submitted",
    TaskStatus.SUBMITTED: "submitted",
    TaskStatus.PROCESSING: "processing",
    TaskStatus.SUCCEED: "succeeded",
    TaskStatus.FAILED: "failed",
}
"""The new generation's status spelling: `succeeded`, and no `queued` (a waiting task is `submitted` there)."""


def created(row: TaskView) -> dict[str, object]:
    """The `data` of a new-style create answer."""
    return {
        "id": row.upstream_task_id,
        "platform_id": row.platform_id,
        "status": STATUS[row.status],
        "create_time": row.created_at,
        "update_time": row.updated_at,
        "external_id": row.external_task_id or "",
    }


def record(row: TaskView) -> dict[str, object]:
    """A task as `/tasks` shows it: its outputs and deductions in the new codec, whichever generation made it."""
    return created(row) | {
        "message": row.status_msg,
        "outputs": stored_outputs(row),
        "billing": stored_billing(row),
    }


def records(rows: Sequence[TaskView]) -> dict[str, object]:
    """Answer `GET /tasks`: the envelope around the records, in the order they were asked for."""
    return kling.envelope([record(row) for row in rows])


FINISHED_KEPT = 100_000  # encoded finished tasks kept per process and per cache (a few hundred bytes each)


class KeptRecords:
    """Answer `GET /tasks` as `records` does, with each finished task's record encoded once and kept: a finished
    task never changes, and a client polling a batch asks for the same ones again and again."""

    def __init__(self, size: int = FINISHED_KEPT) -> None:
        self._kept: LRUCache[str, orjson.Fragment] = LRUCache(size)

    def records(self, rows: Sequence[TaskView]) -> dict[str, object]:
        """The envelope around the records, in the order they were asked for."""
        return kling.envelope([self._record(row) for row in rows])

    def _record(self, row: TaskView) -> object:
        if not row.status.is_final:
            return record(row)
        kept = self._kept.get(row.platform_id)  # the rows are the caller's own: the id alone names the record
        if kept is None:
            kept = self._kept[row.platform_id] = orjson.Fragment(orjson.dumps(record(row)))
        return kept


def listing(rows: Sequence[TaskView], *, next_cursor: str, has_more: bool) -> dict[str, object]:
    """Answer `POST /tasks`: one page of records and the cursor of the next."""
    result = [record(row) for row in rows]
    return kling.envelope({"result": result, "count": len(result), "next_cursor": next_cursor, "has_more": has_more})
