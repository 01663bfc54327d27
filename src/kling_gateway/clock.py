"""The wall clock in the unit of every Kling timestamp, and the clock the gateway's parts are given.

Every part that schedules or times out (the submit path, the dispatcher, the sync worker, the callback deliverer)
takes a `Clock`, so a test moves time by hand (`ManualClock`) instead of sleeping through it.
"""

from __future__ import annotations

import time
from typing import Protocol


def now_ms() -> int:
    """Read the wall clock in milliseconds since the epoch."""
    return time.time_ns() // 1_000_000


class Clock(Protocol):
    """Tell the time, in milliseconds since the epoch."""

    def now_ms(self) -> int: ...


class SystemClock:
    """The wall clock."""

    def now_ms(self) -> int:
        return now_ms()


class ManualClock:
    """A clock that stands still until it is moved: starts at the wall clock's time unless told otherwise."""

    def __init__(self, start_ms: int | None = None) -> None:
        self._now_ms = now_ms() if start_ms is None else start_ms

    def now_ms(self) -> int:
        return self._now_ms

    def advance(self, *, ms: int = 0, s: float = 0.0) -> None:
        """Move the clock forward (never back)."""
        step = ms + round(s * 1000)
        if step < 0:
            raise ValueError("a clock only moves forward")
        self._now_ms += step
