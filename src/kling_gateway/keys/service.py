"""Issue, list, update and revoke API keys, and find whose a key is.

A key is two credentials on one row: an `sk-` bearer secret, of which only the SHA-256 is stored, and an
access-key/secret-key pair that official Kling SDKs sign HS256 JWTs with; verifying HS256 needs the secret key
itself, so it is stored as it is and only ever read back to check a signature. The row also holds the key's
`whsec_` webhook secret, which signs the gateway's callbacks to the key's clients (kept to sign, shown once),
and its own limits: requests per second and unfinished tasks at once (None: the gateway's default).
"""

from __future__ import annotations

import base64
import hashlib
import math
import secrets
from dataclasses import dataclass, field
from typing import Any, NamedTuple, TypedDict

from sqlalchemy import Row, bindparam, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from kling_gateway.clock import now_ms
from kling_gateway.dialects import Dialect
from kling_gateway.errors import InvalidRequest
from kling_gateway.settings import AdmissionConfig
from kling_gateway.store.database import Reader
from kling_gateway.store.models import API_KEYS, USERS, ApiKey, User
from kling_gateway.users.service import check_name

KEY_MARKER = "sk-"
SECRET_BYTES = 32  # 256 bits of randomness: a key cannot be guessed, so a plain SHA-256 is a safe thing to store
DISPLAY_CHARS = 8  # how much of a secret a listing shows: enough to recognise a key, far too little to use it
ACCESS_KEY_MARKER = "ak-"
ACCESS_KEY_BYTES = 16  # an access key names a key in every token, in clear: it must be unique, not secret
SECRET_KEY_BYTES = 32  # 256 bits, the size of an HS256 key
WHSEC_MARKER = "whsec_"  # a Standard Webhooks secret is `whsec_` and the Base64 of the signing key
WEBHOOK_SECRET_BYTES = 32  # 256 bits, the size of an HMAC-SHA256 key
MIN_RPS = 0.001  # the slowest rate a key can be limited to: one request per 1000 s
MAX_RPS = 1_000_000.0  # far above what one gateway serves; a typo's guard, not a capacity


@dataclass(frozen=True)
class Principal:
    """Who a valid key belongs to, and the response dialect the key asks for (None: no default set)."""

    user_id: int
    user_name: str
    key_id: int
    dialect: Dialect | None = None
    rate_limit_rps: float | None = None  # the key's own limit; None: the gateway's default applies
    max_in_flight: int | None = None  # the key's own limit of unfinished tasks; None: the default applies
    user_disabled: bool = False  # the operator disabled the key's user: every request of theirs is refused

    def limits(self, defaults: AdmissionConfig) -> KeyLimits:
        """The limits the key is held to."""
        return KeyLimits.of(rate_limit_rps=self.rate_limit_rps, max_in_flight=self.max_in_flight, defaults=defaults)


class KeyLimits(NamedTuple):
    """What a key may do: its own limits where the admin set them, else the gateway's defaults (None: no limit).

    A tuple, as it is settled on every authenticated request that counts against a rate: a third of a frozen
    dataclass's cost to make.
    """

    requests_per_second: float | None
    tasks_in_flight: int | None
    own_rate: bool  # the requests per second are the key's own, not the default
    own_in_flight: bool

    @classmethod
    def of(cls, *, rate_limit_rps: float | None, max_in_flight: int | None, defaults: AdmissionConfig) -> KeyLimits:
        """Settle a key's limits from its own (None: not set) and the gateway's defaults."""
        own_rate, own_in_flight = rate_limit_rps is not None, max_in_flight is not None
        return cls(
            rate_limit_rps if own_rate else defaults.requests_per_second,
            max_in_flight if own_in_flight else defaults.tasks_in_flight,
            own_rate,
            own_in_flight,
        )


