"""The wall clock in the unit of every Kling timestamp."""

import time


def now_ms() -> int:
    """Read the wall clock in milliseconds since the epoch."""
    return time.time_ns() // 1_000_000
