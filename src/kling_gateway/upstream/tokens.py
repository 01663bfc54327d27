"""Sign the short-lived JWTs Kling wants from each channel's access key and secret key."""

from __future__ import annotations

import time
from collections.abc import Callable

import jwt

_NOT_BEFORE_LEEWAY_S = 5  # the official samples back-date nbf so a slightly fast upstream clock still accepts it


class TokenCache:
    """Sign HS256 JWTs per channel the way the official samples do and reuse each until shortly before it expires."""

    def __init__(
        self, *, ttl_s: int = 1800, refresh_margin_s: int = 300, clock: Callable[[], float] = time.time
    ) -> None:
        if ttl_s <= 0 or not 0 <= refresh_margin_s < ttl_s:
            raise ValueError(
                f"need 0 <= refresh_margin_s < ttl_s, got ttl_s={ttl_s}, refresh_margin_s={refresh_margin_s}"
            )
        self.ttl_s = ttl_s
        self.refresh_margin_s = refresh_margin_s
        self._clock = clock
        # Keyed by both keys so a rotated secret gets a fresh token at once.
        self._tokens: dict[tuple[str, str], tuple[str, int]] = {}

    def token(self, access_key: str, secret_key: str) -> str:
        """Return a valid token for the key pair, signing a new one when the cached one is close to expiry."""
        now = self._clock()
        cached = self._tokens.get((access_key, secret_key))
        if cached is not None and cached[1] - now >= self.refresh_margin_s:
            return cached[0]
        issued_at = int(now)
        expires_at = issued_at + self.ttl_s
        claims = {"iss": access_key, "exp": expires_at, "nbf": issued_at - _NOT_BEFORE_LEEWAY_S}
        token = jwt.encode(claims, secret_key, algorithm="HS256", headers={"typ": "JWT"})
        self._tokens[access_key, secret_key] = (token, expires_at)
        return token

    def forget(self, access_key: str, secret_key: str) -> None:
        """Drop the key pair's cached token, so the next call signs a new one."""
        self._tokens.pop((access_key, secret_key), None)