class KeyChanges(TypedDict, total=False):
    """What `update_key` changes; a field left out stays as it is."""

    dialect: Dialect
    rate_limit_rps: float | None  # None: the gateway's default from now on
    max_in_flight: int | None  # None: the gateway's default from now on


@dataclass(frozen=True)
class SigningKey:
    """Whose an access key is, whether it still works, and the secret its tokens must be signed with."""

    principal: Principal
    revoked: bool
    secret_key: str = field(repr=False)  # never in a log line or a traceback


# Built once: these run on every authenticated request the API's key cache has not seen within its TTL.
_OWNER = (
    API_KEYS.c.id.label("key_id"),
    USERS.c.id.label("user_id"),
    USERS.c.name.label("user_name"),
    API_KEYS.c.dialect,
    API_KEYS.c.rate_limit_rps,
    API_KEYS.c.max_in_flight,
    USERS.c.disabled_at,
)
_KEYS_AND_OWNERS = API_KEYS.join(USERS, USERS.c.id == API_KEYS.c.user_id)
_PRINCIPAL_BY_HASH = (
    select(*_OWNER)
    .select_from(_KEYS_AND_OWNERS)
    .where(API_KEYS.c.key_hash == bindparam("key_hash"), API_KEYS.c.revoked_at.is_(None))
)
_SIGNING_KEY_BY_ACCESS_KEY = (
    select(*_OWNER, API_KEYS.c.revoked_at, API_KEYS.c.secret_key)
    .select_from(_KEYS_AND_OWNERS)
    .where(API_KEYS.c.access_key == bindparam("access_key"))
)


_KEYS_WITH_OWNERS = select(ApiKey, User.name).join(User, User.id == ApiKey.user_id).order_by(ApiKey.id)


def new_secret() -> str:
    """Draw a new bearer secret, `sk-` and 43 URL-safe characters."""
    return KEY_MARKER + secrets.token_urlsafe(SECRET_BYTES)


def new_access_key() -> str:
    """Draw a new access key, `ak-` and 22 URL-safe characters."""
    return ACCESS_KEY_MARKER + secrets.token_urlsafe(ACCESS_KEY_BYTES)


def new_secret_key() -> str:
    """Draw a new secret key to sign JWTs with: 43 URL-safe characters."""
    return secrets.token_urlsafe(SECRET_KEY_BYTES)


def new_webhook_secret() -> str:
    """Draw a new webhook signing secret, `whsec_` and the Base64 of 32 random bytes."""
    return WHSEC_MARKER + base64.b64encode(secrets.token_bytes(WEBHOOK_SECRET_BYTES)).decode()


def check_limits(*, rate_limit_rps: float | None = None, max_in_flight: int | None = None) -> None:
    """Refuse a key limit out of range; None (the gateway's default) is always allowed."""
    if rate_limit_rps is not None and not (math.isfinite(rate_limit_rps) and MIN_RPS <= rate_limit_rps <= MAX_RPS):
        raise InvalidRequest(
            f"requests per second: {rate_limit_rps:g} is out of range; "
            f"give a number from {MIN_RPS:g} to {MAX_RPS:.0f}, or leave it to the gateway's default"
        )
    if max_in_flight is not None and max_in_flight < 1:
        raise InvalidRequest(
            f"tasks in flight: {max_in_flight} is out of range; give 1 or more, or leave it to the gateway's default"
        )


def hash_key(secret: str) -> str:
    """Hash a bearer secret the way it is stored and looked up: SHA-256, hexadecimal."""
    return hashlib.sha256(secret.encode()).hexdigest()


def display_prefix(secret: str) -> str:
    """Shorten a secret to what a listing may show of it."""
    return secret[:DISPLAY_CHARS] + "…"


