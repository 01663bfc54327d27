"""A client's callback_url hears every status change of its task from the gateway, signed, in the key's dialect."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest
from sqlalchemy import select
from standardwebhooks.webhooks import Webhook, WebhookVerificationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from typer.testing import CliRunner

from kling_gateway.cli import app
from kling_gateway.dialects import Dialect
from kling_gateway.store.database import Database
from kling_gateway.store.models import API_KEYS, USERS
from tests.conftest import CallbackReceiver
from tests.databases import run
from tests.gateway import QUICK_SYNC, GatewayFactory, RunningGateway, free_port, live_through
from tests.helpers import SteppedClock, create, wait_for
from tests.inprocess import Apps

pytestmark = pytest.mark.both_backends  # the outbox delivers from the store: the store matters

T2V = "/kling/v1/videos/text2video"


def webhook_secrets(gw: RunningGateway, user: str) -> dict[int, str | None]:
    """Read the webhook secret of each of a user's keys, by key id."""

    async def read() -> dict[int, str | None]:
        db = Database(gw.admin.database_url)
        try:
            query = (
                select(API_KEYS.c.id, API_KEYS.c.webhook_secret)
                .join(USERS, USERS.c.id == API_KEYS.c.user_id)
                .where(USERS.c.name == user)
            )
            async with db.session() as session:
                return {int(key_id): secret for key_id, secret in (await session.execute(query)).all()}
        finally:
            await db.dispose()

    return run(read())


Call = tuple[dict[str, str], bytes, dict[str, Any]]


def received_for(receiver: CallbackReceiver, platform_id: str) -> list[Call]:
    """The callbacks about one task, in the order they arrived: headers, raw body and parsed body."""
    calls = [(headers, raw, orjson.loads(raw)) for headers, raw in list(receiver.received)]
    return [call for call in calls if platform_id in (call[2].get("platform_id"), call[2]["task_id"])]


def test_every_change_reaches_the_callback_url_signed_in_the_keys_dialect(
    gateway_factory: GatewayFactory, callback_receiver: CallbackReceiver
) -> None:
    clock = SteppedClock()  # the upstream's time: moved a status at a time, so polls see every one
    gw = gateway_factory(allow_private_callbacks=True, sandbox={"clock": clock})
    video_key = gw.admin.key("alice", Dialect.VIDEO)
    hook = callback_receiver.url
    with (
        gw.client() as client,
        gw.http({"Authorization": f"Bearer {video_key.secret}"}) as video,
    ):
        kling_task = create(client, T2V, {"prompt": "a fox", "callback_url": hook, "external_task_id": "order-1"})
        answer = video.post(T2V, json={"prompt": "a hen", "callback_url": hook, "external_task_id": "order-2"})
        assert answer.status_code == 200, answer.text
        video_id = answer.json()["task_id"]
        kling_id = kling_task["platform_id"]
        live_through(gw, clock, client, [kling_id, video_id])
        wait_for(lambda: len(received_for(callback_receiver, kling_id)) == 3, "the kling task's three callbacks")
        wait_for(lambda: len(received_for(callback_receiver, video_id)) == 3, "the video task's three callbacks")
        kling_final = client.get(f"{T2V}/{kling_id}").json()["data"]
        video_final = video.get(f"{T2V}/{video_id}").json()

    kling_calls = received_for(callback_receiver, kling_id)
    assert [body["task_status"] for _, _, body in kling_calls] == ["submitted", "processing", "succeed"]
    for _, _, body in kling_calls:
        assert "code" not in body  # the bare task object, as official callbacks send it
        assert body["platform_id"] == kling_id
        assert body["task_info"]["external_task_id"] == "order-1"
    assert kling_calls[-1][2] == kling_final  # what a query answers, once the task is final

    video_calls = received_for(callback_receiver, video_id)
    assert [body["status"] for _, _, body in video_calls] == ["queued", "in_progress", "completed"]
    assert all(body["task_id"] == video_id for _, _, body in video_calls)
    assert video_calls[-1][2] == video_final
    assert video_final["url"].endswith(".mp4")

    secrets = webhook_secrets(gw, "alice")
    video_secret = secrets.pop(video_key.id)
    [kling_secret] = secrets.values()  # the key alice was created with
    assert kling_secret is not None
    assert video_secret is not None
    for calls, secret, other in ((kling_calls, kling_secret, video_secret), (video_calls, video_secret, kling_secret)):
        for headers, raw, body in calls:
            assert headers["content-type"].startswith("application/json")
            assert Webhook(secret).verify(raw, headers) == body
            with pytest.raises(WebhookVerificationError):
                Webhook(other).verify(raw, headers)
    message_ids = [headers["webhook-id"] for headers, _ in callback_receiver.received]
    assert len(set(message_ids)) == 6

    upstream_tasks = gw.sandbox.state.tasks.all_tasks()
    assert len(upstream_tasks) == 2
    assert all(task.body.callback_url != hook for task in upstream_tasks)
    assert {task.body.external_task_id for task in upstream_tasks} == {kling_id, video_id}


