"""Hold sign-in failures to a few a minute, per name and per client address, so that guessing passwords is slow.

Failures are counted in a moving window by the `limits` library, as the API's request limits are: in this
process's memory, or in Redis when `redis_url` is set, so that every API process shares one count.
"""

from __future__ import annotations

import logging
import math
import time

from limits import RateLimitItemPerMinute
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError
from limits.storage import storage_from_string

from kling_gateway.settings import Settings

log = logging.getLogger(__name__)

IN_MEMORY = "async+memory://"
NAMESPACE = "kling-gateway/sign-in"
REDIS_TIMEOUT_S = 1.0


class SignInLimits:
    """Count failed sign-ins by name and by address; tell when either has failed too often of late."""

    def __init__(self, storage_uri: str = IN_MEMORY, *, failures_per_minute: int = 5) -> None:
        storage = storage_from_string(
            storage_uri, wrap_exceptions=True, connect_timeout=REDIS_TIMEOUT_S, stream_timeout=REDIS_TIMEOUT_S
        )
        self._limiter = MovingWindowRateLimiter(storage)
        self.window = RateLimitItemPerMinute(failures_per_minute, namespace=NAMESPACE)

    @classmethod
    def for_settings(cls, settings: Settings) -> SignInLimits:
        """Count in Redis when the settings name one, else in this process's memory."""
        uri = IN_MEMORY if settings.redis_url is None else f"async+{settings.redis_url}"
        return cls(uri, failures_per_minute=settings.web.sign_in_failures_per_minute)

    async def retry_after_s(self, area: str, *, name: str, address: str) -> int | None:
        """Seconds until this name and address may try again, or None when they may now."""
        try:
            for identifier in self._identifiers(area, name, address):
                if not await self._limiter.test(self.window, *identifier):
                    reset = (await self._limiter.get_window_stats(self.window, *identifier)).reset_time
                    return max(1, math.ceil(reset - time.time()))
        except StorageError as error:  # an outage of the counters must not lock everyone out
            log.warning("sign-in limits are not enforced: their storage fails (%s)", error.storage_error)
        return None

    async def failed(self, area: str, *, name: str, address: str) -> None:
        """Count one failed sign-in against the name and the address."""
        try:
            for identifier in self._identifiers(area, name, address):
                await self._limiter.hit(self.window, *identifier)
        except StorageError as error:
            log.warning("sign-in limits are not enforced: their storage fails (%s)", error.storage_error)

    @staticmethod
    def _identifiers(area: str, name: str, address: str) -> tuple[tuple[str, ...], ...]:
        return (area, "name", name.casefold()), (area, "address", address)
