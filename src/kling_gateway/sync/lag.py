"""How stale the gateway's view of each task in flight is: at each look upstream that finds a task, the time since
the one before, observed in the poll-lag histogram."""

from __future__ import annotations

from kling_gateway.observability.metrics import POLL_LAG_SECONDS
from kling_gateway.store.records import PolledTask


class PollLag:
    """Remember when this worker last found each task upstream; a task it has not found before counts from its
    last change (its submit, or the last move any process wrote)."""

    def __init__(self, *, forget_after_ms: int) -> None:
        self.forget_after_ms = forget_after_ms  # a task not found for this long is another worker's now
        self._seen: dict[int, int] = {}  # task id → when this worker last found it, ms
        self._next_prune_ms = 0

    def found(self, task: PolledTask, *, now_ms: int, final: bool) -> None:
        """Observe the lag of a task just found upstream; forget a task found final."""
        before = max(self._seen.get(task.id, task.updated_at), task.updated_at)
        POLL_LAG_SECONDS.observe(max(now_ms - before, 0) / 1000)
        if final:
            self._seen.pop(task.id, None)
        else:
            self._seen[task.id] = now_ms

    def prune(self, *, now_ms: int) -> None:
        """Forget, now and then, the tasks not found for a long time: finished elsewhere, or polled by others."""
        if now_ms < self._next_prune_ms:
            return
        oldest = now_ms - self.forget_after_ms
        self._seen = {task_id: seen for task_id, seen in self._seen.items() if seen >= oldest}
        self._next_prune_ms = now_ms + self.forget_after_ms // 2
