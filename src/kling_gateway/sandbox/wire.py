"""The sandbox's wire format: the official envelope and the task object, encoded once with orjson."""

from __future__ import annotations

import uuid
from typing import Any

import orjson
from starlette.responses import Response

from kling_gateway.kling.codes import KlingCode
from kling_gateway.sandbox.deductions import deduction_fields, task_deduction
from kling_gateway.sandbox.lifecycle import TaskStatus
from kling_gateway.sandbox.store import SandboxTask

JSON_TYPE = "application/json"


def new_request_id() -> str:
    """Make a request id as the current API does: a UUIDv4."""
    return str(uuid.uuid4())


def ok(data: Any, *, request_id: str | None = None) -> Response:
    """Answer HTTP 200 with the success envelope around `data`."""
    body = {"code": 0, "message": KlingCode.SUCCEED.message, "request_id": request_id or new_request_id(), "data": data}
    return Response(orjson.dumps(body), media_type=JSON_TYPE)


def error(code: KlingCode, message: str | None = None) -> Response:
    """Answer with a code's HTTP status and the error envelope."""
    body = {"code": code.code, "message": message or code.message, "request_id": new_request_id()}
    return Response(orjson.dumps(body), status_code=code.http_status, media_type=JSON_TYPE)


def task_info(task: SandboxTask) -> dict[str, Any]:
    """Render `task_info`: the external id and, for extend and advanced lip-sync, the parent video."""
    info: dict[str, Any] = {}
    if task.body.external_task_id is not None:
        info["external_task_id"] = task.body.external_task_id
    if task.parent_video is not None:
        info["parent_video"] = task.parent_video
    return info


def created(task: SandboxTask) -> dict[str, Any]:
    """Render the `data` of a create answer."""
    return {
        "task_id": task.task_id,
        "task_status": TaskStatus.SUBMITTED.value,
        "task_info": task_info(task),
        "created_at": task.timeline.created_ms,
        "updated_at": task.timeline.created_ms,
    }


def task_json(task: SandboxTask, now_ms: int) -> dict[str, Any] | orjson.Fragment:
    """Render a task for a query answer; a finished task is encoded once and its bytes reused."""
    if task.final_json is not None:
        return task.final_json
    data = task_object(task, now_ms)
    if now_ms >= task.timeline.finished_ms:
        task.final_json = orjson.Fragment(orjson.dumps(data))
    return data


def task_object(task: SandboxTask, now_ms: int) -> dict[str, Any]:
    """Render a task as queries and callbacks show it at a moment."""
    status, updated_ms = task.status_at(now_ms)
    data: dict[str, Any] = {
        "task_id": task.task_id,
        "task_status": status.value,
        "task_status_msg": task.timeline.failure_message if status is TaskStatus.FAILED else "",
        "task_info": task_info(task),
        "task_result": task.result if status is TaskStatus.SUCCEED else {},
        "watermark_info": {"enabled": task.body.wants_watermark()},
        "created_at": task.timeline.created_ms,
        "updated_at": updated_ms,
    }
    if status is TaskStatus.SUCCEED:
        data |= deduction_fields(task_deduction(task))
    return data
