"""Kling's `/tasks` through the gateway: by any id, batched and in order, paged by cursor with filters, over the
caller's own tasks of both generations (never another's, never a synchronous call), by API key only."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
import pytest

from kling_gateway.clock import now_ms
from tests.factories import Stored, store
from tests.gateway import GatewayFactory, RunningGateway
from tests.helpers import sign_jwt

pytestmark = pytest.mark.both_backends  # one indexed batch and a keyset walk over the store: the store matters

PREFIXES = ("/kling", "")
DAY_MS = 24 * 3600 * 1000
TOO_MANY = "task_ids and external_task_ids cannot exceed 20 in total"


LEGACY_RESULT = {"videos": [{"id": "v-1", "url": "https://cdn.example.com/out/legacy.mp4", "duration": "5.1"}]}
NEW_OUTPUTS = {
    "outputs": [{"type": "video", "id": "v-2", "url": "https://cdn.example.com/out/new.mp4", "duration": "3.041"}]
}
NEW_BILLING = [{"charge_type": "unit", "amount": "2.4", "package_type": "video"}]


@dataclass(frozen=True)
class Tasks:
    """Alice's tasks of both generations (newest first), her synchronous call, and bob's task."""

    gw: RunningGateway
    legacy: Stored
    new: Stored
    image: Stored
    try_on: Stored
    old: Stored
    sync_call: Stored
    bobs: Stored

    def alice(self) -> httpx.Client:
        return self.gw.client("alice")


@pytest.fixture
def tasks(gateway_factory: GatewayFactory) -> Tasks:
    gw = gateway_factory(worker=False)
    old = store(gw, "alice", age_ms=40 * DAY_MS, status="succeed", upstream_task_id="700000000000000001")
    legacy = store(
        gw,
        "alice",
        age_ms=5000,
        external_task_id="alice-legacy",
        status="succeed",
        upstream_task_id="800000000000000001",
        result_json=orjson.dumps(LEGACY_RESULT).decode(),
        final_unit_deduction="1",
    )
    new = store(
        gw,
        "alice",
        age_ms=4000,
        action="text-to-video/kling-3.0-turbo",
        generation="new",
        external_task_id="alice-new",
        status="succeed",
        upstream_task_id="930831534075682845",
        result_json=orjson.dumps(NEW_OUTPUTS).decode(),
        billing_json=orjson.dumps(NEW_BILLING).decode(),
    )
    image = store(
        gw,
        "alice",
        age_ms=3000,
        family="images",
        action="generations",
        pack_type="image",
        status="processing",
        upstream_task_id="800000000000000002",
    )
    try_on = store(
        gw,
        "alice",
        age_ms=2000,
        family="images",
        action="kolors-virtual-try-on",
        pack_type="try_on",
        status="failed",
        status_msg="the picture shows no person",
        upstream_task_id="800000000000000003",
    )
    sync_call = store(
        gw,
        "alice",
        age_ms=1000,
        family="audio",
        action="tts",
        sync_call=True,
        status="succeed",
        upstream_task_id="800000000000000004",
    )
    bobs = store(
        gw, "bob", age_ms=500, external_task_id="bob-ext", status="submitted", upstream_task_id="900000000000000009"
    )
    return Tasks(gw, legacy, new, image, try_on, old, sync_call, bobs)


def records(client: httpx.Client, path: str, **params: str) -> list[dict[str, Any]]:
    answer = client.get(path, params=params)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["code"] == 0
    data: list[dict[str, Any]] = body["data"]
    return data


@pytest.mark.parametrize("prefix", PREFIXES)
def test_get_tasks_finds_a_task_by_each_of_its_ids_in_kling_new_record(tasks: Tasks, prefix: str) -> None:
    with tasks.alice() as alice:
        for reference in (tasks.new.platform_id, tasks.new.upstream_id, tasks.new.external_id):
            assert reference is not None
            [found] = records(alice, f"{prefix}/tasks", task_ids=reference)
            assert found == {
                "id": "930831534075682845",
                "platform_id": tasks.new.platform_id,
                "status": "succeeded",
                "message": "",
                "create_time": found["create_time"],
                "update_time": found["update_time"],
                "external_id": "alice-new",
                "outputs": NEW_OUTPUTS["outputs"],
                "billing": NEW_BILLING,
            }
        [by_external] = records(alice, f"{prefix}/tasks", external_task_ids="alice-new")
        assert by_external["platform_id"] == tasks.new.platform_id


def test_a_legacy_task_is_reshaped_into_outputs_and_billing(tasks: Tasks) -> None:
    with tasks.alice() as alice:
        [legacy, failed] = records(alice, "/tasks", task_ids=f"{tasks.legacy.platform_id},{tasks.try_on.upstream_id}")
    assert legacy["status"] == "succeeded"
    assert legacy["external_id"] == "alice-legacy"
    assert legacy["outputs"] == [{"type": "video", **LEGACY_RESULT["videos"][0]}]
    assert legacy["billing"] == [{"charge_type": "unit", "amount": "1", "package_type": "video"}]
    assert (failed["status"], failed["message"], failed["outputs"], failed["billing"]) == (
        "failed",
        "the picture shows no person",
        [],
        [],
    )


def test_a_batch_comes_in_the_order_asked_without_unknown_others_or_synchronous_calls(tasks: Tasks) -> None:
    asked = [
        tasks.image.upstream_id,
        "0",  # Kling's health-check id: nobody's
        tasks.bobs.platform_id,
        tasks.bobs.upstream_id,
        "bob-ext",
        tasks.sync_call.platform_id,
        tasks.legacy.external_id,
        tasks.new.platform_id,
        tasks.new.upstream_id,  # the same task again: listed once
    ]
    with tasks.alice() as alice:
        found = records(alice, "/kling/tasks", task_ids=",".join(str(part) for part in asked))
        assert [record["platform_id"] for record in found] == [
            tasks.image.platform_id,
            tasks.legacy.platform_id,
            tasks.new.platform_id,
        ]
        assert records(alice, "/tasks", task_ids="0") == []
        # external ids alone: an upstream id given as one names nothing
        assert records(alice, "/tasks", external_task_ids=f"{tasks.new.upstream_id},alice-legacy") == [
            records(alice, "/tasks", task_ids="alice-legacy")[0]
        ]
    with tasks.gw.client("bob") as bob:
        assert [r["platform_id"] for r in records(bob, "/tasks", task_ids=",".join(str(p) for p in asked))] == [
            tasks.bobs.platform_id
        ]


ONE_OF_THEM = "task_ids, external_task_ids: give exactly one of these"


BAD_ID_QUERIES = [
    ({"task_ids": ",".join(str(number) for number in range(21))}, TOO_MANY),
    ({"external_task_ids": ",".join(str(number) for number in range(100))}, TOO_MANY),
    ({"task_ids": "1", "external_task_ids": "2"}, ONE_OF_THEM),
    ({}, ONE_OF_THEM),
    ({"task_ids": " , "}, "task_ids: must list at least one id"),
]


def test_a_bad_id_query_is_refused_as_kling_refuses_it(tasks: Tasks) -> None:
    # The cases share one store: a refusal reads none of it.
    with tasks.alice() as alice:
        for params, message in BAD_ID_QUERIES:
            answer = alice.get("/tasks", params=params)
            assert (answer.status_code, answer.json()["code"]) == (400, 1201), params
            assert answer.json()["message"].startswith(message), params


def test_twenty_ids_are_answered(tasks: Tasks) -> None:
    with tasks.alice() as alice:
        found = records(alice, "/tasks", task_ids=",".join([str(tasks.new.platform_id), *map(str, range(19))]))
    assert [record["platform_id"] for record in found] == [tasks.new.platform_id]


def page(client: httpx.Client, path: str = "/tasks", **body: Any) -> dict[str, Any]:
    answer = client.post(path, json=body)
    assert answer.status_code == 200, answer.text
    data: dict[str, Any] = answer.json()["data"]
    assert data["count"] == len(data["result"])
    return data


def walk(client: httpx.Client, **body: Any) -> list[str]:
    """Page through to the end; return the platform ids in the order listed."""
    seen: list[str] = []
    data = page(client, **body)
    while True:
        seen += [record["platform_id"] for record in data["result"]]
        if not data["has_more"]:
            assert data["next_cursor"] == ""
            return seen
        data = page(client, **(body | {"cursor": data["next_cursor"]}))


@pytest.mark.parametrize("prefix", PREFIXES)
def test_post_tasks_pages_the_last_30_days_newest_first_to_the_end(tasks: Tasks, prefix: str) -> None:
    recent = [tasks.try_on.platform_id, tasks.image.platform_id, tasks.new.platform_id, tasks.legacy.platform_id]
    with tasks.alice() as alice:
        assert walk(alice, limit=1) == recent
        assert walk(alice, limit=3) == recent
        whole = page(alice, f"{prefix}/tasks")
        assert [record["platform_id"] for record in whole["result"]] == recent
        assert (whole["has_more"], whole["next_cursor"]) == (False, "")
        # a window that reaches back 41 days holds the old task too; times as numbers or digit strings
        start = str(now_ms() - 41 * DAY_MS)
        assert walk(alice, start_time=start, limit=2) == [*recent, tasks.old.platform_id]
        # a window ending between the new task and the image one (from their stored times: no clock race)
        between = (tasks.new.created_at + tasks.image.created_at) // 2
        assert walk(alice, start_time=int(start), end_time=between) == [
            tasks.new.platform_id,
            tasks.legacy.platform_id,
            tasks.old.platform_id,
        ]
    with tasks.gw.client("bob") as bob:
        assert walk(bob) == [tasks.bobs.platform_id]


FILTERS: list[tuple[list[dict[str, Any]], tuple[str, ...]]] = [
    ([{"key": "status", "values": ["succeeded"]}], ("new", "legacy")),
    ([{"key": "status", "values": ["failed", "processing"]}], ("try_on", "image")),
    ([{"key": "product_type", "values": ["image"]}], ("image",)),
    ([{"key": "product_type", "values": ["try_on", "video"]}], ("try_on", "new", "legacy")),
    (
        [{"key": "product_type", "values": ["image", "try_on"]}, {"key": "status", "values": ["failed"]}],
        ("try_on",),
    ),
    ([{"key": "status", "values": ["submitted"]}], ()),
]


def test_post_tasks_filters_by_status_and_product_type(tasks: Tasks) -> None:
    with tasks.alice() as alice:
        for filters, expected in FILTERS:
            assert walk(alice, filters=filters, limit=1) == [getattr(tasks, name).platform_id for name in expected]


BAD_LISTINGS: list[tuple[dict[str, Any], str]] = [
    ({"limit": 501}, "limit"),
    ({"limit": 0}, "limit"),
    ({"limit": "5"}, "limit"),
    ({"start_time": 20, "end_time": 10}, "start_time"),
    ({"end_time": "yesterday"}, "end_time"),
    ({"cursor": "not-a-cursor"}, "cursor"),
    # Past what a 64-bit column holds: refused, never a 500 from the driver.
    ({"end_time": 9223372036854775810}, "end_time"),
    ({"start_time": 0, "end_time": 18446744073709551615}, "end_time"),
    ({"cursor": base64.urlsafe_b64encode(b"[18446744073709551615,0,1]").decode()}, "cursor"),
    ({"filters": [{"key": "model", "values": ["kling-3.0"]}]}, "filters[0]"),
    ({"filters": [{"key": "status", "values": ["succeed"]}]}, "filters[0]"),
    ({"filters": [{"key": "product_type", "values": ["audio"]}]}, "filters[0]"),
    ({"filters": [{"key": ["status"], "values": [{}]}]}, "filters[0]"),
    ({"filters": {"key": "status"}}, "filters"),
    ({"page": 2}, "page"),
]


def test_a_bad_listing_is_refused_naming_the_field(tasks: Tasks) -> None:
    with tasks.alice() as alice:
        for body, field in BAD_LISTINGS:
            answer = alice.post("/tasks", json=body)
            assert (answer.status_code, answer.json()["code"]) == (400, 1201), (body, answer.text)
            assert answer.json()["message"].startswith(field), body


def test_new_style_routes_take_a_gateway_key_and_refuse_a_signed_token(tasks: Tasks) -> None:
    issued = tasks.gw.admin.key("alice")
    with tasks.gw.http({"Authorization": f"Bearer {sign_jwt(issued)}"}) as signed:
        for answer in (signed.get("/tasks", params={"task_ids": "0"}), signed.post("/kling/tasks", json={})):
            assert answer.status_code == 401
            assert answer.json()["code"] == 1002
            assert "does not support AK/SK" in answer.json()["message"]
        # the same token still works on the legacy routes
        assert signed.get(f"/kling/v1/videos/text2video/{tasks.legacy.platform_id}").status_code == 200
    with tasks.gw.http({"Authorization": f"Bearer {issued.secret}"}) as keyed:
        assert [r["platform_id"] for r in records(keyed, "/tasks", task_ids="alice-new")] == [tasks.new.platform_id]
    with tasks.gw.http() as nobody:
        assert nobody.get("/tasks", params={"task_ids": "0"}).json()["code"] == 1001


def test_an_unknown_model_is_refused_naming_the_models_there_are(tasks: Tasks) -> None:
    with tasks.alice() as alice:
        for path in ("/text-to-video/kling-9", "/kling/omni-video/kling-9/x"):
            answer = alice.post(path, json={"prompt": "a fox"})
            assert answer.status_code == 404
            assert "'kling-9" in answer.json()["message"]
    assert tasks.gw.admin.task_count() == 7
