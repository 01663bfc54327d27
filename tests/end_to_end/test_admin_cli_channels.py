"""`channels update` of every setting and `channels remove` as an operator runs them, on SQLite and PostgreSQL: the
checks of `channels add`, a removal refused while tasks are unfinished, and a removed channel's tasks and money
kept."""

from __future__ import annotations

import json
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from kling_gateway.channels import admin as channels_service
from kling_gateway.cli import app
from tests.end_to_end.test_admin_cli import CHANNEL, in_database
from tests.gateway import GatewayFactory
from tests.helpers import SteppedClock, create, error_of, wait_until

pytestmark = pytest.mark.both_backends  # channels and their tasks in the store

runner = CliRunner()
T2V = "/kling/v1/videos/text2video"
WHSEC = "whsec_dGhlLWFjY291bnQncy13ZWJob29rLXNlY3JldA=="


def admin(url: str, *arguments: str, exit_code: int = 0) -> Result:
    result = runner.invoke(app, [*arguments, "--database-url", url])
    assert result.exit_code == exit_code, result.output
    return result


def admin_json(url: str, *arguments: str) -> Any:
    return json.loads(admin(url, *arguments, "--json").stdout)


def test_every_setting_of_a_channel_is_updated(database_url: str) -> None:
    url = database_url
    admin(url, "channels", "add", "main", *CHANNEL)
    changed = admin_json(
        url, "channels", "update", "main", "--base-url", "https://api-singapore.klingai.com/", "--priority", "3",
        "--weight", "2", "--video-concurrency", "7", "--image-concurrency", "8", "--try-on-concurrency", "9",
    )["channel"]  # fmt: skip
    settings = ("base_url", "priority", "weight", "video_concurrency", "image_concurrency", "try_on_concurrency")
    assert [changed[field] for field in settings] == ["https://api-singapore.klingai.com", 3, 2, 7, 8, 9]
    assert (changed["credentials"], changed["enabled"]) == ("key pair", True)  # the rest as it was
    said = admin(url, "channels", "update", "main", "--priority", "-1", "--weight", "4").stdout
    assert "Channel main now has priority -1, weight 4." in said

    both = admin_json(url, "channels", "update", "main", "--api-key", "KEY-hidden", "--webhook-secret", WHSEC)
    assert (both["channel"]["credentials"], both["channel"]["webhook_secret_set"]) == ("API key + key pair", True)
    unsigned = admin_json(url, "channels", "update", "main", "--no-webhook-secret")["channel"]
    assert unsigned["webhook_secret_set"] is False
    [stored] = in_database(url, channels_service.list_channels)
    assert (stored.base_url, stored.priority, stored.weight, stored.api_key, stored.webhook_secret) == (
        "https://api-singapore.klingai.com",
        -1,
        4,
        "KEY-hidden",
        None,
    )


@pytest.mark.parametrize(
    ("arguments", "exit_code", "complaint"),
    [  # the same checks, and the same words, as `channels add`
        (["--weight", "0"], 1, "the weight is 0; it must be 1 or more"),
        (["--video-concurrency", "0"], 1, "the video concurrency is 0; it must be 1 or more"),
        (["--image-concurrency", "-2"], 1, "the image concurrency is -2; it must be 1 or more"),
        (["--try-on-concurrency", "0"], 1, "the try-on concurrency is 0; it must be 1 or more"),
        (["--base-url", "ftp://kling.example"], 1, "must be http:// or https:// with a host"),
        (["--base-url", "https://kling.example:99999"], 1, "has an invalid port"),
        (["--webhook-secret", "plain"], 1, "does not start with whsec_"),
        (["--priority", "2", "--weight", "0"], 1, "the weight is 0"),  # nothing of a refused update is kept
        (["--weight", "2", "--no-key-pair"], 1, "a channel needs credentials"),
        (["--webhook-secret", WHSEC, "--no-webhook-secret"], 2, "give exactly one of --webhook-secret"),
        (["--priority", "many"], 2, "--priority"),
        ([], 2, "nothing to update: give --base-url, --priority, --weight"),
    ],
)
def test_a_bad_channel_update_is_refused_as_add_refuses_it_and_changes_nothing(
    database_url: str, arguments: list[str], exit_code: int, complaint: str
) -> None:
    admin(database_url, "channels", "add", "main", *CHANNEL)
    before = admin_json(database_url, "channels", "list")
    result = admin(database_url, "channels", "update", "main", *arguments, exit_code=exit_code)
    assert complaint in " ".join(result.stderr.replace("│", " ").split())
    assert result.stdout == ""
    assert admin_json(database_url, "channels", "list") == before


