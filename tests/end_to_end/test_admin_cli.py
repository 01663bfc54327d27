"""The admin command line as an operator runs it, on SQLite and PostgreSQL, checked against what it stored."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest
from sqlalchemy.ext.asyncio import AsyncSession
from typer.testing import CliRunner, Result

from kling_gateway.billing import ledger
from kling_gateway.channels import admin as channels_service
from kling_gateway.cli import app
from kling_gateway.keys import service as keys_service
from kling_gateway.store.database import Database
from kling_gateway.users import service as users_service

T = TypeVar("T")
runner = CliRunner()
CHANNEL = ["--base-url", "https://api-beijing.klingai.com/", "--access-key", "AK-main", "--secret-key", "SK-hidden"]


def admin(url: str, *arguments: str, exit_code: int = 0) -> Result:
    """Run an admin command on the database at `url` and check how it exited."""
    result = runner.invoke(app, [*arguments, "--database-url", url])
    assert result.exit_code == exit_code, result.output
    return result


def admin_json(url: str, *arguments: str) -> Any:
    """Run an admin command with --json and read its one document."""
    return json.loads(admin(url, *arguments, "--json").stdout)


def in_database(url: str, query: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Look at the database through the services, outside the command line."""

    async def look() -> T:
        db = Database(url)
        try:
            async with db.session() as session:
                return await query(session)
        finally:
            await db.dispose()

    return asyncio.run(look())


