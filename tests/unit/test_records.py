"""The typed records match the tasks table, and building one from a row reads its status as a TaskStatus."""

from __future__ import annotations

from typing import Any

import pytest

from kling_gateway.store.models import TASKS
from kling_gateway.store.records import PolledTask, Task, TaskDraft, TaskStatus, TaskView

RECORDS: tuple[Any, ...] = (TaskView, PolledTask, Task)


@pytest.mark.parametrize("record", [*RECORDS, TaskDraft], ids=lambda record: record.__name__)
def test_every_field_is_a_column(record: Any) -> None:
    assert set(record._fields) <= set(TASKS.c.keys())


def test_a_task_has_every_column() -> None:
    assert set(Task._fields) == set(TASKS.c.keys())


def test_a_draft_is_everything_a_submit_decides() -> None:
    decided_later = {"id", "status", "updated_at", "channel_id", "send_attempts", "upstream_task_id", "status_msg"}
    decided_later |= {"task_info_json", "result_json", "final_unit_deduction", "charge_micros", "sync_failures"}
    decided_later |= {"billing_json", "unbilled_reason", "absent_count", "absent_since"}
    assert set(TaskDraft._fields) == set(TASKS.c.keys()) - decided_later


@pytest.mark.parametrize("record", RECORDS, ids=lambda record: record.__name__)
def test_a_record_reads_its_status_and_keeps_every_other_value(record: Any) -> None:
    row = [f"value of {name}" for name in record._fields]
    row[record._fields.index("status")] = "processing"
    built = record.of(row)
    assert built.status is TaskStatus.PROCESSING
    assert [value for name, value in zip(record._fields, built, strict=True) if name != "status"] == [
        f"value of {name}" for name in record._fields if name != "status"
    ]


def test_a_whole_task_gives_its_view_and_what_a_move_needs() -> None:
    row = [f"value of {name}" for name in Task._fields]
    row[Task._fields.index("status")] = "succeed"
    task = Task.of(row)
    assert task.view == TaskView.of([getattr(task, name) for name in TaskView._fields])
    assert task.polled == PolledTask.of([getattr(task, name) for name in PolledTask._fields])
