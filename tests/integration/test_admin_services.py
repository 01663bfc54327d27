"""The admin services on real SQLite and PostgreSQL: users and their money, keys and their hashes, channels."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from kling_gateway.billing import ledger
from kling_gateway.channels import admin as channels_service
from kling_gateway.clock import now_ms
from kling_gateway.errors import InvalidRequest, NotFound, Unauthenticated
from kling_gateway.keys import service as keys_service
from kling_gateway.kling.schemas import Family
from kling_gateway.settings import Settings
from kling_gateway.store.database import Database
from kling_gateway.store.models import TASKS
from kling_gateway.tasks import repository
from kling_gateway.tasks.ids import new_platform_id
from kling_gateway.users import service as users_service
from tests.factories import task_draft

pytestmark = pytest.mark.both_backends  # users, keys, channels and the ledger in the store

YUAN = 1_000_000


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    yield database
    await database.dispose()


async def make_user(db: Database, name: str = "alice", **values: Any) -> int:
    async with db.session() as session, session.begin():
        return (await users_service.create_user(session, name=name, **values)).id


async def test_an_opening_balance_is_a_ledger_top_up_and_rates_fall_back_to_the_defaults(db: Database) -> None:
    async with db.session() as session, session.begin():
        user = await users_service.create_user(
            session, name="alice", balance_micros=10 * YUAN, video_rate_micros=800_000
        )
        assert user.balance_micros == 10 * YUAN
    async with db.session() as session:
        found = await users_service.find_user(session, "alice")
        assert found is not None
        assert found.balance_micros == 10 * YUAN
        [entry] = await ledger.recent_entries(session, user_id=found.id)
        assert (entry.kind, entry.amount_micros, entry.balance_after_micros) == ("top_up", 10 * YUAN, 10 * YUAN)
        assert entry.note == users_service.INITIAL_BALANCE_NOTE
        settings = Settings(
            video_credit_yuan=Decimal(1), image_credit_yuan=Decimal("0.025"), audio_credit_yuan=Decimal("0.5")
        )
        assert users_service.rates_of(found, settings) == (800_000, 25_000, 500_000)
        assert await users_service.find_user(session, "bob") is None


async def test_a_taken_user_name_is_refused_and_nothing_is_written(db: Database) -> None:
    await make_user(db, balance_micros=YUAN)
    with pytest.raises(InvalidRequest, match="already exists"):
        await make_user(db, balance_micros=5 * YUAN)
    async with db.session() as session:
        [user] = await users_service.list_users(session)
        assert user.balance_micros == YUAN
        assert len(await ledger.recent_entries(session, user_id=user.id)) == 1


@pytest.mark.parametrize(
    ("values", "complaint"),
    [
        ({"name": ""}, "1 to 64 printable characters"),
        ({"name": " alice"}, "no spaces at either end"),
        ({"name": "a" * 65}, "1 to 64"),
        ({"name": "alice", "balance_micros": -1}, "opening balance is -0.000001 yuan; it must be 0 or more"),
        ({"name": "alice", "image_rate_micros": -YUAN}, "image credit price is -1.00 yuan"),
    ],
)
async def test_bad_user_values_are_refused(db: Database, values: dict[str, Any], complaint: str) -> None:
    with pytest.raises(InvalidRequest, match=complaint):
        await make_user(db, **values)


async def test_credits_correct_a_balance_but_never_below_what_is_held(db: Database) -> None:
    user_id = await make_user(db, balance_micros=10 * YUAN)
    async with db.session() as session, session.begin():
        await ledger.hold(session, user_id=user_id, task_platform_id="video_1", amount_micros=8 * YUAN)
    async with db.session() as session, session.begin():
        after = await users_service.add_credits(session, name="alice", amount_micros=-2 * YUAN, note="refund")
        assert (after.balance_micros, after.held_micros) == (8 * YUAN, 8 * YUAN)
    with pytest.raises(InvalidRequest, match=r"below what is held .*balance 8.00, held 8.00"):
        async with db.session() as session, session.begin():
            await users_service.add_credits(session, name="alice", amount_micros=-1)
    with pytest.raises(InvalidRequest, match="the amount is 0"):
        async with db.session() as session, session.begin():
            await users_service.add_credits(session, name="alice", amount_micros=0)
    with pytest.raises(NotFound, match="no user named 'bob'"):
        async with db.session() as session, session.begin():
            await users_service.add_credits(session, name="bob", amount_micros=YUAN)
    async with db.session() as session:
        [top_up, *_] = await ledger.recent_entries(session, user_id=user_id)
        assert (top_up.amount_micros, top_up.balance_after_micros, top_up.note) == (-2 * YUAN, 8 * YUAN, "refund")


async def test_a_key_is_kept_as_its_hash_and_authenticates_until_revoked(db: Database) -> None:
    user_id = await make_user(db)
    async with db.session() as session, session.begin():
        key, secret = await keys_service.create_key(session, user_id=user_id, name="laptop")
    assert secret.startswith("sk-")
    assert len(secret) > 40
    assert key.key_hash == hashlib.sha256(secret.encode()).hexdigest() == keys_service.hash_key(secret)
    assert key.key_prefix == secret[:8] + "…"
    async with db.read() as connection:
        principal = await keys_service.principal_for(connection, keys_service.hash_key(secret))
        assert principal == keys_service.Principal(user_id=user_id, user_name="alice", key_id=key.id)
        assert await keys_service.principal_for(connection, keys_service.hash_key(secret + "x")) is None

    async with db.session() as session, session.begin():
        revoked = await keys_service.revoke_key(session, key_id=key.id)
        assert revoked is not None
        first_revocation = revoked.revoked_at
        assert first_revocation is not None
    async with db.session() as session, session.begin():
        again = await keys_service.revoke_key(session, key_id=key.id)
        assert again is not None
        assert again.revoked_at == first_revocation
        assert await keys_service.revoke_key(session, key_id=key.id + 100) is None
    async with db.read() as connection:
        assert await keys_service.principal_for(connection, key.key_hash) is None


async def test_keys_are_listed_with_their_owners(db: Database) -> None:
    alice, bob = await make_user(db, "alice"), await make_user(db, "bob")
    async with db.session() as session, session.begin():
        first, _ = await keys_service.create_key(session, user_id=alice, name="one")
        await keys_service.create_key(session, user_id=bob, name="two")
    async with db.session() as session:
        every = await keys_service.list_keys(session)
        assert [(key.name, owner) for key, owner in every] == [("one", "alice"), ("two", "bob")]
        assert [owner for _, owner in await keys_service.list_keys(session, user_id=bob)] == ["bob"]
        found = await keys_service.find_key(session, key_id=first.id)
        assert found is not None
        assert found[1] == "alice"
        assert await keys_service.find_key(session, key_id=first.id + 100) is None


async def add(session: AsyncSession, name: str = "main", **values: Any) -> None:
    options = {"base_url": "https://api-beijing.klingai.com", "access_key": "AK", "secret_key": "SK"} | values
    await channels_service.add_channel(session, name=name, **options)


async def test_channels_are_added_listed_by_priority_and_switched(db: Database) -> None:
    async with db.session() as session, session.begin():
        await add(session, "main", base_url="https://api-beijing.klingai.com/")
        await add(session, "spare", priority=5, weight=3, video_concurrency=2)
    async with db.session() as session, session.begin():
        spare, main = await channels_service.list_channels(session)
        assert (spare.name, spare.priority, spare.weight, spare.video_concurrency) == ("spare", 5, 3, 2)
        assert main.base_url == "https://api-beijing.klingai.com"
        assert (main.video_concurrency, main.image_concurrency, main.try_on_concurrency) == (5, 10, 5)
        assert main.enabled
        disabled = await channels_service.set_channel_enabled(session, name="main", enabled=False)
        assert disabled is not None
        assert await channels_service.set_channel_enabled(session, name="nope", enabled=False) is None
    async with db.session() as session:
        assert [c.enabled for c in await channels_service.list_channels(session)] == [True, False]


@pytest.mark.parametrize(
    ("values", "complaint"),
    [
        ({"base_url": "ftp://kling.example"}, "must be http:// or https:// with a host"),
        ({"base_url": "https://"}, "with a host"),
        ({"base_url": "api-beijing.klingai.com"}, "with a host"),
        ({"base_url": "https://kling.example?region=cn"}, "no query"),
        ({"base_url": "https://kling.example:99999"}, "invalid port"),
        ({"weight": 0}, "weight is 0; it must be 1 or more"),
        ({"image_concurrency": 0}, "image concurrency is 0"),
        ({"access_key": ""}, "access key"),
        ({"secret_key": ""}, "secret key"),
        ({"name": "main"}, "a channel named 'main' already exists"),
    ],
)
async def test_bad_channel_values_are_refused(db: Database, values: dict[str, Any], complaint: str) -> None:
    async with db.session() as session, session.begin():
        await add(session, "main")
    with pytest.raises(InvalidRequest, match=complaint):
        async with db.session() as session, session.begin():
            await add(session, **({"name": "other"} | values))
    async with db.session() as session:
        assert [channel.name for channel in await channels_service.list_channels(session)] == ["main"]


async def test_an_update_changes_only_what_it_names_checked_as_an_add_is(db: Database) -> None:
    async with db.session() as session, session.begin():
        await add(session, "main", weight=3)
    async with db.session() as session, session.begin():
        changes: channels_service.ChannelChanges = {"base_url": "https://kling.example/", "video_concurrency": 2}
        updated = await channels_service.update_channel(session, name="main", changes=changes)
        assert updated is not None
        assert (updated.base_url, updated.video_concurrency, updated.weight) == ("https://kling.example", 2, 3)
        assert await channels_service.update_channel(session, name="nope", changes={"priority": 1}) is None
    for bad, complaint in (({"weight": 0}, "weight is 0"), ({"base_url": "kling.example"}, "with a host")):
        with pytest.raises(InvalidRequest, match=complaint):
            async with db.session() as session, session.begin():
                await channels_service.update_channel(session, name="main", changes=bad)  # type: ignore[arg-type]


async def stored_task(db: Database, user_id: int, **fields: Any) -> int:
    """Store a task of a user with these columns; return its row id."""
    async with db.session() as session, session.begin():
        draft = task_draft(platform_id=new_platform_id(Family.VIDEOS), user_id=user_id, created_at=now_ms())
        task = await repository.insert(session, draft)
        if fields:
            await session.execute(TASKS.update().where(TASKS.c.id == task.id).values(**fields))
        return task.id


async def main_channel(db: Database) -> int:
    async with db.session() as session, session.begin():
        await add(session, "main")
        channel = await channels_service.find_channel(session, "main")
        assert channel is not None
        return channel.id


async def test_a_channel_a_waiting_task_needs_is_not_removed(db: Database) -> None:
    user_id, channel_id = await make_user(db), await main_channel(db)
    await stored_task(db, user_id, required_channel_id=channel_id)  # queued, and only this channel may take it
    with pytest.raises(InvalidRequest, match=r"still has 1 unfinished tasks \(1 queued\)"):
        async with db.session() as session, session.begin():
            await channels_service.remove_channel(session, name="main", now_ms=now_ms())
    async with db.session() as session:
        assert [channel.name for channel in await channels_service.list_channels(session)] == ["main"]


async def test_a_task_cannot_be_claimed_for_a_channel_removed_meanwhile(db: Database) -> None:
    user_id, channel_id = await make_user(db), await main_channel(db)
    await stored_task(db, user_id, channel_id=channel_id, status="succeed")  # so the channel is kept, retired
    waiting = await stored_task(db, user_id)

    async def claim() -> bool:
        async with db.session() as session, session.begin():
            moment = now_ms()
            return await repository.claim_send(
                session, task_id=waiting, channel_id=channel_id, now_ms=moment, lease_until=moment + 60_000
            )

    async with db.session() as removing, removing.begin():
        removal = await channels_service.remove_channel(removing, name="main", now_ms=now_ms())
        assert removal is not None
        assert not removal.deleted
        claiming = asyncio.create_task(claim())  # chose the channel before it was removed: it waits for the removal
        await asyncio.sleep(0.2)
    assert await claiming is False
    async with db.session() as session:
        [task] = await session.execute(select(TASKS.c.channel_id, TASKS.c.send_attempts).where(TASKS.c.id == waiting))
        assert tuple(task) == (None, 0)
        assert await channels_service.find_channel(session, "main") is None
        retired = await channels_service.find_channel(session, "main", removed_too=True)
        assert retired is not None
        assert (retired.enabled, retired.secret_key, retired.access_key) == (False, None, "AK")


async def test_a_disabled_user_is_refused_new_work_and_told_why_by_the_key_lookup(db: Database) -> None:
    user_id = await make_user(db, video_rate_micros=800_000)
    async with db.session() as session, session.begin():
        _, secret = await keys_service.create_key(session, user_id=user_id)
        user, changed = await users_service.set_disabled(session, name="alice", disabled=True, now_ms=1234)
        assert (changed, user.disabled_at) == (True, 1234)
        again, changed = await users_service.set_disabled(session, name="alice", disabled=True, now_ms=9999)
        assert (changed, again.disabled_at) == (False, 1234)
    async with db.read() as connection:
        principal = await keys_service.principal_for(connection, keys_service.hash_key(secret))
        assert principal is not None
        assert principal.user_disabled
    with pytest.raises(Unauthenticated, match="the user 'alice' is disabled; ask the operator"):
        async with db.session() as session, session.begin():
            await users_service.rates_for_new_task(session, user_id=user_id, settings=Settings())
    async with db.session() as session, session.begin():
        await users_service.set_disabled(session, name="alice", disabled=False, now_ms=5678)
        rates = await users_service.rates_for_new_task(session, user_id=user_id, settings=Settings())
        assert rates.video_micros == 800_000
        updated = await users_service.update_user(
            session, name="alice", changes={"video_rate_micros": None, "note": "back"}
        )
        assert (updated.video_rate_micros, updated.note, updated.disabled_at) == (None, "back", None)
