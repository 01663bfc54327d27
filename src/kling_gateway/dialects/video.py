"""The `video` dialect (seed 002): a flat status with the result's URL, format and metadata, OpenAI-style errors.

Tasks of both generations render alike; an audio task's `url` is its audio file. Metadata carries only what is
known: the duration once the upstream reports the result, the frame and frame rate when the model, mode and aspect
ratio fix them; anything else is null. Kling takes no seed, so `seed` is always null.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import urlsplit

from kling_gateway.dialects.outputs import first_output
from kling_gateway.errors import GatewayError
from kling_gateway.store.records import TaskStatus, TaskView

STATUS = {
    TaskStatus.QUEUED: "queued",
    TaskStatus.SUBMITTED: "queued",
    TaskStatus.PROCESSING: "in_progress",
    TaskStatus.SUCCEED: "completed",
    TaskStatus.FAILED: "failed",
}
_FORMATS = frozenset({"mp4", "mov", "webm", "png", "jpg", "jpeg", "webp", "mp3", "wav"})
_FAMILY_FORMAT = {"videos": "mp4", "audio": "mp3"}  # Kling delivers every video as MP4, audio as MP3 first


def file_format(url: str, family: str) -> str | None:
    """Name a result file's format from its URL, or from what the family always delivers."""
    suffix = PurePosixPath(urlsplit(url).path).suffix.lower().lstrip(".")
    return suffix if suffix in _FORMATS else _FAMILY_FORMAT.get(family)


def one(row: TaskView, _now: int) -> dict[str, object]:
    """Answer a single-task query, create or lookup."""
    status = row.status
    body: dict[str, Any] = {"task_id": row.platform_id, "status": STATUS[status]}
    output = first_output(row)
    if output is not None:
        body["url"] = output.url
        body["format"] = file_format(output.url, row.family)
    body["metadata"] = {
        "duration": None if output is None else output.duration_s,
        "fps": row.fps,
        "width": row.width,
        "height": row.height,
        "seed": None,
    }
    if status is TaskStatus.FAILED:
        # Kling gives a failed task a reason, not a code: `code` is left out rather than made up.
        body["error"] = {"message": row.status_msg or "the task failed upstream"}
    return body


def page(rows: Sequence[TaskView], now: int, has_more: bool) -> dict[str, object]:
    """Answer a list query: the tasks, newest first, and whether another page follows."""
    return {"object": "list", "data": [one(row, now) for row in rows], "has_more": has_more}


def error(failure: GatewayError) -> dict[str, object]:
    """Answer an error as OpenAI-style APIs do: `{error: {message, type, param, code}}`."""
    return {
        "error": {
            "message": failure.message,
            "type": failure.error_type,
            "param": failure.param,
            "code": failure.slug,
        }
    }
