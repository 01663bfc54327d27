"""Check a request's Authorization the way the official API does: HS256 JWTs signed with an access key's secret.

The official SDKs sign `{"iss": access_key, "exp": now + 1800, "nbf": now - 5}` with HS256 and send
`Authorization: Bearer <token>`. Whoever looks the access key up (the sandbox from its accounts, the gateway from
its database) calls `bearer_token`, then `read_issuer`, then `verify` with that key's secret; each refuses with
`TokenRefused`, carrying the official 401 code (1000-1004) and what exactly was wrong.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import jwt
from cachetools import LRUCache

from kling_gateway.kling.codes import KlingCode

ALGORITHM = "HS256"
REQUIRED_CLAIMS = ("iss", "exp", "nbf")


class TokenRefused(Exception):
    """Refuse a request's Authorization with one of the codes 1000-1004, the official wording, and why."""

    def __init__(self, code: KlingCode, detail: str) -> None:
        self.code = code
        self.detail = detail
        self.message = f"{code.message}: {detail}"
        super().__init__(self.message)


def bearer_token(authorization: str | None) -> str:
    """Read the token of an `Authorization: Bearer <token>` header."""
    if not authorization:
        raise TokenRefused(
            KlingCode.AUTH_EMPTY, "the Authorization header is missing; send `Authorization: Bearer <token>`"
        )
    scheme, _, token = authorization.partition(" ")
    if scheme != "Bearer" or not token or token != token.strip() or " " in token:
        raise TokenRefused(KlingCode.AUTH_INVALID, "the Authorization header must be 'Bearer <token>' with one space")
    return token


def read_issuer(token: str) -> str:
    """Return the access key a token says it is signed with, once its form is right; its signature is not checked."""
    try:
        unverified = jwt.decode_complete(token, options={"verify_signature": False})
    except jwt.InvalidTokenError as error:
        raise TokenRefused(
            KlingCode.AUTH_INVALID, f"the token is neither an API key nor a decodable JWT ({error})"
        ) from error
    algorithm = unverified["header"].get("alg")
    if algorithm != ALGORITHM:
        raise TokenRefused(KlingCode.AUTH_INVALID, f"the token is signed with {algorithm!r}; it must use HS256")
    claims = unverified["payload"]
    missing = [claim for claim in REQUIRED_CLAIMS if claim not in claims]
    if missing:
        raise TokenRefused(
            KlingCode.AUTH_INVALID,
            f"the token has no {' and no '.join(missing)} claim; it needs iss (the access key), exp and nbf",
        )
    issuer = claims["iss"]
    if not isinstance(issuer, str) or not issuer:
        raise TokenRefused(KlingCode.AUTH_INVALID, "the token's iss claim must be the access key, a string")
    return issuer


def verify(
    token: str,
    secret_key: str,
    *,
    now_s: float | None = None,
    leeway_s: float = 0.0,
    max_lifetime_s: float | None = None,
) -> dict[str, Any]:
    """Check a token's signature against the secret key, then its nbf and exp at `now_s` (default: the wall clock's
    time), each allowed `leeway_s` of clock skew, and that it expires within `max_lifetime_s`; return its claims."""
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            secret_key,
            algorithms=[ALGORITHM],
            options={
                "require": list(REQUIRED_CLAIMS),
                "verify_aud": False,
                "verify_iat": False,  # Kling has no iat
                "verify_nbf": False,  # checked below, as numbers only and at the verifier's own clock
                "verify_exp": False,
            },
        )
        _check_times(claims, time.time() if now_s is None else now_s, leeway_s, max_lifetime_s)
        return claims
    except jwt.InvalidSignatureError as error:
        raise TokenRefused(
            KlingCode.AUTH_FAILED, "the token's signature does not match the secret key of its access key"
        ) from error
    except jwt.ImmatureSignatureError as error:
        raise TokenRefused(
            KlingCode.AUTH_NOT_YET_VALID,
            f"the token's nbf is in the future (valid from {_claimed_time(token, 'nbf')}); check the client's clock",
        ) from error
    except jwt.ExpiredSignatureError as error:
        raise TokenRefused(
            KlingCode.AUTH_EXPIRED, f"the token expired at {_claimed_time(token, 'exp')} (exp); sign a new one"
        ) from error
    except jwt.InvalidTokenError as error:
        raise TokenRefused(KlingCode.AUTH_INVALID, f"the token is not acceptable ({error})") from error


class LifetimeTooLong(jwt.InvalidTokenError):
    """The token's exp lies further ahead than the verifier accepts."""


def _check_times(claims: dict[str, Any], now_s: float, leeway_s: float, max_lifetime_s: float | None) -> None:
    """Apply the nbf and exp rules at a given moment, for a verifier with a clock of its own."""
    not_before, expires = _seconds(claims, "nbf", "Not Before"), _seconds(claims, "exp", "Expiration Time")
    if not_before > now_s + leeway_s:
        raise jwt.ImmatureSignatureError("The token is not yet valid (nbf)")
    if expires <= now_s - leeway_s:
        raise jwt.ExpiredSignatureError("Signature has expired")
    if max_lifetime_s is not None and expires - now_s > max_lifetime_s + leeway_s:
        raise LifetimeTooLong(
            f"its exp is {expires - now_s:.0f} s from now, and tokens valid for at most {max_lifetime_s:.0f} s "
            f"are taken; sign one with exp at most now + {max_lifetime_s:.0f}"
        )


def _seconds(claims: dict[str, Any], claim: str, name: str) -> float:
    value = claims[claim]
    # A NumericDate is a JSON number (RFC 7519 §2): a numeric string or true is not one, nor is 1e400.
    if not isinstance(value, bool) and isinstance(value, int | float):
        try:
            seconds = float(value)
        except OverflowError:
            seconds = math.inf
        if math.isfinite(seconds):
            return seconds
    raise jwt.DecodeError(f"{name} claim ({claim}) must be a number of seconds since 1970, got {str(value)[:40]}")


def _claimed_time(token: str, claim: str) -> str:
    # Only called once the signature has checked out, so the claim is the signer's.
    seconds = jwt.decode(token, options={"verify_signature": False})[claim]
    try:
        return datetime.fromtimestamp(int(seconds), UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    except (OverflowError, ValueError, OSError):  # past year 9999: say the number
        return f"{seconds:.0f} s after 1970"


class VerifiedTokens:
    """Remember which access key signed each verified token, until the token expires.

    A client reuses one token for up to 30 minutes: its signature is checked once, then only its expiry.
    """

    def __init__(self, *, max_tokens: int = 10_000, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        # Keyed by digest: 32 bytes a token, and a lookup that reveals nothing of the tokens already seen.
        self._issuers: LRUCache[bytes, tuple[str, int]] = LRUCache(maxsize=max_tokens)

    def issuer(self, token: str) -> str | None:
        """Return the access key that signed a verified, unexpired token; None if it must be checked in full."""
        digest = _digest(token)
        remembered = self._issuers.get(digest)
        if remembered is None:
            return None
        issuer, expires = remembered
        if self._clock() >= expires:
            del self._issuers[digest]  # checking it in full says precisely how it expired
            return None
        return issuer

    def remember(self, token: str, claims: dict[str, Any]) -> None:
        """Note that `verify` accepted a token, with the claims it returned."""
        self._issuers[_digest(token)] = (str(claims["iss"]), int(claims["exp"]))


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()
