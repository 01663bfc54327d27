"""Authenticate a sandbox request the way the official API does: an HS256 JWT per account, or a static key."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from kling_gateway.clock import now_ms
from kling_gateway.kling import signing
from kling_gateway.kling.codes import KlingCode
from kling_gateway.sandbox.config import Account, Now
from kling_gateway.sandbox.errors import SandboxError


class AuthError(SandboxError):
    """Refuse a request with one of the 401 codes 1000-1004, the official wording, and why."""

    def __init__(self, code: KlingCode, detail: str) -> None:
        super().__init__(code, f"{code.message}: {detail}")


# 2026 §2.3 [obs]: what the new-generation endpoints answer a JWT, or any string that is not an API key.
KEY_ONLY_MESSAGE = (
    "Authentication error. The current API does not support AK/SK; please go to the console "
    "(https://kling.ai/dev/api-key) to create API key."
)


class Authenticator:
    """Map the bearer value of a request to the account it belongs to."""

    def __init__(self, accounts: Iterable[Account], *, clock: Now = now_ms) -> None:
        self._clock = clock
        self._by_access_key = {account.access_key: account for account in accounts}
        # Keyed by digest: a dict lookup costs the same for every key and reveals nothing of the stored ones.
        self._by_api_key_digest = {
            _digest(account.api_key): account for account in self._by_access_key.values() if account.api_key
        }
        self._verified = signing.VerifiedTokens(clock=self._now_s)

    def authenticate(self, authorization: str | None) -> Account:
        """Return the calling account, or raise AuthError with the official code."""
        try:
            token = signing.bearer_token(authorization)
            return self._by_api_key_digest.get(_digest(token)) or self._signer(token)
        except signing.TokenRefused as refused:
            raise AuthError(refused.code, refused.detail) from None

    def authenticate_key(self, authorization: str | None) -> Account:
        """Return the account whose static API key the request carries; a JWT or anything else is refused."""
        try:
            token = signing.bearer_token(authorization)
        except signing.TokenRefused as refused:
            raise AuthError(refused.code, refused.detail) from None
        account = self._by_api_key_digest.get(_digest(token))
        if account is None:
            raise SandboxError(KlingCode.AUTH_INVALID, KEY_ONLY_MESSAGE)
        return account

    def _signer(self, token: str) -> Account:
        issuer = self._verified.issuer(token)
        if issuer is not None:
            return self._by_access_key[issuer]
        account = self._by_access_key.get(signing.read_issuer(token))
        if account is None:
            raise signing.TokenRefused(KlingCode.AUTH_FAILED, "the token's iss is not a known access key")
        self._verified.remember(token, signing.verify(token, account.secret_key, now_s=self._now_s()))
        return account

    def _now_s(self) -> float:
        return self._clock() / 1000


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()
