"""Who is calling: `sk-` API keys, or JWTs signed with a key's access key and secret key as Kling SDKs do."""

from __future__ import annotations

from cachetools import TTLCache

from kling_gateway.errors import Unauthenticated
from kling_gateway.keys.service import KEY_MARKER, Principal, SigningKey, hash_key, principal_for, signing_key_for
from kling_gateway.kling import signing
from kling_gateway.kling.codes import KlingCode
from kling_gateway.store.database import Database


class KeyCache:
    """Map credentials to their owners, asking the database at most once per key every `ttl_s` seconds.

    Only keys that exist are cached, so a new key works at once; a revoked key stops working within `ttl_s`.
    A verified JWT is remembered until it expires, so a token reused for 30 minutes has its signature checked once;
    its key is still looked up through the cache on every request, so revoking the key stops the token too.
    """

    def __init__(self, db: Database, *, ttl_s: float = 5.0, max_keys: int = 100_000, max_tokens: int = 100_000) -> None:
        self.db = db
        self._by_hash: TTLCache[str, Principal] = TTLCache(maxsize=max_keys, ttl=ttl_s)
        self._by_access_key: TTLCache[str, SigningKey] = TTLCache(maxsize=max_keys, ttl=ttl_s)
        self._verified = signing.VerifiedTokens(max_tokens=max_tokens)

    async def authenticate(self, authorization: str | None) -> Principal:
        """Return the owner of the key or token in an Authorization header, or raise with the Kling 401 code."""
        try:
            token = signing.bearer_token(authorization)
            if token.startswith(KEY_MARKER):
                return await self._api_key_owner(token)
            return await self._token_signer(token)
        except signing.TokenRefused as refused:
            raise Unauthenticated(refused.message, refused.code) from None

    async def _api_key_owner(self, key: str) -> Principal:
        digest = hash_key(key)
        principal = self._by_hash.get(digest)
        if principal is None:
            async with self.db.read() as connection:
                principal = await principal_for(connection, digest)
            if principal is None:
                raise signing.TokenRefused(KlingCode.AUTH_FAILED, "the API key is unknown or revoked")
            self._by_hash[digest] = principal
        return principal

    async def _token_signer(self, token: str) -> Principal:
        issuer = self._verified.issuer(token)
        if issuer is not None:
            return (await self._active_signing_key(issuer)).principal
        issuer = signing.read_issuer(token)
        key = await self._active_signing_key(issuer)
        self._verified.remember(token, signing.verify(token, key.secret_key))
        return key.principal

    async def _active_signing_key(self, access_key: str) -> SigningKey:
        key = self._by_access_key.get(access_key)
        if key is None:
            async with self.db.read() as connection:
                key = await signing_key_for(connection, access_key)
            if key is None:
                raise signing.TokenRefused(KlingCode.AUTH_FAILED, "the token's iss is not a known access key")
            if key.revoked:
                raise signing.TokenRefused(KlingCode.AUTH_FAILED, "the token's access key has been revoked")
            self._by_access_key[access_key] = key
        return key