async def create_key(
    session: AsyncSession,
    *,
    user_id: int,
    name: str = "",
    dialect: Dialect | None = None,
    rate_limit_rps: float | None = None,
    max_in_flight: int | None = None,
) -> tuple[ApiKey, str]:
    """Issue a key to a user; return the stored row, with its signing and webhook secrets, and the `sk-` secret.

    The `sk-` secret is not kept anywhere: this is the only time it exists in clear.
    """
    check_name(name, what="key name", allow_empty=True)
    check_limits(rate_limit_rps=rate_limit_rps, max_in_flight=max_in_flight)
    secret = new_secret()
    key = ApiKey(
        user_id=user_id,
        name=name,
        key_hash=hash_key(secret),
        key_prefix=display_prefix(secret),
        created_at=now_ms(),
        dialect=dialect,
        access_key=new_access_key(),
        secret_key=new_secret_key(),
        webhook_secret=new_webhook_secret(),
        rate_limit_rps=rate_limit_rps,
        max_in_flight=max_in_flight,
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


async def update_key(session: AsyncSession, *, key_id: int, changes: KeyChanges) -> ApiKey | None:
    """Change a key's default dialect or its limits; None for an unknown id."""
    if not changes:
        raise InvalidRequest("nothing to change: give a dialect, a rate limit or a limit of tasks in flight")
    check_limits(rate_limit_rps=changes.get("rate_limit_rps"), max_in_flight=changes.get("max_in_flight"))
    await session.execute(update(API_KEYS).where(API_KEYS.c.id == key_id).values(**changes))
    return await session.get(ApiKey, key_id, populate_existing=True)


async def set_dialect(session: AsyncSession, *, key_id: int, dialect: Dialect) -> ApiKey | None:
    """Set the response dialect a key gets by default; None for an unknown id."""
    return await update_key(session, key_id=key_id, changes={"dialect": dialect})


async def rotate_webhook_secret(session: AsyncSession, *, key_id: int) -> ApiKey | None:
    """Give a key a new webhook secret, which signs its callbacks from now on; None for an unknown id."""
    await session.execute(update(API_KEYS).where(API_KEYS.c.id == key_id).values(webhook_secret=new_webhook_secret()))
    return await session.get(ApiKey, key_id, populate_existing=True)


async def revoke_key(session: AsyncSession, *, key_id: int) -> ApiKey | None:
    """Revoke a key for good; a key revoked before keeps its first revocation time. None for an unknown id."""
    await session.execute(
        update(API_KEYS).where(API_KEYS.c.id == key_id, API_KEYS.c.revoked_at.is_(None)).values(revoked_at=now_ms())
    )
    return await session.get(ApiKey, key_id, populate_existing=True)


async def lock_key(session: AsyncSession, *, key_id: int) -> None:
    """Lock a key's row until the transaction ends, so that submits of one key take turns."""
    await session.execute(select(API_KEYS.c.id).where(API_KEYS.c.id == key_id).with_for_update())


async def principal_for(connection: Reader, key_hash: str) -> Principal | None:
    """Find whose active key has this hash, in one indexed lookup; None for an unknown or revoked key (a key of a
    disabled user is found, saying so)."""
    row = (await connection.execute(_PRINCIPAL_BY_HASH, {"key_hash": key_hash})).one_or_none()
    return None if row is None else _principal(row)


async def signing_key_for(connection: Reader, access_key: str) -> SigningKey | None:
    """Find the key with this access key, revoked or not, in one indexed lookup; None for an unknown one."""
    row = (await connection.execute(_SIGNING_KEY_BY_ACCESS_KEY, {"access_key": access_key})).one_or_none()
    if row is None:
        return None
    return SigningKey(principal=_principal(row), revoked=row.revoked_at is not None, secret_key=row.secret_key)


def _principal(row: Row[*tuple[Any, ...]]) -> Principal:
    dialect = None if row.dialect is None else Dialect(row.dialect)
    return Principal(
        user_id=row.user_id,
        user_name=row.user_name,
        key_id=row.key_id,
        dialect=dialect,
        rate_limit_rps=row.rate_limit_rps,
        max_in_flight=row.max_in_flight,
        user_disabled=row.disabled_at is not None,
    )
