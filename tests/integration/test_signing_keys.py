"""Signing keys on real SQLite and PostgreSQL: the pair every key gets, its dialect, and the key cache's checks."""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator
from typing import Any

import jwt
import pytest

from kling_gateway.api.auth import KeyCache
from kling_gateway.dialects import Dialect
from kling_gateway.errors import Unauthenticated
from kling_gateway.keys import service as keys_service
from kling_gateway.kling.codes import KlingCode
from kling_gateway.store.database import Database
from kling_gateway.store.models import ApiKey
from kling_gateway.users import service as users_service

pytestmark = pytest.mark.both_backends  # the key repository: the store matters

ACCESS_KEY = re.compile(r"^ak-[A-Za-z0-9_-]{22}$")
SECRET_KEY = re.compile(r"^[A-Za-z0-9_-]{43}$")  # 43 URL-safe characters: 256 bits


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    yield database
    await database.dispose()


async def issue(db: Database, user: str = "alice", dialect: Dialect | None = None) -> tuple[ApiKey, str]:
    """Create a user, unless there is one, and issue them a key."""
    async with db.session() as session, session.begin():
        owner = await users_service.find_user(session, user) or await users_service.create_user(session, name=user)
        return await keys_service.create_key(session, user_id=owner.id, name="laptop", dialect=dialect)


def signed(key: ApiKey, secret: str | None = None, **changes: Any) -> str:
    """A token as the official SDKs sign it, for a key's pair."""
    now = int(time.time())
    claims = {"iss": key.access_key, "exp": now + 1800, "nbf": now - 5} | changes
    return "Bearer " + jwt.encode(claims, secret or key.secret_key or "", "HS256", headers={"typ": "JWT"})


async def refused(keys: KeyCache, authorization: str) -> tuple[KlingCode, str]:
    with pytest.raises(Unauthenticated) as refusal:
        await keys.authenticate(authorization)
    return refusal.value.kling_code, refusal.value.message


async def test_every_key_gets_its_own_access_key_and_a_strong_secret_key(db: Database) -> None:
    first, _ = await issue(db)
    second, _ = await issue(db, dialect=Dialect.TASK)
    for key in (first, second):
        assert key.access_key is not None
        assert ACCESS_KEY.match(key.access_key)
        assert key.secret_key is not None
        assert SECRET_KEY.match(key.secret_key)
    assert first.access_key != second.access_key
    assert first.secret_key != second.secret_key
    async with db.session() as session:
        listed = [(key.access_key, key.secret_key, key.dialect) for key, _ in await keys_service.list_keys(session)]
    assert listed == [(first.access_key, first.secret_key, None), (second.access_key, second.secret_key, "task")]


async def test_an_access_key_finds_its_owner_dialect_and_secret_even_once_revoked(db: Database) -> None:
    key, secret = await issue(db, dialect=Dialect.VIDEO)
    assert key.access_key is not None
    assert key.secret_key is not None
    expected = keys_service.Principal(user_id=key.user_id, user_name="alice", key_id=key.id, dialect=Dialect.VIDEO)
    async with db.read() as connection:
        found = await keys_service.signing_key_for(connection, key.access_key)
        assert found == keys_service.SigningKey(principal=expected, revoked=False, secret_key=key.secret_key)
        assert key.secret_key not in repr(found)
        assert await keys_service.principal_for(connection, keys_service.hash_key(secret)) == expected
        assert await keys_service.signing_key_for(connection, "ak-nobody") is None
    async with db.session() as session, session.begin():
        await keys_service.revoke_key(session, key_id=key.id)
    async with db.read() as connection:
        revoked = await keys_service.signing_key_for(connection, key.access_key)
        assert revoked is not None
        assert revoked.revoked
        assert await keys_service.principal_for(connection, keys_service.hash_key(secret)) is None


async def test_a_keys_dialect_can_be_changed_and_an_unknown_key_is_none(db: Database) -> None:
    key, secret = await issue(db)
    async with db.session() as session, session.begin():
        updated = await keys_service.set_dialect(session, key_id=key.id, dialect=Dialect.TASK)
        assert updated is not None
        assert updated.dialect == "task"
        assert await keys_service.set_dialect(session, key_id=key.id + 100, dialect=Dialect.TASK) is None
    async with db.read() as connection:
        principal = await keys_service.principal_for(connection, keys_service.hash_key(secret))
    assert principal is not None
    assert principal.dialect is Dialect.TASK


async def test_the_api_key_and_a_signed_token_of_a_key_are_the_same_caller(db: Database) -> None:
    key, secret = await issue(db, dialect=Dialect.TASK)
    keys = KeyCache(db)
    by_secret = await keys.authenticate(f"Bearer {secret}")
    token = signed(key)
    assert await keys.authenticate(token) == by_secret
    assert await keys.authenticate(token) == by_secret  # a reused token
    assert by_secret == keys_service.Principal(
        user_id=key.user_id, user_name="alice", key_id=key.id, dialect=Dialect.TASK
    )


async def test_a_token_for_another_key_or_an_unknown_access_key_fails(db: Database) -> None:
    alice, _ = await issue(db)
    bob, _ = await issue(db, "bob")
    keys = KeyCache(db)
    code, message = await refused(keys, signed(alice, secret=bob.secret_key))
    assert (code, message) == (
        KlingCode.AUTH_FAILED,
        "Authentication failed: the token's signature does not match the secret key of its access key",
    )
    assert await refused(keys, signed(alice, iss="ak-nobody")) == (
        KlingCode.AUTH_FAILED,
        "Authentication failed: the token's iss is not a known access key",
    )
    assert (await keys.authenticate(signed(bob))).user_name == "bob"


async def test_revoking_a_key_stops_its_verified_tokens_and_its_api_key(db: Database) -> None:
    key, secret = await issue(db)
    keys = KeyCache(db, ttl_s=0)
    token = signed(key)
    assert (await keys.authenticate(token)).key_id == key.id
    async with db.session() as session, session.begin():
        await keys_service.revoke_key(session, key_id=key.id)
    assert await refused(keys, token) == (
        KlingCode.AUTH_FAILED,
        "Authentication failed: the token's access key has been revoked",
    )
    assert (await refused(keys, f"Bearer {secret}"))[0] is KlingCode.AUTH_FAILED


async def test_a_changed_dialect_reaches_callers_within_the_cache_ttl(db: Database) -> None:
    key, _ = await issue(db)
    keys = KeyCache(db, ttl_s=0)
    token = signed(key)
    assert (await keys.authenticate(token)).dialect is None
    async with db.session() as session, session.begin():
        await keys_service.set_dialect(session, key_id=key.id, dialect=Dialect.VIDEO)
    assert (await keys.authenticate(token)).dialect is Dialect.VIDEO
