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


def poll_interval(*, age_ms: int, expected_ms: int | None, base_s: float, longest_s: float) -> float:
    """Choose how long until a task is looked at again: the base interval while it is within its typical run time,
    then longer the further past it the task runs (a quarter of the overrun), up to `longest_s`.

    Intervals are the base doubled a whole number of times, so every grid is a multiple of the base grid: tasks
    on different intervals still come due together and share list calls.
    """
    overrun_s = (age_ms - (expected_ms or 0)) / 1000
    interval = base_s
    while interval * 2 <= min(longest_s, overrun_s / 4):
        interval *= 2
    return interval


def retry_delay_ms(attempts: int, *, base_s: float, longest_s: float) -> int:
    """Wait before another try: the base, doubled for every earlier try, at most `longest_s`."""
    return round(min(longest_s, base_s * 2.0 ** max(0, attempts - 1)) * 1000)
