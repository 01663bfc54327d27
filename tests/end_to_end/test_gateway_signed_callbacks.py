"""Channels with a webhook secret: their callbacks move tasks only when signed, and the secret is never shown."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
import pytest
from standardwebhooks.webhooks import Webhook
from typer.testing import CliRunner, Result

from kling_gateway.cli import app
from kling_gateway.upstream.callbacks import callback_url
from tests.gateway import GatewayFactory, RunningGateway
from tests.helpers import create, wait_until

pytestmark = pytest.mark.both_backends  # callbacks move tasks (and are refused) through the store

WHSEC = "whsec_dGVzdHNlY3JldHRlc3RzZWNyZXR0ZXN0c2VjcmV0MTI="
OTHER_WHSEC = "whsec_b3RoZXJzZWNyZXRvdGhlcnNlY3JldG90aGVyc2VjcmV0"
T2V = "/kling/v1/videos/text2video"
CHANNEL = ["--base-url", "https://api-beijing.klingai.com", "--access-key", "AK-main", "--secret-key", "SK-hidden"]
runner = CliRunner()


def admin(url: str, *arguments: str, exit_code: int = 0) -> Result:
    """Run an admin command on the database at `url` and check how it exited."""
    result = runner.invoke(app, [*arguments, "--database-url", url])
    assert result.exit_code == exit_code, result.output
    return result


def signed_gateway(gateway_factory: GatewayFactory, *, speed: float | None = None, **options: Any) -> RunningGateway:
    """A gateway without a poller whose one channel's account signs its callbacks with WHSEC, as the channel knows."""
    sandbox: dict[str, Any] = {"webhook_secret": WHSEC} | ({} if speed is None else {"speed": speed})
    gw = gateway_factory(worker=False, callbacks=True, sandbox=sandbox, **options)
    admin(gw.admin.database_url, "channels", "update", "sandbox-1", "--webhook-secret", WHSEC)
    return gw


def failed_report(task_id: str, platform_id: str) -> bytes:
    """The raw body of a callback saying a task failed."""
    report = {
        "task_id": task_id,
        "task_status": "failed",
        "task_status_msg": "forged",
        "task_info": {"external_task_id": platform_id},
        "task_result": {},
        "created_at": 1_700_000_000_000,
        "updated_at": 1_700_000_000_000,
    }
    return orjson.dumps(report)


def signature_headers(body: bytes, *, secret: str = WHSEC, signed_at: datetime | None = None) -> dict[str, str]:
    """Standard Webhooks headers for a body, as the upstream sends them."""
    moment = signed_at or datetime.now(UTC)
    message_id = str(uuid.uuid4())
    return {
        "Content-Type": "application/json; charset=utf-8",
        "webhook-id": message_id,
        "webhook-timestamp": str(int(moment.timestamp())),
        "webhook-signature": Webhook(secret).sign(message_id, moment, body.decode()),
    }


def test_tasks_finish_through_signed_callbacks_alone(gateway_factory: GatewayFactory) -> None:
    """With no poller, the account's signed callbacks bring tasks to `succeed` on a channel that checks them."""
    gw = signed_gateway(gateway_factory)
    with gw.client() as client:
        created = [create(client, T2V, {"prompt": f"a fox {n}"})["platform_id"] for n in range(3)]
        done = [wait_until(client, f"{T2V}/{platform_id}") for platform_id in created]
    assert [task["task_status"] for task in done] == ["succeed"] * 3
    assert all(task["task_result"]["videos"] for task in done)
    assert all("charge" in gw.admin.ledger(platform_id) for platform_id in created)


def test_unsigned_and_badly_signed_callbacks_are_refused_and_change_nothing(gateway_factory: GatewayFactory) -> None:
    """The path token alone is not enough: without a valid, recent signature a callback is 401 and moves nothing."""
    gw = signed_gateway(gateway_factory, speed=1.0)  # tasks stay unfinished for the whole test
    with gw.client() as client:
        task = create(client, T2V, {"prompt": "a fox"})
    platform_id, task_id = task["platform_id"], task["task_id"]
    url = callback_url(gw.url, gw.sandbox.account.secret_key, platform_id)
    body = failed_report(task_id, platform_id)
    before = gw.admin.ledger(platform_id), gw.admin.money("alice")
    stale = datetime.now(UTC) - timedelta(minutes=6)
    refusals = {
        "unsigned": {"Content-Type": "application/json"},
        "other secret": signature_headers(body, secret=OTHER_WHSEC),
        "too old": signature_headers(body, signed_at=stale),
        "other body": signature_headers(body.replace(b"forged", b"fine")),
    }
    with httpx.Client(timeout=10) as upstream, gw.client() as client:
        for case, headers in refusals.items():
            answer = upstream.post(url, content=body, headers=headers)
            assert answer.status_code == 401, (case, answer.text)
            assert answer.json()["code"] == 1000, case
            assert "webhook" in answer.json()["message"], case
            assert WHSEC not in answer.text
        unsigned = upstream.post(url, content=body, headers=refusals["unsigned"]).json()["message"]
        assert "not signed" in unsigned
        assert client.get(f"{T2V}/{platform_id}").json()["data"]["task_status"] in ("submitted", "processing")
        assert (gw.admin.ledger(platform_id), gw.admin.money("alice")) == before

        # The same body, properly signed, is what does move the task.
        accepted = upstream.post(url, content=body, headers=signature_headers(body))
        assert accepted.status_code == 200, accepted.text
        assert accepted.json()["data"] == {"applied": True}
        failed = client.get(f"{T2V}/{platform_id}").json()["data"]
    assert (failed["task_status"], failed["task_status_msg"]) == ("failed", "forged")


