"""How far along a task probably is, in percent: Kling reports no progress, so it is estimated from the task's age.

The estimate climbs steadily to 90 % over the typical run time of tasks like it (model, mode, length: see
`kling.timing`), then creeps towards 99 % and stays there until the task finishes; only a finished task shows
100 %. It depends on nothing but the clock and the status, which both only move forward, so it never goes back.
"""

from __future__ import annotations

import math

from kling_gateway.store.records import TaskStatus

_TYPICAL_SHARE = 90.0  # percent reached after the typical run time
_LATE_SHARE = 9.0  # what the long tail can add, approached but never reached
_PROCESSING_FLOOR = 10  # once the upstream works on it, a task shows at least this
_FALLBACK_TYPICAL_MS = {"videos": 120_000, "images": 8_000, "audio": 30_000}  # tasks stored without an estimate


def progress_percent(status: TaskStatus, *, family: str, created_at: int, expected_ms: int | None, now: int) -> int:
    """Estimate a task's progress from 0 to 100."""
    if status.is_final:
        return 100
    typical = expected_ms or _FALLBACK_TYPICAL_MS.get(family, 120_000)
    age = max(now - created_at, 0)
    if age <= typical:
        share = _TYPICAL_SHARE * age / typical
    else:
        share = _TYPICAL_SHARE + _LATE_SHARE * (1.0 - math.exp(-(age - typical) / typical))
    floor = _PROCESSING_FLOOR if status is TaskStatus.PROCESSING else 0
    return min(max(math.floor(share), floor), 99)
