"""The three response dialects over the same tasks, checked against the documents they were specified from."""

from __future__ import annotations

import copy
import re
from typing import Any

import httpx
import pytest
from jsonschema import Draft202012Validator

from kling_gateway.dialects import Dialect
from tests import contracts
from tests.gateway import GatewayFactory, RunningGateway
from tests.helpers import SteppedClock, wait_for, wait_until

T2V = "/kling/v1/videos/text2video"
I2V = "/kling/v1/videos/image2video"
PICTURE = "https://example.com/cat.png"
PROGRESS = re.compile(r"^(100|[1-9]?[0-9])%$")


def _nullable_metadata(schema: dict[str, Any]) -> dict[str, Any]:
    """The video dialect's 200 schema, with metadata values that may also be null.

    The one reading the gateway adds to the document: a metadata value the gateway cannot know (Kling takes no
    seed; a frame follows the input picture) is null, never invented.
    """
    widened = copy.deepcopy(schema)
    for field in widened["properties"]["metadata"]["properties"].values():
        field["type"] = [field["type"], "null"]
    return widened


VIDEO_OK = Draft202012Validator(_nullable_metadata(contracts.video_response_schema("200")))
VIDEO_NOT_FOUND = Draft202012Validator(contracts.video_response_schema("404"))


def _video_ok(body: dict[str, Any]) -> None:
    problems = [error.message for error in VIDEO_OK.iter_errors(body)]
    assert not problems, (problems, body)


def _in(client: httpx.Client, path: str, dialect: Dialect) -> dict[str, Any]:
    answer = client.get(path, headers={"X-Response-Format": dialect.value})
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def _create(client: httpx.Client, path: str, body: dict[str, Any], dialect: Dialect = Dialect.KLING) -> Any:
    answer = client.post(path, json=body, headers={"X-Response-Format": dialect.value})
    assert answer.status_code == 200, answer.text
    return answer.json()


def _finish(client: httpx.Client, path: str, body: dict[str, Any]) -> dict[str, Any]:
    platform_id = _create(client, path, body)["data"]["platform_id"]
    return wait_until(client, f"{path}/{platform_id}")


# -- video (seed 002) --------------------------------------------------------------------------------------------


def test_video_bodies_keep_the_documented_schema_through_a_task_life(gateway: RunningGateway) -> None:
    with gateway.client() as client:
        created = _create(client, T2V, {"prompt": "a fox", "mode": "pro", "model_name": "kling-v2-6"}, Dialect.VIDEO)
        _video_ok(created)
        assert created["status"] == "queued"
        assert "url" not in created
        assert "error" not in created
        assert created["metadata"] == {"duration": None, "fps": 24, "width": 1920, "height": 1080, "seed": None}
        done = wait_until(client, f"{T2V}/{created['task_id']}")
        body = _in(client, f"{T2V}/{created['task_id']}", Dialect.VIDEO)
    _video_ok(body)
    assert body["task_id"] == created["task_id"] == done["platform_id"]
    assert body["status"] == "completed"
    assert body["url"] == done["task_result"]["videos"][0]["url"]
    assert body["format"] == "mp4"
    assert body["metadata"]["duration"] == float(done["task_result"]["videos"][0]["duration"])
    assert body["metadata"]["seed"] is None


def test_video_metadata_is_null_where_the_request_does_not_fix_it(gateway: RunningGateway) -> None:
    with gateway.client() as client:
        done = _finish(client, I2V, {"image": PICTURE, "model_name": "kling-v1-6", "mode": "std"})
        body = _in(client, f"{I2V}/{done['platform_id']}", Dialect.VIDEO)
        image = _finish(client, "/kling/v1/images/generations", {"prompt": "a cat"})
        picture = _in(client, f"/kling/v1/images/generations/{image['platform_id']}", Dialect.VIDEO)
    _video_ok(body)
    # image2video takes its orientation from the picture; kling-v1-6 image2video runs at 30 fps.
    assert body["metadata"] == {
        "duration": float(done["task_result"]["videos"][0]["duration"]),
        "fps": 30,
        "width": None,
        "height": None,
        "seed": None,
    }
    _video_ok(picture)
    assert picture["url"] == image["task_result"]["images"][0]["url"]
    assert picture["format"] == "png"
    assert picture["metadata"] == dict.fromkeys(("duration", "fps", "width", "height", "seed"))


def test_a_failed_task_says_why_in_every_dialect(gateway_factory: GatewayFactory) -> None:
    gw = gateway_factory(sandbox={"failure_rate": 1.0})
    with gw.client() as client:
        failed = _finish(client, T2V, {"prompt": "a fox"})
        path = f"{T2V}/{failed['platform_id']}"
        video, wrapped = _in(client, path, Dialect.VIDEO), _in(client, path, Dialect.TASK)
    assert failed["task_status"] == "failed"
    _video_ok(video)
    assert video["status"] == "failed"
    assert video["error"] == {"message": failed["task_status_msg"]}
    assert "url" not in video
    assert wrapped["data"]["status"] == "FAILURE"
    assert wrapped["data"]["progress"] == "100%"


