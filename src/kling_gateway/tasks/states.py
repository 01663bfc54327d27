"""The task state machine: queued → submitted → processing → succeed | failed, forward only."""

from __future__ import annotations

from kling_gateway.store.records import TaskStatus

_RANK = {
    TaskStatus.QUEUED: 0,
    TaskStatus.SUBMITTED: 1,
    TaskStatus.PROCESSING: 2,
    TaskStatus.SUCCEED: 3,
    TaskStatus.FAILED: 3,
}
IN_FLIGHT = (TaskStatus.SUBMITTED, TaskStatus.PROCESSING)
UNFINISHED = (TaskStatus.QUEUED, *IN_FLIGHT)


def may_move(current: TaskStatus, new: TaskStatus) -> bool:
    """Tell whether a task may go from `current` to `new`: only forward, and never out of a final status."""
    return not current.is_final and _RANK[new] > _RANK[current]


def upstream_status(text: str) -> TaskStatus | None:
    """Read a status the upstream reported; None for one the gateway does not know (it is then ignored)."""
    try:
        status = TaskStatus(text)
    except ValueError:
        return None
    return None if status is TaskStatus.QUEUED else status