def test_a_channel_is_removed_once_its_tasks_have_finished_and_they_keep_it(gateway_factory: GatewayFactory) -> None:
    clock = SteppedClock()  # the upstream's time: the task stays in flight until the test moves it
    gw = gateway_factory(sandbox={"clock": clock})
    url = gw.admin.database_url
    with gw.client() as alice:
        task = create(alice, T2V, {"prompt": "a fox"})["platform_id"]
        admin(url, "channels", "add", "spare", *CHANNEL)  # added after: nothing refers to it
        refused = admin(url, "channels", "remove", "sandbox-1", exit_code=1).stderr
        assert "channel 'sandbox-1' still has 1 unfinished tasks (1 submitted)" in " ".join(refused.split())
        assert [c["name"] for c in admin_json(url, "channels", "list")["channels"]] == ["sandbox-1", "spare"]

        spare = admin_json(url, "channels", "remove", "spare")
        assert (spare["deleted"], spare["channel"]["name"]) == (True, "spare")
        assert [c["name"] for c in admin_json(url, "channels", "list", "--removed")["channels"]] == ["sandbox-1"]

        [upstream] = gw.sandbox.state.tasks.all_tasks()
        clock.move_to(upstream.timeline.finished_ms)
        video_id = wait_until(alice, f"{T2V}/{task}")["task_result"]["videos"][0]["id"]
        money = gw.admin.money("alice")

        removed = admin_json(url, "channels", "remove", "sandbox-1")
        assert (removed["deleted"], removed["channel"]["enabled"], removed["channel"]["credentials"]) == (
            False,
            False,
            "none",
        )
        assert admin_json(url, "channels", "list")["channels"] == []
        [kept] = admin_json(url, "channels", "list", "--removed")["channels"]
        assert (kept["name"], kept["removed_at"]) == ("sandbox-1", removed["channel"]["removed_at"])
        state = gw.admin.channel_state("sandbox-1")
        assert (state.secret_key, state.api_key, state.webhook_secret) == (None, None, None)  # secrets wiped

        # Its task keeps its channel, its money and its answers.
        shown = admin_json(url, "tasks", "show", task)
        assert (shown["task"]["channel"], shown["task"]["charged"]) == ("sandbox-1 (removed)", "1.00")
        assert [entry["kind"] for entry in shown["ledger"]] == ["hold", "release", "charge"]
        assert [line["task"] for line in admin_json(url, "tasks", "list", "--channel", "sandbox-1")["tasks"]] == [task]
        assert wait_until(alice, f"{T2V}/{task}")["task_status"] == "succeed"
        assert gw.admin.money("alice") == money

        # A video made there cannot be worked on any more, and a new task finds no channel: nothing is held.
        extend = alice.post("/kling/v1/videos/video-extend", json={"video_id": video_id})
        assert error_of(extend)[:2] == (400, 1201)
        assert "channel 'sandbox-1', which was removed from this gateway" in error_of(extend)[2]
        fresh = alice.post(T2V, json={"prompt": "a hen"})
        assert "no upstream channel is configured" in fresh.text
        assert gw.admin.money("alice") == money

    for command, complaint in (
        (["channels", "add", "sandbox-1", *CHANNEL], "a removed channel named 'sandbox-1' keeps its name"),
        (["channels", "update", "sandbox-1", "--priority", "1"], "there is no channel named 'sandbox-1'"),
        (["channels", "enable", "sandbox-1"], "there is no channel named 'sandbox-1'"),
        (["channels", "remove", "sandbox-1"], "there is no channel named 'sandbox-1'"),
    ):
        assert complaint in admin(url, *command, exit_code=1).stderr
