"""Issue, list and revoke API keys, and find whose a key is; only a key's SHA-256 is ever stored."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import bindparam, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from kling_gateway.clock import now_ms
from kling_gateway.errors import InvalidRequest
from kling_gateway.store.models import API_KEYS, USERS, ApiKey, User
from kling_gateway.users.service import check_name

KEY_MARKER = "sk-"
SECRET_BYTES = 32  # 256 bits of randomness: a key cannot be guessed, so a plain SHA-256 is a safe thing to store
DISPLAY_CHARS = 8  # how much of a secret a listing shows: enough to recognise a key, far too little to use it


@dataclass(frozen=True)
class Principal:
    """Who a valid key belongs to."""

    user_id: int
    user_name: str
    key_id: int


# Built once: this runs on every authenticated request, through the API's key cache.
_PRINCIPAL_BY_HASH = (
    select(API_KEYS.c.id.label("key_id"), USERS.c.id.label("user_id"), USERS.c.name)
    .select_from(API_KEYS.join(USERS, USERS.c.id == API_KEYS.c.user_id))
    .where(API_KEYS.c.key_hash == bindparam("key_hash"), API_KEYS.c.revoked_at.is_(None))
)


_KEYS_WITH_OWNERS = select(ApiKey, User.name).join(User, User.id == ApiKey.user_id).order_by(ApiKey.id)


def new_secret() -> str:
    """Draw a new bearer secret, `sk-` and 43 URL-safe characters."""
    return KEY_MARKER + secrets.token_urlsafe(SECRET_BYTES)


def hash_key(secret: str) -> str:
    """Hash a bearer secret the way it is stored and looked up: SHA-256, hexadecimal."""
    return hashlib.sha256(secret.encode()).hexdigest()


def display_prefix(secret: str) -> str:
    """Shorten a secret to what a listing may show of it."""
    return secret[:DISPLAY_CHARS] + "…"


async def create_key(session: AsyncSession, *, user_id: int, name: str = "") -> tuple[ApiKey, str]:
    """Issue a key to a user; return the stored row and the secret, which is not kept anywhere."""
    check_name(name, what="key name", allow_empty=True)
    secret = new_secret()
    key = ApiKey(
        user_id=user_id, name=name, key_hash=hash_key(secret), key_prefix=display_prefix(secret), created_at=now_ms()
    )
    session.add(key)
    try:
        await session.flush()
    except IntegrityError:
        raise InvalidRequest(f"there is no user with id {user_id} to issue a key to") from None
    return key, secret


async def list_keys(session: AsyncSession, *, user_id: int | None = None) -> list[tuple[ApiKey, str]]:
    """List keys, oldest first, each with its user's name; only one user's when `user_id` is given."""
    query = _KEYS_WITH_OWNERS if user_id is None else _KEYS_WITH_OWNERS.where(ApiKey.user_id == user_id)
    return [(key, owner) for key, owner in await session.execute(query)]


async def find_key(session: AsyncSession, *, key_id: int) -> tuple[ApiKey, str] | None:
    """Look a key up by id, with its user's name."""
    found = (await session.execute(_KEYS_WITH_OWNERS.where(ApiKey.id == key_id))).one_or_none()
    return None if found is None else (found[0], found[1])


async def revoke_key(session: AsyncSession, *, key_id: int) -> ApiKey | None:
    """Revoke a key for good; a key revoked before keeps its first revocation time. None for an unknown id."""
    await session.execute(
        update(API_KEYS).where(API_KEYS.c.id == key_id, API_KEYS.c.revoked_at.is_(None)).values(revoked_at=now_ms())
    )
    return await session.get(ApiKey, key_id, populate_existing=True)


async def principal_for(connection: AsyncConnection, key_hash: str) -> Principal | None:
    """Find whose active key has this hash, in one indexed lookup; None for an unknown or revoked key."""
    row = (await connection.execute(_PRINCIPAL_BY_HASH, {"key_hash": key_hash})).one_or_none()
    if row is None:
        return None
    key_id, user_id, user_name = row
    return Principal(user_id=user_id, user_name=user_name, key_id=key_id)
