"""`users update`, `users disable` and `users enable` as an operator runs them, on SQLite and PostgreSQL, and what a
disabled user's clients then get from the gateway: 401 in their dialect, nothing stored or held, while the tasks
they already had finish and are billed."""

from __future__ import annotations

import json
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from kling_gateway.cli import app
from kling_gateway.dialects import Dialect
from tests.gateway import GatewayFactory
from tests.helpers import SteppedClock, create, sign_jwt, wait_for, wait_until

pytestmark = pytest.mark.both_backends  # users, keys and the ledger in the store

runner = CliRunner()
T2V = "/kling/v1/videos/text2video"
DISABLED = "the user 'alice' is disabled; ask the operator of this gateway to enable it"


def admin(url: str, *arguments: str, exit_code: int = 0) -> Result:
    result = runner.invoke(app, [*arguments, "--database-url", url])
    assert result.exit_code == exit_code, result.output
    return result


def admin_json(url: str, *arguments: str) -> Any:
    return json.loads(admin(url, *arguments, "--json").stdout)


def test_a_users_prices_and_note_are_changed_and_shown_with_their_state(database_url: str) -> None:
    url = database_url
    admin(url, "users", "create", "alice", "--balance", "10", "--image-credit-yuan", "0.02")
    user = admin_json(url, "users", "update", "alice", "--video-credit-yuan", "0.8", "--note", "pays by invoice")[
        "user"
    ]
    assert (user["video_credit_yuan"], user["video_credit_source"], user["note"]) == ("0.80", "user", "pays by invoice")
    user = admin_json(url, "users", "update", "alice", "--image-credit-yuan", "default", "--audio-credit-yuan", "0.3")[
        "user"
    ]
    assert (user["image_credit_yuan"], user["image_credit_source"]) == ("0.025", "default")
    assert (user["audio_credit_yuan"], user["video_credit_yuan"], user["balance"]) == ("0.30", "0.80", "10.00")
    assert admin_json(url, "users", "update", "alice", "--note", "")["user"]["note"] == ""
    assert (user["status"], user["disabled_at"]) == ("active", None)

    disabled = admin_json(url, "users", "disable", "alice")
    assert (disabled["changed"], disabled["unfinished"], disabled["user"]["status"]) == (True, 0, "disabled")
    since = disabled["user"]["disabled_at"]
    again = admin_json(url, "users", "disable", "alice")
    assert (again["changed"], again["user"]["disabled_at"]) == (False, since)  # the first time is kept
    assert "was already disabled" in admin(url, "users", "disable", "alice").stdout
    assert [(u["name"], u["status"]) for u in admin_json(url, "users", "list")["users"]] == [("alice", "disabled")]
    assert "disabled" in admin(url, "users", "list").stdout
    enabled = admin_json(url, "users", "enable", "alice")
    assert (enabled["changed"], enabled["user"]["status"], enabled["user"]["disabled_at"]) == (True, "active", None)
    assert "was not disabled" in admin(url, "users", "enable", "alice").stdout


@pytest.mark.parametrize(
    ("arguments", "exit_code", "complaint"),
    [
        (["users", "update", "bob", "--note", "x"], 1, "there is no user named 'bob'"),
        (["users", "update", "alice"], 2, "nothing to change: give --video-credit-yuan"),
        (["users", "update", "alice", "--video-credit-yuan", "-1"], 1, "video credit price is -1.00 yuan"),
        (["users", "update", "alice", "--image-credit-yuan", "cheap"], 2, "or give `default`"),
        (["users", "update", "alice", "--note", " padded"], 1, "no spaces at either end"),
        (["users", "update", "alice", "--note", "x" * 1001], 1, "up to 1000 printable characters"),
        (["users", "disable", "bob"], 1, "there is no user named 'bob'"),
        (["users", "enable", "bob"], 1, "there is no user named 'bob'"),
    ],
)
def test_a_bad_user_change_is_refused_saying_why_and_changes_nothing(
    database_url: str, arguments: list[str], exit_code: int, complaint: str
) -> None:
    admin(database_url, "users", "create", "alice", "--balance", "1")
    before = admin_json(database_url, "users", "show", "alice")
    result = admin(database_url, *arguments, exit_code=exit_code)
    assert complaint in " ".join(result.stderr.replace("│", " ").split())
    assert result.stdout == ""
    assert admin_json(database_url, "users", "show", "alice") == before


