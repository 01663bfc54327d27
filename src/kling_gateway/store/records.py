"""What the repositories hand out: frozen, typed records of stored rows, and the drafts new rows are made from.

Each record is a `NamedTuple`, built from a row in one place (`of`), so it costs no more than the row itself on
the hot path, and `mypy --strict` checks every attribute a consumer reads. A status is a `TaskStatus`, never text.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from typing import Any, NamedTuple, Self


class TaskStatus(StrEnum):
    """Where a task is in its life: queued → submitted → processing → succeed | failed, forward only."""

    QUEUED = "queued"  # held locally, not (yet known to be) upstream
    SUBMITTED = "submitted"
    PROCESSING = "processing"
    SUCCEED = "succeed"
    FAILED = "failed"

    @property
    def is_final(self) -> bool:
        return self in (TaskStatus.SUCCEED, TaskStatus.FAILED)

    @property
    def kling(self) -> str:
        """Name the status as the official API does; it has no `queued`, a task waiting is `submitted` there."""
        return TaskStatus.SUBMITTED.value if self is TaskStatus.QUEUED else self.value


_STATUS = {status.value: status for status in TaskStatus}  # a dict lookup is a third of TaskStatus(text)


def _with_status(row: Sequence[Any], at: int) -> tuple[Any, ...]:
    """Give a row's values with the status text at position `at` read as a TaskStatus."""
    return (*row[:at], _STATUS[row[at]], *row[at + 1 :])


class TaskView(NamedTuple):
    """What a task query answers, in any dialect: fewer columns than the row, so the hot path reads less."""

    platform_id: str
    family: str
    action: str
    upstream_task_id: str | None
    external_task_id: str | None
    status: TaskStatus
    status_msg: str
    task_info_json: str
    result_json: str
    watermark: bool
    final_unit_deduction: str | None
    created_at: int
    updated_at: int
    model: str | None
    seconds: int | None
    width: int | None
    height: int | None
    fps: int | None
    expected_ms: int | None
    generation: str
    billing_json: str

    @classmethod
    def of(cls, row: Sequence[Any]) -> Self:
        """Build the record from a row of `TaskView._fields`, in that order."""
        return cls._make(_with_status(row, 5))


class PolledTask(NamedTuple):
    """What moving a task forward needs of it: to group and sweep it, schedule it, move it and settle its money."""

    id: int
    platform_id: str
    user_id: int
    channel_id: int | None
    family: str
    action: str
    upstream_task_id: str | None
    status: TaskStatus
    rate_micros: int
    hold_micros: int
    created_at: int
    updated_at: int
    expected_ms: int | None
    next_sync_at: int | None
    callback_url: str | None  # a move queues a client callback only for a task that has one
    generation: str
    rates_json: str
    absent_count: int

    @classmethod
    def of(cls, row: Sequence[Any]) -> Self:
        """Build the record from a row of `PolledTask._fields`, in that order."""
        return cls._make(_with_status(row, 7))


class Task(NamedTuple):
    """A whole stored task: what sending it upstream, idempotency and the admin need."""

    id: int
    platform_id: str
    user_id: int
    family: str
    action: str
    external_task_id: str | None
    body_hash: str
    request_json: str
    callback_url: str | None
    pack_type: str
    slots: int
    key_id: int | None
    dialect: str | None
    channel_id: int | None
    required_channel_id: int | None
    send_attempts: int
    upstream_task_id: str | None
    status: TaskStatus
    status_msg: str
    task_info_json: str
    result_json: str
    watermark: bool
    final_unit_deduction: str | None
    rate_micros: int
    hold_micros: int
    charge_micros: int | None
    created_at: int
    updated_at: int
    next_sync_at: int | None
    sync_failures: int
    model: str | None
    seconds: int | None
    width: int | None
    height: int | None
    fps: int | None
    expected_ms: int | None
    generation: str
    sync_call: bool
    billing_json: str
    rates_json: str
    unbilled_reason: str | None
    absent_count: int
    absent_since: int | None

    @classmethod
    def of(cls, row: Sequence[Any]) -> Self:
        """Build the record from a row of `Task._fields`, in that order."""
        return cls._make(_with_status(row, 17))

    @property
    def view(self) -> TaskView:
        """The task as a query answers it."""
        return TaskView._make(getattr(self, name) for name in TaskView._fields)

    @property
    def polled(self) -> PolledTask:
        """The task as a move needs it."""
        return PolledTask._make(getattr(self, name) for name in PolledTask._fields)


class TaskDraft(NamedTuple):
    """A new task as a submit stores it, queued; the store gives it its id."""

    platform_id: str
    user_id: int
    key_id: int | None
    dialect: str | None
    required_channel_id: int | None
    family: str
    action: str
    external_task_id: str | None
    body_hash: str
    request_json: str
    callback_url: str | None
    pack_type: str
    slots: int
    watermark: bool
    rate_micros: int
    hold_micros: int
    created_at: int
    next_sync_at: int | None
    model: str | None
    seconds: int | None
    width: int | None
    height: int | None
    fps: int | None
    expected_ms: int | None
    generation: str = "legacy"
    sync_call: bool = False
    rates_json: str = "{}"


class Waiting(NamedTuple):
    """A task waiting for a channel, and its place in the queue: its rank among its owner's waiting tasks plus
    the tasks its owner already has upstream."""

    task: Task
    place: int