def test_a_replayed_signed_callback_changes_nothing_the_second_time(gateway_factory: GatewayFactory) -> None:
    """A callback sent twice, signature and all, is taken once; its hold is released once."""
    gw = signed_gateway(gateway_factory, speed=1.0)
    with gw.client() as client:
        task = create(client, T2V, {"prompt": "a fox"})
    platform_id = task["platform_id"]
    url = callback_url(gw.url, gw.sandbox.account.secret_key, platform_id)
    body = failed_report(task["task_id"], platform_id)
    headers = signature_headers(body)
    with httpx.Client(timeout=10) as upstream:
        first = upstream.post(url, content=body, headers=headers)
        assert first.json()["data"] == {"applied": True}, first.text
        after_first = gw.admin.ledger(platform_id), gw.admin.money("alice")
        replayed = upstream.post(url, content=body, headers=headers)
    assert replayed.status_code == 200, replayed.text
    assert replayed.json()["data"] == {"applied": False}
    assert (gw.admin.ledger(platform_id), gw.admin.money("alice")) == after_first
    assert after_first[0].keys() == {"hold", "release"}


def test_a_channel_without_a_webhook_secret_still_takes_unsigned_callbacks(gateway_factory: GatewayFactory) -> None:
    """Clearing the secret goes back to the path token alone."""
    gw = signed_gateway(gateway_factory, speed=1.0)
    admin(gw.admin.database_url, "channels", "update", "sandbox-1", "--no-webhook-secret")
    with gw.client() as client:
        task = create(client, T2V, {"prompt": "a fox"})
    url = callback_url(gw.url, gw.sandbox.account.secret_key, task["platform_id"])
    with httpx.Client(timeout=10) as upstream:
        answer = upstream.post(url, content=failed_report(task["task_id"], task["platform_id"]))
    assert answer.status_code == 200, answer.text
    assert answer.json()["data"] == {"applied": True}


def test_the_webhook_secret_is_set_and_cleared_but_never_shown(database_url: str) -> None:
    url = database_url
    added = admin(url, "channels", "add", "main", *CHANNEL, "--webhook-secret", WHSEC)
    added_json = json.loads(
        admin(url, "channels", "add", "spare", *CHANNEL, "--webhook-secret", WHSEC, "--json").stdout
    )
    assert added_json["channel"]["webhook_secret_set"] is True
    listed = json.loads(admin(url, "channels", "list", "--json").stdout)["channels"]
    assert [(c["name"], c["webhook_secret_set"]) for c in listed] == [("main", True), ("spare", True)]
    cleared = json.loads(admin(url, "channels", "update", "main", "--no-webhook-secret", "--json").stdout)
    assert cleared["channel"]["webhook_secret_set"] is False
    reset = admin(url, "channels", "update", "main", "--webhook-secret", OTHER_WHSEC)
    assert "must now be signed" in reset.stdout
    outputs = [added.output, json.dumps(added_json), json.dumps(listed), admin(url, "channels", "list").output]
    outputs += [reset.output, admin(url, "channels", "list", "--json").output]
    for output in outputs:
        for secret in (WHSEC, OTHER_WHSEC, "SK-hidden"):
            assert secret not in output
            assert secret.removeprefix("whsec_") not in output


def test_a_bad_webhook_secret_is_refused_with_the_form_it_must_have(database_url: str) -> None:
    url = database_url
    refused = admin(url, "channels", "add", "main", *CHANNEL, "--webhook-secret", "hunter2", exit_code=1)
    assert "does not start with whsec_" in refused.output
    assert "hunter2" not in refused.output
    assert json.loads(admin(url, "channels", "list", "--json").stdout) == {"channels": []}
    admin(url, "channels", "add", "main", *CHANNEL)
    not_base64 = admin(url, "channels", "update", "main", "--webhook-secret", "whsec_@@@", exit_code=1)
    assert "is not Base64" in not_base64.output
    unknown = admin(url, "channels", "update", "nope", "--webhook-secret", WHSEC, exit_code=1)
    assert "there is no channel named 'nope'" in unknown.output
    both = admin(url, "channels", "update", "main", "--webhook-secret", WHSEC, "--no-webhook-secret", exit_code=2)
    assert "exactly one of --webhook-secret" in both.output
    assert "nothing to update" in admin(url, "channels", "update", "main", exit_code=2).output
    assert json.loads(admin(url, "channels", "list", "--json").stdout)["channels"][0]["webhook_secret_set"] is False
