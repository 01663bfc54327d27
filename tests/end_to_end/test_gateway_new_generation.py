"""Kling's new generation through the gateway: every product and model submits and finishes, its answers in Kling's
new codec; a bad body is refused before anything is held or sent; the OpenAI and new-api video routes reach it by
a path model and render its tasks."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx
import orjson
import pytest

from kling_gateway.api.examples import NEW_CREATE_EXAMPLES
from kling_gateway.kling.schemas import NEW_ACTIONS, ActionSpec
from tests.conftest import CallbackReceiver
from tests.factories import store
from tests.gateway import GatewayFactory, RunningGateway
from tests.helpers import wait_for

FINAL = ("succeeded", "failed")
TURBO_T2V = "text-to-video/kling-3.0-turbo"
NEW_OUTPUT = {"type": "video", "id": "v-9", "url": "https://cdn.example.com/out/new.mp4", "duration": "3.041"}


@pytest.fixture
def keyed(gateway_factory: GatewayFactory) -> RunningGateway:
    """A gateway whose one channel has the sandbox account's API key (the new generation takes nothing else)."""
    gateway = gateway_factory(channels=0)
    gateway.admin.channel("keyed", gateway.sandbox.url, gateway.sandbox.account, api_key=True)
    return gateway


def example(spec: ActionSpec) -> dict[str, Any]:
    return dict(NEW_CREATE_EXAMPLES[spec.action.partition("/")[0]])


def record_when_final(client: httpx.Client, platform_id: str) -> dict[str, Any]:
    """Poll `/tasks` until the task is final; return its record."""
    found: list[dict[str, Any]] = []

    def final() -> bool:
        found[:] = client.get("/tasks", params={"task_ids": platform_id}).json()["data"]
        return bool(found) and found[0]["status"] in FINAL

    wait_for(final, f"{platform_id} to finish", every_s=0.02)
    return found[0]


@pytest.mark.parametrize("spec", list(NEW_ACTIONS.values()), ids=lambda spec: spec.action)
def test_every_new_generation_model_submits_and_finishes(keyed: RunningGateway, spec: ActionSpec) -> None:
    with keyed.client() as alice:
        answer = alice.post(f"/kling/{spec.action}", json=example(spec) | {"options": {"external_task_id": "mine-1"}})
        assert answer.status_code == 200, answer.text
        created = answer.json()["data"]
        assert created.keys() == {"id", "platform_id", "status", "create_time", "update_time", "external_id"}
        assert (created["status"], created["external_id"]) == ("submitted", "mine-1")
        record = record_when_final(alice, created["platform_id"])
        assert record["external_id"] == "mine-1"
        assert record["status"] == "succeeded", record  # the sandbox fails no task here: every model must finish
        assert [output["type"] for output in record["outputs"]] == ["video"]
        assert record["billing"]
        assert record["billing"][0]["package_type"] == "video"
        # Held at least what it costs, and charged exactly the upstream's deduction at ¥1 a video credit.
        money = keyed.admin.ledger(created["platform_id"])
        charged = sum(round(Decimal(entry["amount"]) * 1_000_000) for entry in record["billing"])
        assert money["hold"] >= -money["charge"] == charged > 0
        legacy = alice.get(f"/v1/videos/{created['platform_id']}").json()  # the OpenAI shape sees it too
        assert legacy["status"] == "completed"


ONE_PER_PRODUCT = list({spec.action.partition("/")[0]: spec for spec in NEW_ACTIONS.values()}.values())


@pytest.mark.parametrize("spec", ONE_PER_PRODUCT, ids=lambda spec: spec.action)
def test_a_bad_new_body_is_refused_before_anything_is_held_or_sent(gateway: RunningGateway, spec: ActionSpec) -> None:
    assert gateway.runtime is not None
    sent = gateway.runtime.client.requests_sent
    with gateway.client() as alice:
        answer = alice.post(f"/{spec.action}", json=example(spec) | {"settings": {"duration": "5"}})
    assert answer.status_code == 400, answer.text
    assert answer.json()["code"] == 1201
    assert "settings" in answer.json()["message"]
    assert gateway.runtime.client.requests_sent == sent
    assert gateway.admin.entry_kinds("alice") == ["top_up"]
    assert gateway.admin.task_count() == 0


@pytest.mark.skipif(TURBO_T2V not in NEW_ACTIONS, reason="the new generation's schemas are not registered yet")
def test_openai_videos_with_a_path_model_go_to_the_new_generation(keyed: RunningGateway) -> None:
    with keyed.client() as alice:
        body = {"model": "kling-3.0-turbo", "prompt": "a fox", "seconds": "5", "size": "1280x720"}
        answer = alice.post("/v1/videos", json=body)
        assert answer.status_code == 200, answer.text
        job = answer.json()
        record = record_when_final(alice, job["id"])
        assert record["platform_id"] == job["id"]
        done = alice.get(f"/v1/videos/{job['id']}").json()
        assert done["status"] == ("completed" if record["status"] == "succeeded" else "failed")
        refused = alice.post("/v1/videos", json=body | {"seconds": "99"})
        assert refused.status_code == 400
        assert refused.json()["error"]["param"] == "seconds"


def test_the_video_routes_render_a_new_style_task(gateway_factory: GatewayFactory) -> None:
    gateway: RunningGateway = gateway_factory(worker=False)
    task = store(
        gateway,
        "alice",
        age_ms=1000,
        action=TURBO_T2V,
        generation="new",
        model="kling-3.0-turbo",
        seconds=3,
        status="succeed",
        upstream_task_id="930831534075682845",
        result_json=orjson.dumps({"outputs": [NEW_OUTPUT]}).decode(),
        billing_json='[{"charge_type":"unit","amount":"2.4","package_type":"video"}]',
    )
    with gateway.client() as alice:
        job = alice.get(f"/v1/videos/{task.platform_id}").json()
        assert (job["status"], job["model"], job["seconds"]) == ("completed", "kling-3.0-turbo", "3")
        flat = alice.get("/v1/video/generations/930831534075682845").json()
        assert (flat["status"], flat["url"], flat["metadata"]["duration"]) == ("completed", NEW_OUTPUT["url"], 3.041)
        listed = alice.get("/v1/videos").json()["data"]
        assert [video["id"] for video in listed] == [task.platform_id]


def test_a_new_style_tasks_client_callbacks_carry_its_new_record(
    gateway_factory: GatewayFactory, callback_receiver: CallbackReceiver
) -> None:
    gateway = gateway_factory(channels=0, allow_private_callbacks=True)
    gateway.admin.channel("keyed", gateway.sandbox.url, gateway.sandbox.account, api_key=True)
    options = {"callback_url": callback_receiver.url, "external_task_id": "mine-cb"}
    with gateway.client() as alice:
        answer = alice.post(f"/{TURBO_T2V}", json={"prompt": "a fox", "options": options})
        assert answer.status_code == 200, answer.text
        final = record_when_final(alice, answer.json()["data"]["platform_id"])

    def bodies() -> list[dict[str, Any]]:
        return [orjson.loads(body) for _, body in callback_receiver.received]

    wait_for(lambda: any(body["status"] == final["status"] for body in bodies()), "the final callback")
    last = next(body for body in bodies() if body["status"] == final["status"])
    assert last.keys() == final.keys()
    assert (last["platform_id"], last["external_id"], last["outputs"]) == (
        final["platform_id"],
        "mine-cb",
        final["outputs"],
    )
