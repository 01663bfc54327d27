"""When a task is next looked at upstream."""

from __future__ import annotations


def next_look(moment_ms: int, interval_s: float) -> int:
    """Schedule a task's next look on the grid of the poll interval, at least half an interval away.

    Tasks submitted at different moments then come due in the same round, so one list call reads them all;
    scheduled at `moment + interval` each, they would keep their own phases and be read one GET at a time.
    """
    interval_ms = max(1, round(interval_s * 1000))
    tick = (moment_ms // interval_ms + 1) * interval_ms
    return tick if 2 * (tick - moment_ms) >= interval_ms else tick + interval_ms
