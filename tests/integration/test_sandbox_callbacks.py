"""Callbacks: the bare task object on every status change, signed with Standard Webhooks when configured."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson
import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from kling_gateway.sandbox import Account, SandboxConfig, create_app
from tests.conftest import FAST, CallbackReceiver, SandboxFactory
from tests.helpers import TEXT2VIDEO, SteppedClock, create, finished, sign_jwt, wait_for, wait_until

SECRET = "whsec_dGVzdHNlY3JldHRlc3RzZWNyZXR0ZXN0c2VjcmV0MTI="


def _wait_for_callbacks(receiver: CallbackReceiver, count: int) -> None:
    wait_for(lambda: len(receiver.received) >= count, lambda: f"{count} callbacks; got {len(receiver.received)}")


def _in_time_order(receiver: CallbackReceiver) -> list[dict[str, Any]]:
    """Parse the callbacks received and order them by `updated_at`: the sandbox may deliver them out of order."""
    return sorted((orjson.loads(raw) for _headers, raw in receiver.received), key=lambda event: event["updated_at"])


def test_official_test_vector_signs_as_documented() -> None:
    body = (
        '{"id":"1234567890","status":"succeeded","message":"","create_time":1781080778802,"update_time":1781080794151}'
    )
    signature = Webhook(SECRET).sign("9876543210", datetime.fromtimestamp(1781080794, tz=UTC), body)
    assert signature == "v1,UsKlJP00XoQyOn410NM9xv34sP+Gl0jnOO9Lcpr7NJ4="


def test_every_status_change_is_posted_as_the_bare_task(
    sandbox_factory: SandboxFactory, callback_receiver: CallbackReceiver
) -> None:
    sandbox = sandbox_factory(speed=200.0)
    with sandbox.client() as client:
        body = {"prompt": "a fox", "callback_url": callback_receiver.url, "external_task_id": "cb-1"}
        task_id = create(client, TEXT2VIDEO, body)["task_id"]
        final = wait_until(client, f"{TEXT2VIDEO}/{task_id}")
    _wait_for_callbacks(callback_receiver, 3)
    posted = _in_time_order(callback_receiver)
    assert [event["task_status"] for event in posted] == ["submitted", "processing", "succeed"]
    assert all("code" not in event and "data" not in event for event in posted)
    assert all(event["task_id"] == task_id for event in posted)
    assert posted[0]["task_info"] == {"external_task_id": "cb-1"}
    assert posted[-1] == final
    headers = callback_receiver.received[0][0]
    assert headers["content-type"] == "application/json; charset=utf-8"
    assert "webhook-signature" not in headers


def test_callbacks_are_signed_with_the_webhook_secret(
    sandbox_factory: SandboxFactory, callback_receiver: CallbackReceiver
) -> None:
    sandbox = sandbox_factory(webhook_secret=SECRET, failure_rate=1.0)
    with sandbox.client() as client:
        create(client, TEXT2VIDEO, {"prompt": "a fox", "callback_url": callback_receiver.url})
    _wait_for_callbacks(callback_receiver, 3)
    verifier = Webhook(SECRET)
    for headers, raw in callback_receiver.received:
        assert headers["webhook-signature"].startswith("v1,")
        assert abs(int(headers["webhook-timestamp"]) - time.time()) < 60
        assert verifier.verify(raw, headers)["task_id"]
    assert _in_time_order(callback_receiver)[-1]["task_status"] == "failed"
    headers, raw = callback_receiver.received[0]
    with pytest.raises(WebhookVerificationError):
        Webhook("whsec_" + "b3RoZXJzZWNyZXRvdGhlcnNlY3JldG90aGVyc2VjcmV0").verify(raw, headers)
    with pytest.raises(WebhookVerificationError):
        verifier.verify(raw + b" ", headers)


def test_a_task_without_callback_url_sends_nothing(client: httpx.Client, callback_receiver: CallbackReceiver) -> None:
    # The silent task lives first: callbacks go out in the order of their moments, so any of its own, were one
    # owed, would be sent before the announced task's first.
    silent = create(client, TEXT2VIDEO, {"prompt": "a cat"})["task_id"]
    wait_until(client, f"{TEXT2VIDEO}/{silent}")
    announced = create(client, TEXT2VIDEO, {"prompt": "a fox", "callback_url": callback_receiver.url})["task_id"]
    wait_until(client, f"{TEXT2VIDEO}/{announced}")
    _wait_for_callbacks(callback_receiver, 3)
    assert [event["task_id"] for event in _in_time_order(callback_receiver)] == [announced] * 3


def test_an_unreachable_callback_url_does_not_disturb_the_task(client: httpx.Client) -> None:
    done = finished(client, TEXT2VIDEO, {"prompt": "a fox", "callback_url": "http://127.0.0.1:9/nowhere"})
    assert done["task_status"] == "succeed"


async def test_callbacks_arrive_when_the_app_is_mounted_without_lifespan(callback_receiver: CallbackReceiver) -> None:
    account = Account.generate()
    app = create_app(SandboxConfig(accounts=(account,), speed=FAST))
    headers = {"Authorization": f"Bearer {sign_jwt(account)}"}
    # ASGITransport runs no lifespan, like a host that mounts the app without one: the first scheduled callback
    # must start the dispatcher by itself.
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://sandbox", headers=headers) as client:
        answer = await client.post(TEXT2VIDEO, json={"prompt": "a fox", "callback_url": callback_receiver.url})
        assert answer.status_code == 200, answer.text
        await asyncio.to_thread(_wait_for_callbacks, callback_receiver, 3)
    async with app.router.lifespan_context(app):
        pass  # only its exit matters here: it closes the dispatcher and its HTTP client
    statuses = [event["task_status"] for event in _in_time_order(callback_receiver)]
    assert statuses == ["submitted", "processing", "succeed"]


async def test_a_reset_drops_the_callbacks_owed_and_stops_those_under_way() -> None:
    started, stopped = asyncio.Event(), asyncio.Event()
    posted: list[str] = []

    async def hang(request: httpx.Request) -> httpx.Response:
        posted.append(orjson.loads(request.content)["task_status"])
        started.set()
        try:
            await asyncio.Event().wait()  # a receiver that never answers
        except asyncio.CancelledError:
            stopped.set()
            raise
        return httpx.Response(200)

    account = Account.generate()
    clock = SteppedClock()
    receiver = httpx.AsyncClient(transport=httpx.MockTransport(hang))
    app = create_app(SandboxConfig(accounts=(account,), speed=FAST), http_client=receiver, clock=clock)
    headers = {"Authorization": f"Bearer {sign_jwt(account)}"}
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sandbox", headers=headers) as client,
    ):
        answer = await client.post(TEXT2VIDEO, json={"prompt": "a fox", "callback_url": "http://receiver.test/hook"})
        assert answer.status_code == 200, answer.text
        await asyncio.wait_for(started.wait(), 5)  # the `submitted` callback is under way
        app.state.api.reset()
        await asyncio.wait_for(stopped.wait(), 5)
        clock.advance(60)  # the task's later changes are past: owed no longer, none is sent
        assert (await client.get(TEXT2VIDEO)).json()["data"] == []
    assert posted == ["submitted"]
    await receiver.aclose()
