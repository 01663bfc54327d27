"""Authenticate a sandbox request the way the official API does: an HS256 JWT per account, or a static key."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterable

import jwt

from kling_gateway.kling.codes import KlingCode
from kling_gateway.sandbox.config import Account
from kling_gateway.sandbox.errors import SandboxError


class AuthError(SandboxError):
    """Refuse a request with one of the 401 codes 1000-1004, the official wording, and why."""

    def __init__(self, code: KlingCode, detail: str) -> None:
        super().__init__(code, f"{code.message}: {detail}")


_VERIFIED_TOKENS_MAX = 10_000  # tokens remembered after their signature was checked


class Authenticator:
    """Map the bearer value of a request to the account it belongs to."""

    def __init__(self, accounts: Iterable[Account]) -> None:
        self._by_access_key = {account.access_key: account for account in accounts}
        # Keyed by digest: a dict lookup costs the same for every key and reveals nothing of the stored ones.
        self._by_api_key_digest = {
            _digest(account.api_key): account for account in self._by_access_key.values() if account.api_key
        }
        # A client reuses one token for up to 30 minutes: check it once, then only its expiry.
        self._verified: dict[str, tuple[Account, int]] = {}

    def authenticate(self, authorization: str | None) -> Account:
        """Return the calling account, or raise AuthError with the official code."""
        if not authorization:
            raise AuthError(KlingCode.AUTH_EMPTY, "the Authorization header is missing")
        scheme, _, token = authorization.partition(" ")
        if scheme != "Bearer" or not token or token != token.strip():
            raise AuthError(KlingCode.AUTH_INVALID, "the Authorization header must be 'Bearer <token>' with one space")
        account = self._by_api_key_digest.get(_digest(token))
        if account is not None:
            return account
        verified = self._verified.get(token)
        if verified is None:
            return self._jwt_account(token)
        account, expires = verified
        if time.time() >= expires:
            del self._verified[token]
            raise AuthError(KlingCode.AUTH_EXPIRED, "the token's exp has passed")
        return account

    def _jwt_account(self, token: str) -> Account:
        try:
            unverified = jwt.decode_complete(token, options={"verify_signature": False})
        except jwt.InvalidTokenError as error:
            raise AuthError(KlingCode.AUTH_INVALID, f"the token is not a valid JWT ({error})") from error
        claims = unverified["payload"]
        if unverified["header"].get("alg") != "HS256":
            raise AuthError(KlingCode.AUTH_INVALID, "the token must be signed with HS256")
        if "iss" not in claims:
            raise AuthError(KlingCode.AUTH_INVALID, "the token has no iss claim (it must be the access key)")
        account = self._by_access_key.get(str(claims["iss"]))
        if account is None:
            raise AuthError(KlingCode.AUTH_FAILED, "the token's iss is not a known access key")
        try:
            verified = jwt.decode(
                token,
                account.secret_key,
                algorithms=["HS256"],
                options={"require": ["iss", "exp", "nbf"], "verify_aud": False},
            )
        except jwt.InvalidSignatureError as error:
            raise AuthError(KlingCode.AUTH_FAILED, "the token's signature does not match") from error
        except jwt.ImmatureSignatureError as error:
            raise AuthError(KlingCode.AUTH_NOT_YET_VALID, "the token's nbf is in the future") from error
        except jwt.ExpiredSignatureError as error:
            raise AuthError(KlingCode.AUTH_EXPIRED, "the token's exp has passed") from error
        except jwt.InvalidTokenError as error:
            raise AuthError(KlingCode.AUTH_INVALID, f"the token is not acceptable ({error})") from error
        if len(self._verified) >= _VERIFIED_TOKENS_MAX:
            self._verified.clear()
        self._verified[token] = (account, int(verified["exp"]))
        return account


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()