def test_video_404_is_the_documented_error_body(gateway: RunningGateway) -> None:
    with gateway.client() as client:
        answer = client.get(f"{I2V}/no-such-task", headers={"X-Response-Format": "video"})
    assert answer.status_code == 404
    body = answer.json()
    assert not list(VIDEO_NOT_FOUND.iter_errors(body))
    assert body["error"]["code"] == "task_not_exist"
    assert "no-such-task" in body["error"]["message"]


# -- task (seed 003) ---------------------------------------------------------------------------------------------


def _typed(value: Any, kind: str) -> bool:
    return isinstance(value, {"string": str, "object": dict, "array": list, "integer": int, "number": float}[kind])


def _at(body: Any, dotted: str) -> Any:
    for part in re.findall(r"[a-z_]+|\[\d+\]", dotted):
        body = body[int(part[1:-1])] if part.startswith("[") else body[part]
    return body


def _same_keys(example: Any, body: Any, where: str = "") -> None:
    """Every key of the example is in the body, at every depth, with a value of the same JSON type."""
    if isinstance(example, dict):
        assert isinstance(body, dict), where
        for key, value in example.items():
            assert key in body, f"{where}.{key} missing"
            _same_keys(value, body[key], f"{where}.{key}")
    elif isinstance(example, list) and example:
        assert isinstance(body, list), where
        assert body, f"{where} is empty"
        _same_keys(example[0], body[0], f"{where}[0]")
    else:
        assert type(body) is type(example), f"{where}: {body!r} is not like {example!r}"


def test_task_bodies_follow_the_documented_table_and_example(gateway: RunningGateway) -> None:
    with gateway.client() as client:
        created = _create(client, I2V, {"image": PICTURE}, Dialect.TASK)
        platform_id = created["data"]["task_id"]
        wait_until(client, f"{I2V}/{platform_id}")
        body = _in(client, f"{I2V}/{platform_id}", Dialect.TASK)
    assert created["code"] == "success"
    assert created["data"]["status"] == "SUBMITTED"
    fields = contracts.task_fields()
    assert len(fields) == 11
    for dotted, kind in fields.items():
        assert _typed(_at(body, dotted), kind), (dotted, kind, body)
    _same_keys(contracts.task_example(), body)
    assert body["data"]["status"] == "SUCCESS"
    assert body["data"]["progress"] == "100%"
    inner = body["data"]["data"]["data"]
    assert inner["task_status"] == "succeed"
    assert inner["platform_id"] == body["data"]["task_id"] == platform_id


def test_task_progress_climbs_below_100_until_the_task_finishes(gateway_factory: GatewayFactory) -> None:
    clock = SteppedClock()  # the upstream's time moves only when told, one status at a time
    gw = gateway_factory(sandbox={"clock": clock})
    seen: list[tuple[str, int]] = []

    def read_until(status: str) -> bool:
        item = _in(client, path, Dialect.TASK)["data"]
        assert PROGRESS.match(item["progress"])
        seen.append((item["status"], int(item["progress"].rstrip("%"))))
        return bool(item["status"] == status)

    with gw.client() as client:
        platform_id = _create(client, T2V, {"prompt": "a fox"}, Dialect.TASK)["data"]["task_id"]
        path = f"{T2V}/{platform_id}"
        [upstream] = gw.sandbox.state.tasks.all_tasks()
        wait_for(lambda: read_until("SUBMITTED"), "the task submitted")
        clock.move_to(upstream.timeline.processing_ms)
        wait_for(lambda: read_until("IN_PROGRESS"), "the gateway to see the task processing")
        clock.move_to(upstream.timeline.finished_ms)
        wait_for(lambda: read_until("SUCCESS"), "the gateway to see the task finished")
    percents = [percent for _, percent in seen]
    assert percents == sorted(percents)
    assert all(percent < 100 for status, percent in seen if status not in ("SUCCESS", "FAILURE"))
    assert seen[-1] == ("SUCCESS", 100)
    assert any(status == "IN_PROGRESS" for status, _ in seen)


# -- kling (seed 000) --------------------------------------------------------------------------------------------


def test_kling_bodies_have_every_field_of_the_documented_examples(gateway: RunningGateway) -> None:
    video_example, image_example, _failed = contracts.kling_examples()
    with gateway.client() as client:
        video = _finish(
            client, T2V, {"prompt": "a fox", "external_task_id": "fox", "watermark_info": {"enabled": True}}
        )
        video_body = _in(client, f"{T2V}/{video['platform_id']}", Dialect.KLING)
        image = _finish(client, "/kling/v1/images/generations", {"prompt": "a cat", "n": 2})
        image_body = _in(client, f"/kling/v1/images/generations/{image['platform_id']}", Dialect.KLING)
    _same_keys(video_example, video_body)
    _same_keys(image_example, image_body)


# -- choosing a dialect ------------------------------------------------------------------------------------------


