"""The `kling` dialect (seed 000): the official envelope and task object, plus the gateway's `platform_id`.

A task of the new generation is shown as the legacy task object too: its `outputs[]` as `task_result`, its
`billing[]` units as `final_unit_deduction` (`outputs`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from kling_gateway import logs
from kling_gateway.dialects.outputs import legacy_result_json, unit_deduction
from kling_gateway.errors import GatewayError
from kling_gateway.store.records import TaskView

SUCCESS_MESSAGE = "success"  # seed 000's envelope
EMPTY_OBJECT = "{}"
LEGACY = "legacy"


def request_id() -> str:
    """Name the request being answered as its log lines and `X-Request-Id` do; a new id outside a request."""
    request = logs.current_request()
    return logs.generate_request_id() if request is None else request.request_id


def task_data(row: TaskView) -> dict[str, object]:
    """Render a task's `data` object from its stored columns, without re-encoding the stored JSON."""
    info: dict[str, Any] = {} if row.task_info_json == EMPTY_OBJECT else orjson.loads(row.task_info_json)
    if row.external_task_id is not None:
        info["external_task_id"] = row.external_task_id
    data: dict[str, Any] = {
        "task_id": row.upstream_task_id,
        "platform_id": row.platform_id,
        "task_status": row.status.kling,
        "task_status_msg": row.status_msg,
        "task_info": info,
        "task_result": _task_result(row),
        "watermark_info": {"enabled": row.watermark},
        "created_at": row.created_at,
        "updated_at": row.updated_at,
    }
    deduction = row.final_unit_deduction if row.generation == LEGACY else unit_deduction(row)
    if deduction is not None:
        data["final_unit_deduction"] = deduction
    return data


def _task_result(row: TaskView) -> object:
    result = legacy_result_json(row)
    return orjson.Fragment(result) if isinstance(result, str) else result


def envelope(data: object) -> dict[str, object]:
    """Wrap `data` in the success envelope, with the request's id."""
    return {"code": 0, "message": SUCCESS_MESSAGE, "request_id": request_id(), "data": data}


def one(row: TaskView, _now: int) -> object:
    """The part of a single-task answer that stays the same for a finished task."""
    return task_data(row)


def page(rows: Sequence[TaskView], _now: int, _has_more: bool) -> dict[str, object]:
    """Answer a list query: the envelope around the page's tasks, newest first."""
    return envelope([task_data(row) for row in rows])


def error(failure: GatewayError) -> dict[str, object]:
    """Answer an error the official way: its Kling code and message."""
    return {"code": failure.kling_code.code, "message": failure.message, "request_id": request_id()}
