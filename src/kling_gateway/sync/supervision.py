"""Keep the worker's loops going: a loop that fails starts again after a pause, and a store outage is told briefly.

While the database is down every loop fails on its first statement. That is no bug, so it gets no traceback: one
line when the store goes, one per pause as the pauses double, and one when it is back. Any other failure is a bug,
logged with its traceback.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

from kling_gateway.observability.metrics import UNEXPECTED_ERRORS
from kling_gateway.store.outages import unavailable_detail

log = logging.getLogger(__name__)


class StoreOutage:
    """Pace the worker's loops while the store cannot be used, and tell the outage in a line per pause: every
    loop waits the same pause, and only the first to fail in it says so."""

    def __init__(self, *, first_pause_s: float, longest_pause_s: float) -> None:
        self.first_pause_s = first_pause_s
        self.longest_pause_s = longest_pause_s
        self.failures = 0  # attempts that found the store unusable since it went
        self._since: float | None = None  # monotonic time of the first failure, while the outage lasts
        self._pause_s = first_pause_s
        self._next_try = 0.0  # monotonic time the current pause ends

    @property
    def ongoing(self) -> bool:
        """Whether the store was last found unusable."""
        return self._since is not None

    def failed(self, reason: str) -> float:
        """Note a failed attempt; return how long to pause before the next one."""
        now = time.monotonic()
        if self._since is None:
            self._since, self._pause_s = now, self.first_pause_s
        elif now < self._next_try:  # another loop has already told this pause
            return self._next_try - now
        else:
            self._pause_s = min(2 * self._pause_s, self.longest_pause_s)
        self.failures += 1
        self._next_try = now + self._pause_s
        log.warning("store unavailable: %s; retrying in %s", reason, _seconds(self._pause_s))
        return self._pause_s

    def recovered(self) -> None:
        """Note a successful attempt: tell, once, that the store is back and how long it was gone."""
        if self._since is None:
            return
        down_s = time.monotonic() - self._since
        log.warning("store available again after %s (%d failed attempts)", _seconds(down_s), self.failures)
        self._since, self.failures = None, 0


Loop = Callable[[asyncio.Event], Awaitable[None]]


async def supervise(name: str, loop: Loop, stop: asyncio.Event, *, outage: StoreOutage, pause_s: float) -> None:
    """Run `loop` until `stop` is set, starting it again after a pause whenever it fails."""
    while not stop.is_set():
        try:
            await loop(stop)
        except Exception as error:
            reason = unavailable_detail(error)
            if reason is None:
                UNEXPECTED_ERRORS.labels("worker").inc()
                log.exception("%s failed; starting it again in %s", name, _seconds(pause_s))
                wait_s = pause_s
            else:
                wait_s = outage.failed(reason)
            await rest(stop, wait_s)


async def rest(stop: asyncio.Event, seconds: float) -> None:
    """Wait `seconds`, or less if `stop` is set meanwhile."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)


def _seconds(seconds: float) -> str:
    return f"{seconds:.3g} s" if seconds < 100 else f"{seconds:.0f} s"
