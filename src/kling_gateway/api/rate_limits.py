"""Hold each key to its requests per second: its own limit, else the gateway's default, else none.

Requests are counted in a moving window by the `limits` library: in this process's memory, or in Redis when
`redis_url` is set, so that every API process behind one address shares one count per key. A rate is kept as a
whole number of requests per whole number of seconds (0.5/s is 1 per 2 s, 2.5/s is 5 per 2 s).
"""

from __future__ import annotations

import logging
import math
import time
from fractions import Fraction
from functools import lru_cache

from limits import RateLimitItem, RateLimitItemPerSecond
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import ConfigurationError, StorageError
from limits.storage import storage_from_string

from kling_gateway.errors import RateLimited
from kling_gateway.keys.service import MIN_RPS, Principal
from kling_gateway.settings import AdmissionConfig, Settings

log = logging.getLogger(__name__)

IN_MEMORY = "async+memory://"
NAMESPACE = "kling-gateway/requests"  # what the counters' names start with, in memory or in Redis
LONGEST_WINDOW_S = round(1 / MIN_RPS)  # a rate is counted over at most this many seconds
REDIS_TIMEOUT_S = 1.0  # connecting to Redis, and each command; past it the request goes through uncounted


class RequestLimits:
    """Count every request of a key with a rate limit, and refuse those over it."""

    def __init__(self, storage_uri: str = IN_MEMORY, *, default_rps: float | None = None) -> None:
        try:
            storage = storage_from_string(
                storage_uri,
                wrap_exceptions=True,
                connect_timeout=REDIS_TIMEOUT_S,
                stream_timeout=REDIS_TIMEOUT_S,
            )
        except ConfigurationError as error:
            raise ValueError(f"cannot count requests in {storage_uri}: {error}") from None
        self._limiter = MovingWindowRateLimiter(storage)
        self.defaults = AdmissionConfig(requests_per_second=default_rps)  # for keys without a limit of their own
        self._storage_down = False

    @classmethod
    def for_settings(cls, settings: Settings) -> RequestLimits:
        """Count in Redis when the settings name one (`redis_url`), else in this process's memory."""
        uri = IN_MEMORY if settings.redis_url is None else f"async+{settings.redis_url}"
        return cls(uri, default_rps=settings.admission.requests_per_second)

    async def admit(self, caller: Principal) -> None:
        """Count one request of the caller's key; raise RateLimited if the key has used up its window."""
        if caller.rate_limit_rps is None and self.defaults.requests_per_second is None:
            return  # neither the key nor the gateway sets a rate: the common case, and nothing to count
        limits = caller.limits(self.defaults)
        rps = limits.requests_per_second
        if rps is None:
            return
        window = window_for(rps)
        identifier = str(caller.key_id)
        try:
            if await self._limiter.hit(window, identifier):
                self._storage_up()
                return
            free_at = (await self._limiter.get_window_stats(window, identifier)).reset_time
        except StorageError as error:
            self._storage_failed(error)  # an outage of the counters must not become an outage of the API
            return
        self._storage_up()
        retry_after_s = max(1, math.ceil(free_at - time.time()))
        source = "its own limit" if limits.own_rate else "the gateway's default for keys"
        raise RateLimited(
            f"too many requests: this key may send {describe(window)} ({source}); retry after {retry_after_s} s",
            retry_after_s=retry_after_s,
        )

    def _storage_failed(self, error: StorageError) -> None:
        if not self._storage_down:
            log.warning("rate limits are not enforced: their storage fails (%s)", error.storage_error)
        self._storage_down = True

    def _storage_up(self) -> None:
        if self._storage_down:
            log.warning("rate limits are enforced again: their storage answers")
        self._storage_down = False


@lru_cache(maxsize=1024)
def window_for(rps: float) -> RateLimitItem:
    """Turn a rate into the nearest whole number of requests per whole number of seconds (up to 1000 s)."""
    rate = Fraction(rps).limit_denominator(LONGEST_WINDOW_S) or Fraction(1, LONGEST_WINDOW_S)
    return RateLimitItemPerSecond(rate.numerator, rate.denominator, namespace=NAMESPACE)


def describe(window: RateLimitItem) -> str:
    """Say a window's limit the way people read it: `2 requests per second`, `1 request per 60 seconds`."""
    requests = "1 request" if window.amount == 1 else f"{window.amount} requests"
    return f"{requests} per second" if window.multiples == 1 else f"{requests} per {window.multiples} seconds"
