"""Hash and check people's passwords (operators', users' portal ones): argon2id, rehashed when its parameters change.

Checking a name nobody has costs one verification against a dummy hash, so that the time an answer takes never
tells whether the name exists.
"""

from __future__ import annotations

import contextlib
from functools import cache
from typing import NamedTuple

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from kling_gateway.errors import InvalidRequest

MIN_CHARS = 10  # shorter ones fall to a guessing run within a day
MAX_CHARS = 1024  # a guard against a request that makes the hash chew megabytes

_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters


class Checked(NamedTuple):
    """Whether a password matched, and the hash to store instead when the parameters have moved on (else None)."""

    matches: bool
    rehashed: str | None = None


def check_rules(password: str) -> str:
    """Refuse a password that is too short or too long, saying what is allowed; return it."""
    if len(password) < MIN_CHARS:
        raise InvalidRequest(
            f"the password is {len(password)} characters long; use at least {MIN_CHARS} (a few words make one)"
        )
    if len(password) > MAX_CHARS:
        raise InvalidRequest(f"the password is longer than {MAX_CHARS} characters; use a shorter one")
    return password


def hash_password(password: str) -> str:
    """Hash a password that passed the rules, for storing."""
    return _hasher.hash(check_rules(password))


def verify(stored_hash: str, password: str) -> Checked:
    """Check a password against its stored hash; say so, with a new hash when the old one's parameters are stale."""
    if len(password) > MAX_CHARS:
        verify_nobody(password[:MAX_CHARS])
        return Checked(matches=False)
    try:
        _hasher.verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        return Checked(matches=False)
    return Checked(matches=True, rehashed=_hasher.hash(password) if _hasher.check_needs_rehash(stored_hash) else None)


def verify_nobody(password: str) -> None:
    """Spend the time one verification takes, for a name nobody has."""
    with contextlib.suppress(VerificationError, InvalidHashError):
        _hasher.verify(_dummy_hash(), password[:MAX_CHARS])


@cache
def _dummy_hash() -> str:
    return _hasher.hash("not the password of anyone: it only makes unknown names take as long as known ones")
