"""Hash and check portal passwords with Argon2id: only the hash is stored, and checking one costs the same
whether or not the account exists."""

from __future__ import annotations

from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from kling_gateway.errors import InvalidRequest

MIN_CHARS = 10  # shorter passwords fall to guessing too easily
MAX_CHARS = 1024  # a bound on what one sign-in makes the hasher chew through

_hasher = PasswordHasher()  # argon2-cffi's defaults: Argon2id, RFC 9106's low-memory profile


@cache
def _nobody() -> str:
    """A hash to check against when no account has the name: an unknown name takes as long as a wrong password."""
    return _hasher.hash("no account has this password")


def check_strength(password: str) -> str:
    """Refuse a password too short or too long to be one; say what is allowed."""
    if len(password) < MIN_CHARS:
        raise InvalidRequest(
            f"the password has {len(password)} characters; use at least {MIN_CHARS} (a few words make a good one)"
        )
    if len(password) > MAX_CHARS:
        raise InvalidRequest(f"the password has {len(password)} characters; use at most {MAX_CHARS}")
    return password


def hash_password(password: str) -> str:
    """Hash a password for storing (`check_strength` says whether to accept it)."""
    return _hasher.hash(password)


def verify(stored: str | None, password: str) -> bool:
    """Tell whether a password matches a stored hash; with no hash stored, spend the same time and say no."""
    if len(password) > MAX_CHARS:
        return False
    try:
        return _hasher.verify(stored or _nobody(), password) and stored is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored: str) -> bool:
    """Tell whether a hash was made with weaker parameters than those in force, so a sign-in renews it."""
    return _hasher.check_needs_rehash(stored)
