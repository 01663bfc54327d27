"""`tasks list` and `tasks show` over a gateway's real tasks, on SQLite and PostgreSQL: every user's tasks newest
first in pages, each filter, and one task found by any of its ids with its money, callbacks and sends."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner, Result

from kling_gateway.cli import app
from tests.conftest import CallbackReceiver
from tests.factories import store
from tests.gateway import GatewayFactory, RunningGateway
from tests.helpers import create, wait_for, wait_until

pytestmark = pytest.mark.both_backends  # the listings are the store's queries

runner = CliRunner()
T2V = "/kling/v1/videos/text2video"
DAY_MS = 86_400_000


def tasks(gw: RunningGateway | str, *arguments: str, exit_code: int = 0) -> Result:
    """Run a tasks command on a gateway's database (or the database at a URL) and check how it exited."""
    url = gw if isinstance(gw, str) else gw.admin.database_url
    result = runner.invoke(app, ["tasks", *arguments, "--database-url", url])
    assert result.exit_code == exit_code, result.output
    return result


def listed(gw: RunningGateway, *arguments: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(tasks(gw, "list", *arguments, "--json").stdout)
    return document


def ids(document: dict[str, Any]) -> list[str]:
    return [task["task"] for task in document["tasks"]]


def submitted(gw: RunningGateway, user: str, external_id: str, **body: Any) -> str:
    """Submit a text2video task for a user and wait until it has succeeded; return its platform id."""
    with gw.client(user) as client:
        platform_id: str = create(client, T2V, {"prompt": "a fox", "external_task_id": external_id, **body})[
            "platform_id"
        ]
        assert wait_until(client, f"{T2V}/{platform_id}")["task_status"] == "succeed"
    return platform_id


def test_every_users_tasks_are_listed_newest_first_filtered_and_paged(gateway: RunningGateway) -> None:
    first, second = submitted(gateway, "alice", "a-1"), submitted(gateway, "alice", "a-2")
    bobs = submitted(gateway, "bob", "b-1")
    old = store(gateway, "bob", age_ms=3 * DAY_MS, status="failed", status_msg="refused").platform_id
    newest_first = [old, bobs, second, first]  # by when they were stored: the planted one last

    everything = listed(gateway)
    assert (ids(everything), everything["has_more"], everything["next_before"]) == (newest_first, False, None)
    [line] = [task for task in everything["tasks"] if task["task"] == bobs]
    assert [line[field] for field in ("user", "action", "status", "channel")] == [
        "bob",
        "videos/text2video",
        "succeed",
        "sandbox-1",
    ]
    assert (line["external_task_id"], line["charged"]) == ("b-1", "1.00")

    pages: list[list[str]] = []
    before: list[str] = []
    while True:
        page = listed(gateway, "--limit", "3", *before)
        pages.append(ids(page))
        if not page["has_more"]:
            break
        before = ["--before", page["next_before"]]
    assert pages == [newest_first[:3], newest_first[3:]]

    since = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    assert ids(listed(gateway, "--user", "alice")) == [second, first]
    assert ids(listed(gateway, "--status", "failed")) == [old]
    assert ids(listed(gateway, "--status", "SUCCEED", "--status", "queued")) == [bobs, second, first]
    assert ids(listed(gateway, "--channel", "sandbox-1")) == [bobs, second, first]
    assert ids(listed(gateway, "--since", since)) == [bobs, second, first]
    assert ids(listed(gateway, "--user", "bob", "--since", since)) == [bobs]
    assert ids(listed(gateway, "--user", "bob", "--status", "failed")) == [old]

    text = tasks(gateway, "list", "--limit", "1").stdout
    assert old in text
    assert f"More follow: add --before {old} for the next page." in text


@pytest.mark.parametrize(
    ("arguments", "exit_code", "complaint"),
    [
        (["--user", "carol"], 1, "there is no user named 'carol'"),
        (["--channel", "nope"], 1, "there is no channel named 'nope'"),
        (["--before", "video_01H00000000000000000000000"], 1, "--before: there is no task"),
        (["--status", "done"], 2, "'done' is not one of"),
        (["--since", "yesterday"], 2, "is not an ISO date"),
        (["--limit", "0"], 2, "--limit"),
    ],
)
def test_a_listing_with_a_bad_filter_is_refused_saying_why(
    database_url: str, arguments: list[str], exit_code: int, complaint: str
) -> None:
    result = tasks(database_url, "list", *arguments, exit_code=exit_code)
    assert complaint in " ".join(result.stderr.replace("│", " ").split())
    assert result.stdout == ""


def test_a_task_is_shown_by_any_of_its_ids_with_its_money_callbacks_and_sends(
    gateway_factory: GatewayFactory, callback_receiver: CallbackReceiver
) -> None:
    gw = gateway_factory(allow_private_callbacks=True)
    platform_id = submitted(gw, "alice", "fox-1", callback_url=callback_receiver.url)
    bobs = submitted(gw, "bob", "fox-1")

    def announced() -> bool:
        bodies = [orjson.loads(raw) for _, raw in list(callback_receiver.received)]
        return any(body.get("task_status") == "succeed" for body in bodies)

    wait_for(announced, "the callback of the task's success")
    shown = json.loads(tasks(gw, "show", platform_id, "--json").stdout)
    record = shown["task"]
    assert [record[field] for field in ("task", "user", "status", "channel")] == [
        platform_id,
        "alice",
        "succeed",
        "sandbox-1",
    ]
    assert (record["external_task_id"], record["held"], record["charged"]) == ("fox-1", "1.00", "1.00")
    assert record["callback_url"] == callback_receiver.url
    assert record["task_result"]["videos"][0]["url"].endswith(".mp4")
    assert record["request_bytes"] > 0
    assert [(entry["kind"], entry["amount"]) for entry in shown["ledger"]] == [
        ("hold", "1.00"),
        ("release", "-1.00"),
        ("charge", "-1.00"),
    ]
    assert "succeed" in {callback["status"] for callback in shown["callbacks"] if callback["state"] == "delivered"}
    assert shown["upstream"] == {
        "channel": "sandbox-1",
        "required_channel": None,
        "send_attempts": 1,
        "next_look_at": None,
        "absent_answers": 0,
    }
    upstream_id = record["upstream_task_id"]
    assert json.loads(tasks(gw, "show", upstream_id, "--json").stdout)["task"]["task"] == platform_id
    assert json.loads(tasks(gw, "show", "fox-1", "--user", "alice", "--json").stdout)["task"]["task"] == platform_id
    assert json.loads(tasks(gw, "show", "fox-1", "--user", "bob", "--json").stdout)["task"]["task"] == bobs

    text = tasks(gw, "show", platform_id).stdout
    assert "Ledger entries" in text
    assert "Client callbacks" in text
    assert "Not kept:" in text
    assert "submitted without a callback_url" in tasks(gw, "show", bobs).stdout

    ambiguous = tasks(gw, "show", "fox-1", exit_code=1).stderr
    assert "'fox-1' names 2 tasks" in ambiguous
    assert platform_id in ambiguous
    assert bobs in ambiguous
    assert "--user NAME" in ambiguous
    unknown = tasks(gw, "show", "nothing-like-it", exit_code=1).stderr
    assert "no task has the platform_id, task_id or external_task_id 'nothing-like-it'" in unknown
