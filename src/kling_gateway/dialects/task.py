"""The `task` dialect (seed 003): a unified status and progress around the kling body of the task."""

from __future__ import annotations

from collections.abc import Sequence

from kling_gateway.dialects import kling
from kling_gateway.dialects.progress import progress_percent
from kling_gateway.errors import GatewayError
from kling_gateway.store.records import TaskStatus, TaskView

SUCCESS = "success"
STATUS = {
    TaskStatus.QUEUED: "SUBMITTED",
    TaskStatus.SUBMITTED: "SUBMITTED",
    TaskStatus.PROCESSING: "IN_PROGRESS",
    TaskStatus.SUCCEED: "SUCCESS",
    TaskStatus.FAILED: "FAILURE",
}


def item(row: TaskView, now: int) -> dict[str, object]:
    """One task: the gateway's id, the unified status, the estimated progress and the kling body."""
    status = row.status
    percent = progress_percent(
        status, family=row.family, created_at=row.created_at, expected_ms=row.expected_ms, now=now
    )
    return {
        "task_id": row.platform_id,
        "status": STATUS[status],
        "progress": f"{percent}%",
        "data": {"code": 0, "message": kling.SUCCESS_MESSAGE, "data": kling.task_data(row)},
    }


def one(row: TaskView, now: int) -> dict[str, object]:
    """Answer a single-task query, create or lookup."""
    return {"code": SUCCESS, "message": "", "data": item(row, now)}


def page(rows: Sequence[TaskView], now: int, _has_more: bool) -> dict[str, object]:
    """Answer a list query: the items, newest first."""
    return {"code": SUCCESS, "message": "", "data": [item(row, now) for row in rows]}


def error(failure: GatewayError) -> dict[str, object]:
    """Answer an error: a snake_case code (`task_not_exist` for an unknown id), the message and no data."""
    return {"code": failure.slug, "message": failure.message, "data": None}
