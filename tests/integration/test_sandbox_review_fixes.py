"""Behaviours a careful client relies on: source-video rules, pack balance, method codes, in-process callbacks."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import jwt
import orjson

from kling_gateway.demo import sign_jwt
from kling_gateway.sandbox import Account, SandboxConfig, create_app
from tests.conftest import CallbackReceiver, RunningSandbox, SandboxFactory
from tests.helpers import TEXT2VIDEO, create, error_of, wait_until

EXTEND = "/v1/videos/video-extend"


def _video(client: httpx.Client, body: dict[str, Any], path: str = TEXT2VIDEO) -> dict[str, Any]:
    done = wait_until(client, f"{path}/{create(client, path, body)['task_id']}")
    video: dict[str, Any] = done["task_result"]["videos"][0]
    return video


def test_an_extended_video_can_be_extended_again_and_costs_its_origins_price(client: httpx.Client) -> None:
    source = _video(client, {"prompt": "a fox", "model_name": "kling-v1-6", "mode": "pro"})
    first = wait_until(client, f"{EXTEND}/{create(client, EXTEND, {'video_id': source['id']})['task_id']}")
    again = create(client, EXTEND, {"video_id": first["task_result"]["videos"][0]["id"]})
    second = wait_until(client, f"{EXTEND}/{again['task_id']}")
    assert second["task_info"]["parent_video"]["id"] == first["task_result"]["videos"][0]["id"]
    assert float(second["task_result"]["videos"][0]["duration"]) > float(first["task_result"]["videos"][0]["duration"])
    assert first["final_unit_deduction"] == second["final_unit_deduction"] == "3.5"  # v1-6 pro extension


def test_only_text2video_image2video_and_extend_videos_extend(client: httpx.Client) -> None:
    path = "/v1/videos/multi-image2video"
    video = _video(client, {"prompt": "a fox", "image_list": [{"image": "https://example.com/a.png"}]}, path)
    status, code, message = error_of(client.post(EXTEND, json={"video_id": video["id"]}))
    assert (status, code) == (400, 1201)
    assert "multi-image2video" in message


def test_a_lip_sync_keeps_its_sources_length_and_is_priced_by_it(client: httpx.Client) -> None:
    source = _video(client, {"prompt": "a talk", "model_name": "kling-v1-6", "duration": "10"})
    body = {"input": {"video_id": source["id"], "mode": "text2video", "text": "hello", "voice_id": "girlfriend_1"}}
    path = "/v1/videos/lip-sync"
    done = wait_until(client, f"{path}/{create(client, path, body)['task_id']}")
    assert done["task_result"]["videos"][0]["duration"] == source["duration"] == "10.0"
    assert done["final_unit_deduction"] == "1"  # 0.5 per started 5 s


def test_a_lip_sync_source_outside_5_to_10_seconds_is_refused(client: httpx.Client) -> None:
    short = _video(client, {"prompt": "a blink", "model_name": "kling-v3", "duration": "3"})
    body = {"input": {"video_id": short["id"], "mode": "text2video", "text": "hi", "voice_id": "girlfriend_1"}}
    status, code, message = error_of(client.post("/v1/videos/lip-sync", json=body))
    assert (status, code) == (400, 1201)
    assert "5 to 10 s" in message


def test_a_selection_source_must_be_2_to_5_or_7_to_10_seconds(client: httpx.Client) -> None:
    long = _video(client, {"prompt": "a river", "model_name": "kling-v3", "duration": "15"})
    status, code, message = error_of(
        client.post("/v1/videos/multi-elements/init-selection", json={"video_id": long["id"]})
    )
    assert (status, code) == (400, 1201)
    assert "2 to 5 s or 7 to 10 s" in message


def test_an_advanced_lip_sync_of_a_url_source_still_shows_its_parent(client: httpx.Client) -> None:
    faces = client.post("/v1/videos/identify-face", json={"video_url": "https://example.com/talk.mp4"}).json()["data"]
    choice = {
        "face_id": faces["face_data"][0]["face_id"],
        "sound_file": "https://example.com/voice.mp3",
        "sound_start_time": 0,
        "sound_end_time": 2000,
        "sound_insert_time": 0,
    }
    path = "/v1/videos/advanced-lip-sync"
    body = {"session_id": faces["session_id"], "face_choose": [choice]}
    done = wait_until(client, f"{path}/{create(client, path, body)['task_id']}")
    assert done["task_info"]["parent_video"]["url"] == "https://example.com/talk.mp4"


def test_a_used_up_pack_refuses_creates_with_1102(sandbox_factory: SandboxFactory) -> None:
    sandbox = sandbox_factory(resource_pack_units=2)
    with sandbox.client() as client:
        for prompt in ("one", "two"):  # kling-v1 std 5 s: 1 unit each
            wait_until(client, f"{TEXT2VIDEO}/{create(client, TEXT2VIDEO, {'prompt': prompt})['task_id']}")
        status, code, message = error_of(client.post(TEXT2VIDEO, json={"prompt": "three"}))
        assert (status, code) == (429, 1102)
        assert "0 units left" in message
        now = int(time.time() * 1000)
        costs = client.get("/account/costs", params={"start_time": now - 1000, "end_time": now})
        video = next(
            p
            for p in costs.json()["data"]["resource_pack_subscribe_infos"]
            if p["resource_pack_name"] == "video resource pack"
        )
        assert (video["remaining_quantity"], video["status"]) == (0.0, "runOut")
        create(client, "/v1/images/generations", {"prompt": "packs are separate"})


def test_failed_tasks_use_no_units(sandbox_factory: SandboxFactory) -> None:
    sandbox = sandbox_factory(resource_pack_units=1, failure_rate=1.0)
    with sandbox.client() as client:
        for prompt in ("one", "two", "three"):
            wait_until(client, f"{TEXT2VIDEO}/{create(client, TEXT2VIDEO, {'prompt': prompt})['task_id']}")


def test_wrong_methods_answer_1202(client: httpx.Client) -> None:
    assert error_of(client.get("/v1/videos/multi-elements/init-selection"))[:2] == (404, 1202)
    task_id = create(client, TEXT2VIDEO, {"prompt": "a fox"})["task_id"]
    assert error_of(client.post(f"{TEXT2VIDEO}/{task_id}", json={}))[:2] == (404, 1202)


def test_unicode_digits_in_numbers_are_a_clear_400(client: httpx.Client) -> None:
    status, code, message = error_of(client.get(TEXT2VIDEO, params={"pageNum": "²"}))
    assert (status, code) == (400, 1201)
    assert message.startswith("pageNum")
    assert error_of(client.get("/account/costs", params={"start_time": "²", "end_time": "1"}))[:2] == (400, 1201)


def test_watermarked_files_exist_only_when_asked_for(client: httpx.Client) -> None:
    video = _video(client, {"prompt": "a fox"})
    assert client.get(video["url"].replace(".mp4", "-watermarked.mp4")).status_code == 404
    path = "/v1/images/generations"
    image = wait_until(client, f"{path}/{create(client, path, {'prompt': 'a fox'})['task_id']}")["task_result"][
        "images"
    ][0]
    assert client.get(image["url"].replace(".png", "-watermarked.png")).status_code == 404


def test_a_task_id_of_another_action_does_not_hide_an_external_id(client: httpx.Client) -> None:
    other = create(client, "/v1/videos/image2video", {"image": "https://example.com/a.png"})["task_id"]
    mine = create(client, TEXT2VIDEO, {"prompt": "a fox", "external_task_id": other})["task_id"]
    assert client.get(f"{TEXT2VIDEO}/{other}").json()["data"]["task_id"] == mine


def test_a_token_without_iss_is_1002(sandbox: RunningSandbox) -> None:
    now = int(time.time())
    token = jwt.encode({"exp": now + 60, "nbf": now - 5}, sandbox.account.secret_key, "HS256")
    with sandbox.client(token=token) as client:
        status, code, message = error_of(client.get(TEXT2VIDEO))
    assert (status, code) == (401, 1002)
    assert "iss" in message


async def test_callbacks_arrive_when_the_app_is_mounted_without_lifespan(callback_receiver: CallbackReceiver) -> None:
    account = Account.generate()
    app = create_app(SandboxConfig(accounts=(account,), speed=1000.0))
    transport = httpx.ASGITransport(app=app)
    headers = {"Authorization": f"Bearer {sign_jwt(account)}"}
    async with httpx.AsyncClient(transport=transport, base_url="http://sandbox", headers=headers) as client:
        answer = await client.post(TEXT2VIDEO, json={"prompt": "a fox", "callback_url": callback_receiver.url})
        assert answer.status_code == 200
        deadline = time.monotonic() + 10
        while len(callback_receiver.received) < 3:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.02)
    statuses = [orjson.loads(raw)["task_status"] for _headers, raw in callback_receiver.received]
    assert statuses == ["submitted", "processing", "succeed"]
