"""Signed session cookies: who holds the session (an operator or a user), since when, and its CSRF token.

A cookie is `payload.signature`: the payload a Base64 JSON list, the signature its HMAC-SHA256 under the session
secret. Nothing is kept on the server; a session ends when it expires, when its holder signs out, or when the
holder's `credentials_at` (password changed, account disabled) no longer matches the one it was issued under.
Before signing in, a visitor gets an anonymous session, so that the sign-in form carries a CSRF token too.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

ANONYMOUS = "anonymous"  # a visitor who has not signed in yet
CSRF_BYTES = 24


@dataclass(frozen=True)
class Session:
    """What a session cookie says: the holder's kind and id, when it was issued, its CSRF token, and the holder's
    credentials_at when it was issued."""

    kind: str
    holder_id: int
    issued_at: int
    csrf: str
    credentials_at: int

    @classmethod
    def anonymous(cls, *, now_ms: int) -> Session:
        """A session for a visitor who is about to sign in."""
        return cls(ANONYMOUS, 0, now_ms, new_csrf_token(), 0)

    @classmethod
    def signed_in(cls, kind: str, holder_id: int, *, credentials_at: int, now_ms: int) -> Session:
        """A new session for someone who has just signed in, with a fresh CSRF token."""
        return cls(kind, holder_id, now_ms, new_csrf_token(), credentials_at)


def new_csrf_token() -> str:
    """Draw a CSRF token: 32 URL-safe characters."""
    return secrets.token_urlsafe(CSRF_BYTES)


class Signer:
    """Sign and read values (sessions, flash messages) with the session secret; anything forged or mangled reads
    as nothing."""

    def __init__(self, secret: Callable[[], bytes]) -> None:
        self._secret_of = secret  # read on first use: a gateway nobody signs in to never makes a secret
        self._secret: bytes | None = None

    def sign(self, value: Any) -> str:
        """Encode a JSON value and sign it."""
        payload = _b64(orjson.dumps(value))
        return f"{payload}.{self._mac(payload)}"

    def read(self, signed: str | None) -> Any:
        """Return the value of a signed text, or None when it is missing, forged or not ours."""
        if not signed or "." not in signed:
            return None
        payload, _, mac = signed.rpartition(".")
        if not hmac.compare_digest(mac, self._mac(payload)):
            return None
        try:
            return orjson.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        except (binascii.Error, orjson.JSONDecodeError, ValueError):
            return None

    def _mac(self, payload: str) -> str:
        if self._secret is None:
            self._secret = self._secret_of()
        return _b64(hmac.new(self._secret, payload.encode(), hashlib.sha256).digest())


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


@dataclass(frozen=True)
class SessionCookie:
    """The session cookie of one area (the console's, the portal's): its name, its path, and how long it lasts."""

    name: str
    path: str
    ttl_s: float
    signer: Signer

    def read(self, request: Request, *, now_ms: int) -> Session | None:
        """Return the request's unexpired session, or None."""
        value = self.signer.read(request.cookies.get(self.name))
        if not isinstance(value, list) or len(value) != 5:
            return None
        kind, holder_id, issued_at, csrf, credentials_at = value
        if not (isinstance(kind, str) and isinstance(csrf, str)):
            return None
        if not all(isinstance(number, int) for number in (holder_id, issued_at, credentials_at)):
            return None
        if not issued_at <= now_ms < issued_at + self.ttl_s * 1000:
            return None
        return Session(kind, holder_id, issued_at, csrf, credentials_at)

    def write(self, response: Response, request: Request, session: Session) -> None:
        """Set the cookie: signed, HttpOnly, SameSite=Lax, Secure over https, for the area's paths only."""
        value = self.signer.sign(
            [session.kind, session.holder_id, session.issued_at, session.csrf, session.credentials_at]
        )
        response.set_cookie(
            self.name,
            value,
            max_age=round(self.ttl_s),
            path=self.path,
            secure=request.url.scheme == "https",
            httponly=True,
            samesite="lax",
        )

    def clear(self, response: Response, request: Request) -> None:
        """Remove the cookie."""
        response.delete_cookie(
            self.name, path=self.path, secure=request.url.scheme == "https", httponly=True, samesite="lax"
        )