def test_the_header_picks_the_dialect_else_the_key_default_else_kling(gateway: RunningGateway) -> None:
    task_key = gateway.admin.key("alice", Dialect.TASK)
    with gateway.client() as client:
        platform_id = _finish(client, T2V, {"prompt": "a fox"})["platform_id"]
        path = f"{T2V}/{platform_id}"
        assert client.get(path).json()["code"] == 0
    with gateway.http({"Authorization": f"Bearer {task_key.secret}"}) as keyed:
        assert keyed.get(path).json()["code"] == "success"
        assert keyed.get(T2V).json()["data"][0]["task_id"] == platform_id
        assert set(keyed.get(path, headers={"X-Response-Format": "video"}).json()) >= {"task_id", "status"}
        assert keyed.get(path, headers={"X-Response-Format": "KLING"}).json()["code"] == 0
        missing = keyed.get(f"{T2V}/nope")
        assert missing.status_code == 404
        assert missing.json() == {"code": "task_not_exist", "message": missing.json()["message"], "data": None}


def test_an_unknown_dialect_is_refused_with_the_allowed_ones(gateway: RunningGateway) -> None:
    with gateway.client() as client:
        answer = client.post(T2V, json={"prompt": "a fox"}, headers={"X-Response-Format": "xml"})
    assert answer.status_code == 400
    body = answer.json()
    assert body["code"] == 1201
    assert "X-Response-Format" in body["message"]
    assert all(name in body["message"] for name in ("kling", "task", "video"))
    assert gateway.admin.task_count() == 0


@pytest.mark.parametrize("dialect", list(Dialect))
def test_every_error_has_a_body_in_every_dialect(gateway_factory: GatewayFactory, dialect: Dialect) -> None:
    gw = gateway_factory()
    gw.admin.user("poor", balance_yuan="0")
    header = {"X-Response-Format": dialect.value}
    with gw.client(**header) as client, gw.client("", **header) as anonymous:
        client.post(T2V, json={"prompt": "a fox", "external_task_id": "once"})
        answers = {
            401: anonymous.get(T2V),
            400: client.post(T2V, json={"prompt": "a fox", "duration": "7"}),
            404: client.get(f"{T2V}/nope"),
            409: client.post(T2V, json={"prompt": "another", "external_task_id": "once"}),
        }
    with gw.http(header | {"Authorization": f"Bearer {gw.admin.key('poor').secret}"}) as poor:
        answers[429] = poor.post(T2V, json={"prompt": "a fox"})
    for status, answer in answers.items():
        assert answer.status_code == status, answer.text
        body = answer.json()
        if dialect is Dialect.KLING:
            assert set(body) == {"code", "message", "request_id"}
            assert isinstance(body["code"], int)
        elif dialect is Dialect.TASK:
            assert set(body) == {"code", "message", "data"}
            assert isinstance(body["code"], str)
            assert body["data"] is None
        else:
            assert set(body) == {"error"}
            assert set(body["error"]) == {"message", "type", "param", "code"}
            assert not list(VIDEO_NOT_FOUND.iter_errors(body))
    assert "duration" in (answers[400].json().get("message") or answers[400].json()["error"]["message"])
    if dialect is Dialect.VIDEO:
        assert answers[400].json()["error"]["param"] == "duration"
        assert answers[404].json()["error"]["param"] == "task_id"


@pytest.mark.parametrize("dialect", list(Dialect))
def test_lists_answer_in_every_dialect(gateway: RunningGateway, dialect: Dialect) -> None:
    with gateway.client() as client:
        ids = [_create(client, T2V, {"prompt": f"fox {n}"})["data"]["platform_id"] for n in range(3)]
        first = _in(client, f"{T2V}?pageSize=2", dialect)
        second = _in(client, f"{T2V}?pageSize=2&pageNum=2", dialect)
    if dialect is Dialect.KLING:
        listed = [item["platform_id"] for item in first["data"] + second["data"]]
    elif dialect is Dialect.TASK:
        listed = [item["task_id"] for item in first["data"] + second["data"]]
        assert first["code"] == "success"
    else:
        listed = [item["task_id"] for item in first["data"] + second["data"]]
        assert (first["has_more"], second["has_more"]) == (True, False)
        for item in first["data"]:
            _video_ok(item)
    assert listed == ids[::-1]


def _unreachable(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("connection refused", request=request)


@pytest.mark.parametrize("dialect", list(Dialect))
def test_an_unreachable_upstream_is_a_5xx_in_every_dialect(gateway_factory: GatewayFactory, dialect: Dialect) -> None:
    gw = gateway_factory(upstream=lambda _network: httpx.MockTransport(_unreachable))
    with gw.client(**{"X-Response-Format": dialect.value}) as client:
        answer = client.post(T2V, json={"prompt": "a fox"})
    assert answer.status_code == 503, answer.text
    body = answer.json()
    if dialect is Dialect.VIDEO:
        assert body["error"]["type"] == "upstream_error"
        assert body["error"]["message"]
    else:
        assert body["code"] == ("upstream_unavailable" if dialect is Dialect.TASK else 5001)
        assert body["message"]
    assert gw.admin.money("alice") == (1_000_000_000, 0)  # the hold went back