def refusal(answer: Any, dialect: str) -> str:
    """Check that an answer is a 401 in a dialect's error shape; return its message."""
    assert answer.status_code == 401, answer.text
    body = answer.json()
    if dialect == "kling":
        assert body["code"] == 1000
        return str(body["message"])
    if dialect == "task":
        assert (body["code"], body["data"]) == ("invalid_api_key", None)
        return str(body["message"])
    assert body["error"]["type"] == "authentication_error"
    return str(body["error"]["message"])


def test_a_disabled_users_keys_are_refused_in_their_dialect_and_their_task_in_flight_is_billed(
    gateway_factory: GatewayFactory,
) -> None:
    clock = SteppedClock()  # the upstream's time: the task stays in flight until the test moves it
    gw = gateway_factory(sandbox={"clock": clock}, key_cache_ttl_s=0)
    url = gw.admin.database_url
    video_key = gw.admin.key("alice", Dialect.VIDEO)
    signed = sign_jwt(video_key)
    with gw.client() as alice, gw.http({"Authorization": f"Bearer {video_key.secret}"}) as by_video, gw.http(
        {"Authorization": f"Bearer {signed}"}
    ) as by_token:  # fmt: skip
        in_flight = create(alice, T2V, {"prompt": "a fox"})["platform_id"]
        held = gw.admin.money("alice")
        stored = gw.admin.task_count()

        disabled = admin(url, "users", "disable", "alice").stdout
        assert "Their 1 unfinished tasks (1 submitted) finish and are billed as usual." in disabled

        assert refusal(alice.get(f"{T2V}/{in_flight}"), "kling") == DISABLED
        assert refusal(alice.get(T2V, headers={"X-Response-Format": "task"}), "task") == DISABLED
        assert refusal(by_video.get(f"{T2V}/{in_flight}"), "video") == DISABLED  # the key's own default dialect
        assert refusal(by_token.get(f"{T2V}/{in_flight}"), "video") == DISABLED  # its JWT too
        assert refusal(alice.get("/kling/tasks", params={"task_ids": in_flight}), "kling") == DISABLED
        assert refusal(alice.get("/v1/videos"), "video") == DISABLED  # the OpenAI shape
        assert refusal(alice.post(T2V, json={"prompt": "a hen"}), "kling") == DISABLED
        assert refusal(by_token.post(T2V, json={"prompt": "a hen"}), "video") == DISABLED
        assert (gw.admin.task_count(), gw.admin.money("alice")) == (stored, held)
        with gw.client("bob") as bob:
            assert bob.get(T2V).status_code == 200  # other users are not touched

        [upstream] = gw.sandbox.state.tasks.all_tasks()
        clock.move_to(upstream.timeline.finished_ms)
        wait_for(lambda: "charge" in gw.admin.ledger(in_flight), "the disabled user's task to be billed")
        assert gw.admin.ledger(in_flight) == {"hold": 1_000_000, "release": -1_000_000, "charge": -1_000_000}
        assert gw.admin.money("alice") == (999_000_000, 0)

        admin(url, "users", "enable", "alice")
        assert wait_until(alice, f"{T2V}/{in_flight}")["task_status"] == "succeed"
        assert by_token.get(f"{T2V}/{in_flight}").status_code == 200


def test_a_disabled_users_submit_is_refused_before_anything_is_held_while_their_key_is_still_cached(
    gateway_factory: GatewayFactory,
) -> None:
    gw = gateway_factory(key_cache_ttl_s=3600)  # the key stays cached after the change: the submit checks the user
    with gw.client() as alice:
        assert alice.get(T2V).status_code == 200  # the key is now cached
        admin(gw.admin.database_url, "users", "disable", "alice")
        before = (gw.admin.task_count(), gw.admin.money("alice"), gw.admin.entry_kinds("alice"))
        assert alice.get(T2V).status_code == 200  # a query within the cache's TTL still answers
        assert refusal(alice.post(T2V, json={"prompt": "a fox"}), "kling") == DISABLED
        tts = {"text": "hello there", "voice_id": "oversea_male1", "voice_language": "en"}
        assert refusal(alice.post("/v1/audio/tts", json=tts), "kling") == DISABLED  # a billed call, too
        assert (gw.admin.task_count(), gw.admin.money("alice"), gw.admin.entry_kinds("alice")) == before
        assert gw.sandbox.state.tasks.all_tasks() == []
