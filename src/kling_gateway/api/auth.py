"""Who is calling: `sk-` API keys, or JWTs signed with a key's access key and secret key as Kling SDKs do.

Every authenticated request also counts against its key's requests per second (`rate_limits`), so that each
route that asks who is calling holds the caller to its limit.
"""

from __future__ import annotations

from cachetools import TTLCache
from starlette.requests import Request

from kling_gateway.api.rate_limits import RequestLimits
from kling_gateway.clock import Clock, SystemClock
from kling_gateway.errors import Unauthenticated
from kling_gateway.keys.service import KEY_MARKER, Principal, SigningKey, hash_key, principal_for, signing_key_for
from kling_gateway.kling import signing
from kling_gateway.kling.codes import KlingCode
from kling_gateway.logs import note_key
from kling_gateway.settings import Settings
from kling_gateway.store.database import Database
from kling_gateway.users.service import disabled_message


class KeyCache:
    """Map credentials to their owners, asking the database at most once per key every `ttl_s` seconds.

    Only keys that exist are cached, so a new key works at once; a revoked key stops working within `ttl_s`.
    A verified JWT is remembered until it expires, so a token reused for 30 minutes has its signature checked once;
    its key is still looked up through the cache on every request, so revoking the key stops the token too.
    A key's new limits, like its revocation and its user being disabled or enabled, apply within `ttl_s`.
    """

    def __init__(
        self,
        db: Database,
        *,
        ttl_s: float = 5.0,
        max_keys: int = 100_000,
        max_tokens: int = 100_000,
        limits: RequestLimits | None = None,
        clock: Clock | None = None,
        jwt_leeway_s: float = 10.0,  # skew allowed between a token's nbf/exp and `clock`
        jwt_max_lifetime_s: float = 86_400.0,  # how far ahead a token's exp may lie
    ) -> None:
        self.db = db
        self.clock = clock or SystemClock()  # what a token's nbf and exp are judged by
        self.jwt_leeway_s = jwt_leeway_s
        self.jwt_max_lifetime_s = jwt_max_lifetime_s
        self.limits = limits or RequestLimits()  # by default, only keys' own limits, counted in this process
        self._by_hash: TTLCache[str, Principal] = TTLCache(maxsize=max_keys, ttl=ttl_s)
        self._by_access_key: TTLCache[str, SigningKey] = TTLCache(maxsize=max_keys, ttl=ttl_s)
        self._verified = signing.VerifiedTokens(max_tokens=max_tokens, clock=self._now_s)

    @classmethod
    def for_settings(cls, db: Database, settings: Settings, *, clock: Clock | None = None) -> KeyCache:
        """Cache keys for `key_cache_ttl_s`; count requests in Redis when `redis_url` is set, else in memory."""
        return cls(
            db,
            ttl_s=settings.key_cache_ttl_s,
            limits=RequestLimits.for_settings(settings),
            clock=clock,
            jwt_leeway_s=settings.jwt_leeway_s,
            jwt_max_lifetime_s=settings.jwt_max_lifetime_s,
        )

    def _now_s(self) -> float:
        return self.clock.now_ms() / 1000

    async def authenticate(self, authorization: str | None) -> Principal:
        """Return the owner of the key or token in an Authorization header and count the request against its key.

        Raise Unauthenticated (a Kling 401 code) for a bad credential, RateLimited when the key is over its limit.
        """
        owner = await self.identify(authorization)
        await self.limits.admit(owner)
        return owner

    async def identify(self, authorization: str | None) -> Principal:
        """Return the owner of the key or token in an Authorization header, without counting the request; refuse a
        disabled user's."""
        owner = await self.owner(authorization)
        refuse_disabled(owner)
        return owner

    async def owner(self, authorization: str | None) -> Principal:
        """Return whose the key or token in an Authorization header is, their user disabled or not."""
        try:
            token = signing.bearer_token(authorization)
            return await (self._api_key_owner(token) if token.startswith(KEY_MARKER) else self._token_signer(token))
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
        claims = signing.verify(
            token,
            key.secret_key,
            now_s=self._now_s(),
            leeway_s=self.jwt_leeway_s,
            max_lifetime_s=self.jwt_max_lifetime_s,
        )
        self._verified.remember(token, claims)
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


def refuse_disabled(owner: Principal) -> None:
    """Refuse every request of a user the operator disabled, saying so (not as an unknown key: the key is fine)."""
    if owner.user_disabled:
        raise Unauthenticated(disabled_message(owner.user_name))


NO_TOKENS_HERE = (
    "Authentication error. The current API does not support AK/SK; use the gateway API key (sk-…) of your key "
    "as `Authorization: Bearer sk-…`"
)
"""Kling's answer to a JWT on a new-generation endpoint (reference 2026 §2.3), pointing at the gateway's own keys."""


async def api_key_caller(keys: KeyCache, request: Request) -> Principal:
    """Authenticate a request to a new-generation endpoint, which takes a static API key only, as Kling's do: a
    gateway `sk-` key works, a JWT signed with a key's access key and secret key is refused with 401/1002."""
    try:
        token = signing.bearer_token(request.headers.get("authorization"))
    except signing.TokenRefused as refused:
        raise Unauthenticated(refused.message, refused.code) from None
    if not token.startswith(KEY_MARKER):
        raise Unauthenticated(NO_TOKENS_HERE, KlingCode.AUTH_INVALID)
    return await caller(keys, request)


async def caller(keys: KeyCache, request: Request) -> Principal:
    """Authenticate a request and count it against its key; from then on its errors speak the key's default
    dialect (a disabled user's 401 and a 429 for the key's own rate included)."""
    owner = await keys.owner(request.headers.get("authorization"))
    note_key(owner.key_id)
    request.state.key_dialect = owner.dialect
    refuse_disabled(owner)
    await keys.limits.admit(owner)
    return owner
