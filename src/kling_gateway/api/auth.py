"""Who is calling: bearer keys checked against an in-process cache of key hashes."""

from __future__ import annotations

from cachetools import TTLCache

from kling_gateway.errors import Unauthenticated
from kling_gateway.keys.service import Principal, hash_key, principal_for
from kling_gateway.kling.codes import KlingCode
from kling_gateway.store.database import Database

KEY_PREFIX = "sk-"


class KeyCache:
    """Map key hashes to their owners, asking the database at most once per key every `ttl_s` seconds.

    Only keys that exist are cached, so a new key works at once; a revoked key stops working within `ttl_s`.
    """

    def __init__(self, db: Database, *, ttl_s: float = 5.0, max_keys: int = 100_000) -> None:
        self.db = db
        self._known: TTLCache[str, Principal] = TTLCache(maxsize=max_keys, ttl=ttl_s)

    async def authenticate(self, authorization: str | None) -> Principal:
        """Return the owner of the bearer key in an Authorization header, or raise with the Kling 401 code."""
        key = bearer_key(authorization)
        digest = hash_key(key)
        principal = self._known.get(digest)
        if principal is None:
            async with self.db.read() as connection:
                principal = await principal_for(connection, digest)
            if principal is None:
                raise Unauthenticated("authentication failed: the API key is unknown or revoked", KlingCode.AUTH_FAILED)
            self._known[digest] = principal
        return principal


def bearer_key(authorization: str | None) -> str:
    """Read `Bearer sk-…`; say what is wrong with anything else."""
    if not authorization:
        raise Unauthenticated(
            "Authorization is empty: send the header `Authorization: Bearer sk-…` with your API key",
            KlingCode.AUTH_EMPTY,
        )
    scheme, _, key = authorization.partition(" ")
    if scheme != "Bearer" or not key or " " in key:
        raise Unauthenticated(
            "Authorization is invalid: expected `Bearer <key>` with a single space", KlingCode.AUTH_INVALID
        )
    if not key.startswith(KEY_PREFIX):
        raise Unauthenticated("Authorization is invalid: gateway API keys start with `sk-`", KlingCode.AUTH_INVALID)
    return key
