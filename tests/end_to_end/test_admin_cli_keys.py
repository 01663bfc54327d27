"""The `keys` commands for a key's webhook secret and limits, as an operator runs them, on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import json
import re

from sqlalchemy.ext.asyncio import AsyncSession

from kling_gateway.keys import service as keys_service
from tests.end_to_end.test_admin_cli import admin, admin_json, in_database

WHSEC = r"whsec_[A-Za-z0-9+/]{43}="  # the Base64 of 32 bytes


def stored_webhook_secrets(url: str) -> list[str | None]:
    async def look(session: AsyncSession) -> list[str | None]:
        return [key.webhook_secret for key, _ in await keys_service.list_keys(session)]

    return in_database(url, look)


def test_a_webhook_secret_is_shown_at_creation_and_rotation_only(database_url: str) -> None:
    url = database_url
    admin(url, "users", "create", "alice")
    created = admin_json(url, "keys", "create", "--user", "alice")
    assert re.fullmatch(WHSEC, created["webhook_secret"])
    assert len(base64.b64decode(created["webhook_secret"].removeprefix("whsec_"))) == 32
    text = admin(url, "keys", "create", "--user", "alice").stdout
    [shown] = re.findall(r"^webhook secret +(\S+)$", text, re.MULTILINE)
    assert re.fullmatch(WHSEC, shown)
    assert "store the API key, the secret key and the webhook secret now" in " ".join(text.split())
    assert stored_webhook_secrets(url) == [created["webhook_secret"], shown]

    first = str(created["key"]["id"])
    rotated = admin_json(url, "keys", "rotate-webhook-secret", first)
    assert re.fullmatch(WHSEC, rotated["webhook_secret"])
    assert rotated["webhook_secret"] != created["webhook_secret"]
    assert rotated["key"]["webhook_secret_set"] is True
    rotated_text = admin(url, "keys", "rotate-webhook-secret", first).stdout
    [rotated_again] = re.findall(r"^webhook secret +(\S+)$", rotated_text, re.MULTILINE)
    assert "only time the new webhook secret is shown" in " ".join(rotated_text.split())
    assert stored_webhook_secrets(url) == [rotated_again, shown]

    quiet = [
        admin(url, "keys", "list").stdout,
        json.dumps(admin_json(url, "keys", "list")),
        admin(url, "keys", "update", first, "--rps", "3").stdout,
        json.dumps(admin_json(url, "keys", "update", first, "--dialect", "task")),
        json.dumps(admin_json(url, "keys", "revoke", first)),
    ]
    for output in quiet:
        assert "whsec_" not in output
    assert "webhook_secret" not in admin_json(url, "keys", "list")["keys"][0]


def test_limits_are_set_listed_and_cleared_back_to_the_default(database_url: str) -> None:
    url = database_url
    admin(url, "users", "create", "alice")
    created = admin_json(url, "keys", "create", "--user", "alice", "--rps", "2.5", "--max-in-flight", "3")["key"]
    assert (created["rate_limit_rps"], created["rate_limit_rps_source"]) == (2.5, "key")
    assert (created["max_in_flight"], created["max_in_flight_source"]) == (3, "key")
    text = admin(url, "keys", "create", "--user", "alice", "--max-in-flight", "7").stdout
    assert "requests per second unlimited (default), tasks in flight 7" in text

    listed = admin_json(url, "keys", "list")["keys"]
    assert [(key["rate_limit_rps"], key["max_in_flight"]) for key in listed] == [(2.5, 3), (None, 7)]
    tables = " ".join(admin(url, "keys", "list").stdout.split())
    assert "Keys with limits of their own" in tables
    assert "│ 2.5 │ 3 │" in tables
    assert "│ unlimited (default) │ 7 │" in tables
    assert "Other keys get the gateway's defaults: requests per second unlimited, tasks in flight unlimited." in tables

    key_id = str(created["id"])
    only_rps = admin_json(url, "keys", "update", key_id, "--rps", "default")["key"]
    assert (only_rps["rate_limit_rps"], only_rps["rate_limit_rps_source"]) == (None, "default")
    assert (only_rps["max_in_flight"], only_rps["max_in_flight_source"]) == (3, "key")
    assert only_rps["dialect"] == "kling"
    said = admin(url, "keys", "update", key_id, "--max-in-flight", "default", "--rps", "0.5").stdout
    assert "requests per second 0.5, tasks in flight unlimited (default)" in said

    async def principal(session: AsyncSession) -> keys_service.Principal | None:
        [(key, _), _] = await keys_service.list_keys(session)
        assert key.access_key is not None
        signing = await keys_service.signing_key_for(await session.connection(), key.access_key)
        assert signing is not None
        return signing.principal

    found = in_database(url, principal)
    assert found is not None
    assert (found.rate_limit_rps, found.max_in_flight) == (0.5, None)


BAD_INPUT = [  # arguments, exit code, what the complaint says
    (["keys", "update", "1"], 2, "nothing to change: give --dialect, --rps or --max-in-flight"),
    (["keys", "update", "1", "--rps", "fast"], 2, "'fast' is not a limit; give requests per second"),
    (["keys", "update", "1", "--max-in-flight", "2.5"], 2, "'2.5' is not a limit; give a whole number"),
    (["keys", "update", "1", "--rps", "0"], 1, "requests per second: 0 is out of range; give a number from 0.001"),
    (["keys", "update", "1", "--max-in-flight", "0"], 1, "tasks in flight: 0 is out of range; give 1 or more"),
    (["keys", "create", "--user", "alice", "--rps", "inf"], 1, "requests per second: inf is out of range"),
    (["keys", "update", "99", "--rps", "2"], 1, "there is no key with id 99"),
    (["keys", "rotate-webhook-secret", "99"], 1, "there is no key with id 99"),
]


def test_bad_limits_are_refused_with_a_reason_and_change_nothing(database_url: str) -> None:
    url = database_url
    admin(url, "users", "create", "alice")
    admin(url, "keys", "create", "--user", "alice", "--rps", "2")
    before = admin_json(url, "keys", "list"), stored_webhook_secrets(url)
    for arguments, exit_code, complaint in BAD_INPUT:
        result = admin(url, *arguments, exit_code=exit_code)
        assert complaint in " ".join(result.stderr.replace("│", " ").split()), arguments
        assert result.stdout == "", arguments
    assert (admin_json(url, "keys", "list"), stored_webhook_secrets(url)) == before
