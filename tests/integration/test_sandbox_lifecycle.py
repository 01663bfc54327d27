"""Sandbox tasks move submitted → processing → succeed | failed, in the official envelope and formats."""

from __future__ import annotations

import re
import time
import uuid
from decimal import Decimal

import httpx

from kling_gateway.kling.pricing import unit_cost
from kling_gateway.kling.schemas import ACTIONS, Family, parse_create_body
from tests.conftest import SandboxFactory
from tests.helpers import TEXT2VIDEO, SteppedClock, create, finished, finished_video, wait_until

TASK_ID = re.compile(r"^[1-9]\d{17}$")


def test_create_answers_the_official_envelope(client: httpx.Client) -> None:
    before = time.time_ns() // 1_000_000
    answer = client.post(TEXT2VIDEO, json={"prompt": "a fox", "external_task_id": "fox-1"})
    body = answer.json()
    assert answer.status_code == 200
    assert (body["code"], body["message"]) == (0, "SUCCEED")
    assert uuid.UUID(body["request_id"]).version == 4
    data = body["data"]
    assert TASK_ID.match(data["task_id"])
    assert data["task_status"] == "submitted"
    assert data["task_info"] == {"external_task_id": "fox-1"}
    assert data["created_at"] == data["updated_at"] >= before


def test_task_info_is_empty_without_an_external_id(client: httpx.Client) -> None:
    assert create(client, TEXT2VIDEO, {"prompt": "a fox"})["task_info"] == {}


def test_a_task_moves_forward_to_succeed(sandbox_factory: SandboxFactory) -> None:
    clock = SteppedClock()
    sandbox = sandbox_factory(speed=20.0, clock=clock)  # a std 5 s clip takes about 6 s
    with sandbox.client() as client:
        task_id = create(client, TEXT2VIDEO, {"prompt": "a fox", "model_name": "kling-v1-6"})["task_id"]
        seen: list[str] = []
        data = {}
        while not seen or seen[-1] not in ("succeed", "failed"):
            data = client.get(f"{TEXT2VIDEO}/{task_id}").json()["data"]
            if not seen or seen[-1] != data["task_status"]:
                seen.append(data["task_status"])
            assert clock.ms - data["created_at"] < 60_000, seen
            clock.advance(0.05)
    assert seen == ["submitted", "processing", "succeed"]
    assert data["updated_at"] > data["created_at"]
    assert data["task_status_msg"] == ""
    assert data["final_unit_deduction"] == "2"  # kling-v1-6 std 5 s
    video = data["task_result"]["videos"][0]
    assert TASK_ID.match(video["id"])
    assert video["url"].startswith(sandbox.url + "/files/videos/")
    assert video["duration"] == "5.0"


def test_the_speed_factor_divides_the_typical_duration(sandbox_factory: SandboxFactory) -> None:
    clock = SteppedClock()
    sandbox = sandbox_factory(speed=100.0, clock=clock)
    with sandbox.client() as client:
        path = f"{TEXT2VIDEO}/{create(client, TEXT2VIDEO, {'prompt': 'a fox'})['task_id']}"
        clock.advance(60)  # long enough for the task, not for the client's token
        done = wait_until(client, path)
    took_s = (done["updated_at"] - done["created_at"]) / 1000
    assert 0.3 < took_s < 4.0  # a std 5 s clip typically takes 120 s; /100 → about 1.2 s


def test_final_unit_deduction_follows_the_price_table(client: httpx.Client) -> None:
    body = {"prompt": "a fox", "model_name": "kling-v2-6", "mode": "pro", "duration": "10", "sound": "on"}
    done = finished(client, TEXT2VIDEO, body)
    expected = unit_cost(ACTIONS[(Family.VIDEOS, "text2video")], parse_create_body("videos", "text2video", body))
    assert Decimal(done["final_unit_deduction"]) == expected
    assert isinstance(done["final_unit_deduction"], str)


def test_failure_rate_makes_tasks_fail_with_a_reason_and_no_deduction(
    sandbox_factory: SandboxFactory,
) -> None:
    sandbox = sandbox_factory(failure_rate=1.0)
    with sandbox.client() as client:
        done = finished(client, TEXT2VIDEO, {"prompt": "x"})
    assert done["task_status"] == "failed"
    assert done["task_status_msg"]
    assert done["task_result"] == {}
    assert "final_unit_deduction" not in done


def test_a_failure_rate_fails_about_that_share(sandbox_factory: SandboxFactory) -> None:
    clock = SteppedClock()
    sandbox = sandbox_factory(failure_rate=0.3, video_concurrency=500, clock=clock)
    with sandbox.client() as client:
        ids = [create(client, TEXT2VIDEO, {"prompt": f"clip {n}"})["task_id"] for n in range(200)]
        clock.advance(60)  # every task has ended; the client's token has not
        statuses = [wait_until(client, f"{TEXT2VIDEO}/{task_id}")["task_status"] for task_id in ids]
    assert 30 <= statuses.count("failed") <= 90


def test_watermark_info_is_echoed_and_adds_watermark_urls(client: httpx.Client) -> None:
    body = {"prompt": "a fox", "watermark_info": {"enabled": True}}
    done = finished(client, TEXT2VIDEO, body)
    assert done["watermark_info"] == {"enabled": True}
    assert done["task_result"]["videos"][0]["watermark_url"].endswith("-watermarked.mp4")
    plain = finished(client, TEXT2VIDEO, {"prompt": "x"})
    assert plain["watermark_info"] == {"enabled": False}
    assert "watermark_url" not in plain["task_result"]["videos"][0]


def test_an_image_task_returns_n_images(client: httpx.Client) -> None:
    done = finished(client, "/v1/images/generations", {"prompt": "a fox", "n": 3, "model_name": "kling-v1"})
    assert [image["index"] for image in done["task_result"]["images"]] == [0, 1, 2]
    assert done["final_unit_deduction"] == "3"  # kling-v1 text-to-image: 1 unit an image


def test_video_extend_shows_its_parent_video(client: httpx.Client) -> None:
    parent = finished_video(client, {"prompt": "a fox"})
    extended = finished(client, "/v1/videos/video-extend", {"video_id": parent["id"]})
    assert extended["task_info"]["parent_video"] == {
        "id": parent["id"],
        "url": parent["url"],
        "duration": parent["duration"],
    }
    assert float(extended["task_result"]["videos"][0]["duration"]) > float(parent["duration"])
