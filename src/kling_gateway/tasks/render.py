"""The `kling` view of a task (seed 000): the official task object plus the gateway's `platform_id`."""

from __future__ import annotations

from typing import Any

import orjson

from kling_gateway.tasks.repository import TaskRow
from kling_gateway.tasks.states import TaskStatus

EMPTY_OBJECT = "{}"


def kling_task(row: TaskRow) -> dict[str, Any]:
    """Render a task's `data` object from its stored columns, without re-encoding the stored JSON."""
    info: dict[str, Any] = {} if row.task_info_json == EMPTY_OBJECT else orjson.loads(row.task_info_json)
    if row.external_task_id is not None:
        info["external_task_id"] = row.external_task_id
    data: dict[str, Any] = {
        "task_id": row.upstream_task_id,
        "platform_id": row.platform_id,
        "task_status": TaskStatus(row.status).kling,
        "task_status_msg": row.status_msg,
        "task_info": info,
        "task_result": orjson.Fragment(row.result_json),
        "watermark_info": {"enabled": row.watermark},
        "created_at": row.created_at,
        "updated_at": row.updated_at,
    }
    if row.final_unit_deduction is not None:
        data["final_unit_deduction"] = row.final_unit_deduction
    return data


def is_final(row: TaskRow) -> bool:
    """Tell whether a task will never change again, so its rendering may be kept."""
    return TaskStatus(row.status).is_final
