"""The OpenAI videos API's objects (`/v1/videos`): a video job and a cursor page of them."""

from __future__ import annotations

from collections.abc import Sequence

from kling_gateway.dialects.outputs import first_output
from kling_gateway.dialects.progress import progress_percent
from kling_gateway.dialects.video import STATUS
from kling_gateway.store.records import TaskStatus, TaskView

FAILED_CODE = "generation_failed"


def video(row: TaskView, now: int) -> dict[str, object]:
    """Render a task as an OpenAI video job; times in Unix seconds, as OpenAI gives them."""
    status = row.status
    output = first_output(row)
    seconds = str(row.seconds) if row.seconds is not None else None
    if seconds is None and output is not None and output.duration_s is not None:
        seconds = f"{output.duration_s:g}"
    known_frame = row.width is not None and row.height is not None
    return {
        "id": row.platform_id,
        "object": "video",
        "model": row.model,
        "status": STATUS[status],
        "progress": progress_percent(
            status, family=row.family, created_at=row.created_at, expected_ms=row.expected_ms, now=now
        ),
        "created_at": row.created_at // 1000,
        "completed_at": row.updated_at // 1000 if status.is_final else None,
        "expires_at": None,
        "seconds": seconds,
        "size": f"{row.width}x{row.height}" if known_frame else None,
        "prompt": None,
        "remixed_from_video_id": None,
        "error": (
            {"code": FAILED_CODE, "message": row.status_msg or "the task failed upstream"}
            if status is TaskStatus.FAILED
            else None
        ),
    }


def video_list(rows: Sequence[TaskView], now: int, *, has_more: bool) -> dict[str, object]:
    """Render a cursor page: the videos, the ids at its two ends, and whether more follow."""
    return {
        "object": "list",
        "data": [video(row, now) for row in rows],
        "first_id": rows[0].platform_id if rows else None,
        "last_id": rows[-1].platform_id if rows else None,
        "has_more": has_more,
    }