@pytest.mark.both_backends  # the ledger: the store matters
def test_users_and_credits_keep_the_ledger_balanced(database_url: str) -> None:
    url = database_url
    created = admin_json(
        url, "users", "create", "alice", "--balance", "10", "--video-credit-yuan", "0.8", "--audio-credit-yuan", "0.3"
    )["user"]
    assert (created["balance"], created["video_credit_yuan"], created["video_credit_source"]) == (
        "10.00",
        "0.80",
        "user",
    )
    assert (created["image_credit_yuan"], created["image_credit_source"]) == ("0.025", "default")
    assert (created["audio_credit_yuan"], created["audio_credit_source"]) == ("0.30", "user")
    assert admin_json(url, "credits", "add", "alice", "5.5", "--note", "gift")["balance"] == "15.50"
    assert admin_json(url, "credits", "add", "alice", "-3")["available"] == "12.50"

    shown = admin_json(url, "users", "show", "alice")
    assert shown["user"]["balance"] == "12.50"
    assert shown["keys"] == {"active": 0, "total": 0}
    assert [(e["kind"], e["amount"], e["balance_after"], e["note"]) for e in shown["ledger"]] == [
        ("top_up", "-3.00", "12.50", ""),
        ("top_up", "5.50", "15.50", "gift"),
        ("top_up", "10.00", "10.00", "initial balance"),
    ]
    assert isinstance(shown["ledger"][0]["created_at"], int)
    assert [user["name"] for user in admin_json(url, "users", "list")["users"]] == ["alice"]
    text = admin(url, "users", "show", "alice").stdout
    assert "12.50" in text
    assert "initial balance" in text
    assert re.search(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", text)

    async def money(session: AsyncSession) -> tuple[int, int]:
        user = await users_service.require_user(session, "alice")
        entries = await ledger.recent_entries(session, user_id=user.id)
        return user.balance_micros, sum(entry.amount_micros for entry in entries)

    assert in_database(url, money) == (12_500_000, 12_500_000)


def test_a_key_is_shown_once_and_only_its_hash_is_stored(database_url: str) -> None:
    url = database_url
    admin(url, "users", "create", "alice")
    text = admin(url, "keys", "create", "--user", "alice", "--name", "laptop").stdout
    assert "only time the key is shown" in text
    [secret] = re.findall(r"sk-[\w-]{43}", text)
    listed = admin_json(url, "keys", "list", "--user", "alice")["keys"]
    assert [(key["user"], key["name"], key["prefix"], key["status"]) for key in listed] == [
        ("alice", "laptop", secret[:8] + "…", "active")
    ]
    assert secret not in admin(url, "keys", "list").stdout

    [(key, _)] = in_database(url, keys_service.list_keys)
    assert key.key_hash == keys_service.hash_key(secret)
    assert secret not in (key.key_hash, key.key_prefix, key.name)

    assert admin_json(url, "keys", "revoke", str(key.id))["already_revoked"] is False
    again = admin_json(url, "keys", "revoke", str(key.id))
    assert (again["already_revoked"], again["key"]["status"]) == (True, "revoked")
    assert "already revoked" in admin(url, "keys", "revoke", str(key.id)).stdout

    async def principal(session: AsyncSession) -> keys_service.Principal | None:
        return await keys_service.principal_for(await session.connection(), keys_service.hash_key(secret))

    assert in_database(url, principal) is None
    assert admin_json(url, "users", "show", "alice")["keys"] == {"active": 0, "total": 1}


def test_a_key_comes_with_a_signing_pair_and_a_default_dialect(database_url: str) -> None:
    url = database_url
    admin(url, "users", "create", "alice")
    created = admin_json(url, "keys", "create", "--user", "alice", "--dialect", "task")
    assert created["secret"].startswith("sk-")
    assert re.fullmatch(r"ak-[\w-]{22}", created["access_key"])
    assert re.fullmatch(r"[\w-]{43}", created["secret_key"])
    assert created["dialect"] == "task"
    assert (created["key"]["access_key"], created["key"]["dialect"]) == (created["access_key"], "task")
    assert "secret_key" not in created["key"]

    text = admin(url, "keys", "create", "--user", "alice").stdout
    [secret] = re.findall(r"sk-[\w-]{43}", text)
    [access_key] = re.findall(r"ak-[\w-]{22}", text)
    [secret_key] = re.findall(r"secret key +([\w-]{43})", text)
    assert "kling (default)" in text
    assert "only time the key is shown" in text

    listed = admin_json(url, "keys", "list")["keys"]
    assert [(key["access_key"], key["dialect"], key["dialect_source"]) for key in listed] == [
        (created["access_key"], "task", "key"),
        (access_key, "kling", "default"),
    ]
    assert all("secret_key" not in key and "secret" not in key for key in listed)
    table = admin(url, "keys", "list").stdout
    assert "(default)" in table  # "kling (default)", folded in a narrow terminal
    for shown_once in (created["secret"], created["secret_key"], secret, secret_key):
        assert shown_once not in table
        assert shown_once not in json.dumps(listed)

    first = created["key"]["id"]
    updated = admin_json(url, "keys", "update", str(first), "--dialect", "video")["key"]
    assert (updated["id"], updated["dialect"], updated["dialect_source"]) == (first, "video", "key")
    assert "kling dialect" in admin(url, "keys", "update", str(first), "--dialect", "kling").stdout
    assert [key["dialect"] for key in admin_json(url, "keys", "list")["keys"]] == ["kling", "kling"]

    async def signing_keys(session: AsyncSession) -> list[tuple[str | None, str | None]]:
        return [(key.access_key, key.secret_key) for key, _ in await keys_service.list_keys(session)]

    assert in_database(url, signing_keys) == [(created["access_key"], created["secret_key"]), (access_key, secret_key)]

    revoked = admin_json(url, "keys", "revoke", str(first))["key"]
    assert (revoked["status"], revoked["access_key"]) == ("revoked", created["access_key"])

    async def signer(session: AsyncSession) -> keys_service.SigningKey | None:
        return await keys_service.signing_key_for(await session.connection(), created["access_key"])

    found = in_database(url, signer)
    assert found is not None
    assert found.revoked


def test_channels_are_listed_and_switched_without_ever_showing_the_secret_key(database_url: str) -> None:
    url = database_url
    added = admin(url, "channels", "add", "main", *CHANNEL, "--priority", "2", "--video-concurrency", "3")
    assert "SK-hidden" not in added.output
    listed = admin_json(url, "channels", "list")["channels"]
    assert [(c["name"], c["base_url"], c["priority"], c["video_concurrency"], c["enabled"]) for c in listed] == [
        ("main", "https://api-beijing.klingai.com", 2, 3, True)
    ]
    assert "secret_key" not in listed[0]
    assert "SK-hidden" not in admin(url, "channels", "list").output

    assert admin_json(url, "channels", "disable", "main")["channel"]["enabled"] is False
    [channel] = in_database(url, channels_service.list_channels)
    assert (channel.enabled, channel.secret_key) == (False, "SK-hidden")
    assert "enabled" in admin(url, "channels", "enable", "main").stdout
    assert [c.enabled for c in in_database(url, channels_service.list_channels)] == [True]


def test_a_channel_holds_an_api_key_a_key_pair_or_both_and_never_shows_them(database_url: str) -> None:
    url = database_url
    base = ["--base-url", "https://api-singapore.klingai.com"]
    admin(url, "channels", "add", "keyed", *base, "--api-key", "KEY-hidden")
    admin(
        url,
        "channels",
        "add",
        "both",
        *base,
        "--access-key",
        "AK-both",
        "--secret-key",
        "SK-hidden",
        "--api-key",
        "KEY2-hidden",
    )
    admin(url, "channels", "add", "paired", *CHANNEL)

    async def refuse(session: AsyncSession) -> None:
        [keyed] = [c for c in await channels_service.list_channels(session) if c.name == "keyed"]
        await channels_service.mark_misconfigured(
            session, channel_id=keyed.id, reason="the upstream refused the API key"
        )
        await session.commit()

    in_database(url, refuse)
    listed = {c["name"]: c for c in admin_json(url, "channels", "list")["channels"]}
    assert {name: (c["credentials"], c["misconfigured"]) for name, c in listed.items()} == {
        "keyed": ("API key", "the upstream refused the API key"),
        "both": ("API key + key pair", None),
        "paired": ("key pair", None),
    }
    shown = admin(url, "channels", "list").output + json.dumps(listed)
    assert "-hidden" not in shown
    assert "the upstream refused the API key" in shown

    # New credentials clear the refusal: the next task tries them.
    updated = admin_json(url, "channels", "update", "keyed", "--access-key", "AK-new", "--secret-key", "SK-new")
    assert (updated["channel"]["credentials"], updated["channel"]["misconfigured"]) == ("API key + key pair", None)
    updated = admin_json(url, "channels", "update", "keyed", "--no-api-key")
    assert updated["channel"]["credentials"] == "key pair"
    updated = admin_json(url, "channels", "update", "paired", "--api-key", "KEY3-hidden", "--no-key-pair")
    assert updated["channel"]["credentials"] == "API key"
    stored = {c.name: (c.access_key, c.secret_key, c.api_key) for c in in_database(url, channels_service.list_channels)}
    assert stored == {
        "keyed": ("AK-new", "SK-new", None),
        "both": ("AK-both", "SK-hidden", "KEY2-hidden"),
        "paired": (None, None, "KEY3-hidden"),
    }


async def _everything(session: AsyncSession) -> list[Any]:
    users = await users_service.list_users(session)
    entries = [await ledger.recent_entries(session, user_id=user.id) for user in users]
    channels = await channels_service.list_channels(session)
    keys = await keys_service.list_keys(session)
    return [
        [(user.name, user.balance_micros) for user in users],
        [len(found) for found in entries],
        [(channel.name, channel.enabled, channel.api_key, channel.secret_key) for channel in channels],
        [(key.id, key.revoked_at) for key, _ in keys],
    ]


@pytest.mark.parametrize(
    ("arguments", "exit_code", "complaint"),
    [
        (["users", "create", "alice"], 1, "a user named 'alice' already exists"),
        (["credits", "add", "alice", "-5"], 1, "below what is held"),
        (["credits", "add", "bob", "5"], 1, "there is no user named 'bob'"),
        (["keys", "create", "--user", "bob"], 1, "there is no user named 'bob'"),
        (["keys", "revoke", "99"], 1, "there is no key with id 99"),
        (["keys", "update", "99", "--dialect", "task"], 1, "there is no key with id 99"),
        (["keys", "update", "1", "--dialect", "openai"], 2, "'openai' is not one of 'kling', 'task', 'video'"),
        (["keys", "create", "--user", "alice", "--dialect", "Task"], 2, "is not one of 'kling', 'task', 'video'"),
        (["keys", "update", "1"], 2, "--dialect"),
        (["channels", "add", "main", *CHANNEL], 1, "a channel named 'main' already exists"),
        (["channels", "add", "b", *CHANNEL, "--weight", "0"], 1, "the weight is 0; it must be 1 or more"),
        (["channels", "add", "b", *CHANNEL[2:], "--base-url", "ftp://k.example"], 1, "http:// or https://"),
        (["channels", "disable", "nope"], 1, "there is no channel named 'nope'"),
        (["channels", "add", "b", *CHANNEL[:2]], 1, "a channel needs credentials: --api-key KEY"),
        (["channels", "add", "b", *CHANNEL[:4]], 1, "the access key and the secret key come together"),
        (["channels", "add", "b", *CHANNEL[:2], "--api-key", " K"], 1, "the API key starts or ends with a space"),
        (["channels", "update", "main", "--no-key-pair"], 1, "a channel needs credentials"),
        (["channels", "update", "main", "--secret-key", "S"], 2, "come together"),
        (["channels", "update", "main"], 2, "nothing to update"),
        (["channels", "update", "nope", "--api-key", "K"], 1, "there is no channel named 'nope'"),
        (["users", "create", "bob", "--balance", "ten"], 2, "--balance"),
        (["keys", "create"], 2, "--user"),
    ],
)
def test_bad_input_is_refused_with_a_reason_and_writes_nothing(
    database_url: str, arguments: list[str], exit_code: int, complaint: str
) -> None:
    url = database_url
    admin(url, "users", "create", "alice", "--balance", "1")
    admin(url, "channels", "add", "main", *CHANNEL)
    before = in_database(url, _everything)
    result = admin(url, *arguments, exit_code=exit_code)
    assert complaint in " ".join(result.stderr.replace("│", " ").split())
    assert result.stdout == ""
    assert in_database(url, _everything) == before


def test_an_amount_in_exponent_form_or_out_of_range_is_refused_with_nothing_stored(database_url: str) -> None:
    for amount in ("1e20", "1e3", "2000000000"):
        refused = admin(database_url, "users", "create", "rich", "--balance", amount, exit_code=2)
        assert "amount of yuan" in refused.output or "one amount may be" in refused.output, refused.output
    admin_json(database_url, "users", "create", "rich", "--balance", "900000000")
    for _ in range(3):  # ¥2.7 billion in all: far inside the ceiling, and exact
        admin_json(database_url, "credits", "add", "rich", "900000000")
    assert admin_json(database_url, "users", "show", "rich")["user"]["balance"] == "3600000000.00"