def callbacks_cli(gw: RunningGateway, *arguments: str) -> Any:
    """Run a `callbacks` admin command on the gateway's database with --json and read its document."""
    result = CliRunner().invoke(app, ["callbacks", *arguments, "--json", "--database-url", gw.admin.database_url])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_callbacks_given_up_on_a_dead_receiver_are_listed_and_retried_once_it_is_back(
    gateway_factory: GatewayFactory, apps: Apps
) -> None:
    quick_give_up = QUICK_SYNC.model_copy(update={"callback_give_up_s": 0.2})
    clock = SteppedClock()
    gw = gateway_factory(allow_private_callbacks=True, sync=quick_give_up, sandbox={"clock": clock})
    port = free_port()  # nobody listens here yet
    with gw.client() as client:
        platform_id = create(client, T2V, {"prompt": "a fox", "callback_url": f"http://127.0.0.1:{port}/hook"})[
            "platform_id"
        ]
        live_through(gw, clock, client, [platform_id])

    def given_up() -> list[Any]:
        return [row for row in callbacks_cli(gw, "list", "--task", platform_id)["callbacks"] if row["given_up_at"]]

    wait_for(lambda: len(given_up()) == 3, "all three callbacks given up", every_s=0.05)
    for row in given_up():
        assert row["state"] == "given-up"
        assert row["last_error"].startswith("ConnectError")
        assert row["next_attempt_at"] is None
    listed = callbacks_cli(gw, "list", "--state", "given-up", "--limit", "2")["callbacks"]
    assert [row["status"] for row in listed] == ["succeed", "processing"]  # newest first
    assert callbacks_cli(gw, "list", "--state", "delivered")["callbacks"] == []

    receiver = CallbackReceiver(url=f"http://127.0.0.1:{port}/hook")

    async def record(request: Request) -> Response:
        receiver.received.append((dict(request.headers), await request.body()))
        return Response(b"ok")

    apps.listen(Starlette(routes=[Route("/hook", record, methods=["POST"])]), port=port)
    for row in sorted(given_up(), key=lambda row: row["id"]):
        retried = callbacks_cli(gw, "retry", str(row["id"]))["callback"]
        assert retried["state"] == "pending"
        assert retried["given_up_at"] is None
        assert retried["created_at"] == row["created_at"]  # when the change happened stays true
        assert retried["give_up_at"] > row["give_up_at"]  # a new retry period
    wait_for(lambda: len(receiver.received) == 3, "the retried callbacks")
    assert [orjson.loads(body)["task_status"] for _, body in receiver.received] == [
        "submitted",
        "processing",
        "succeed",
    ]

    def delivered() -> list[Any]:
        return list(callbacks_cli(gw, "list", "--state", "delivered", "--task", platform_id)["callbacks"])

    # A delivery is recorded once its answer is in, a moment after the receiver has the callback.
    wait_for(lambda: len(delivered()) == 3, "all three callbacks recorded as delivered", every_s=0.05)
    refused = CliRunner().invoke(
        app, ["callbacks", "retry", str(delivered()[0]["id"]), "--database-url", gw.admin.database_url]
    )
    assert refused.exit_code == 1
    assert "already delivered" in refused.output
    unknown = CliRunner().invoke(
        app, ["callbacks", "list", "--task", "video_nope", "--database-url", gw.admin.database_url]
    )
    assert unknown.exit_code == 1
    assert "there is no task 'video_nope'" in unknown.output
