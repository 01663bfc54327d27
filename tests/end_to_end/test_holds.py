"""A submit holds at least what its task is then charged: every action, run over the sandbox, with the ledger's
hold compared to its charge; a task working on a video is held by that video's model, mode and length."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from kling_gateway.api.examples import CREATE_EXAMPLES
from kling_gateway.kling.schemas import ACTIONS, Family
from tests.gateway import RunningGateway
from tests.helpers import create, wait_until

PRO_SOURCE = {"prompt": "a fox", "model_name": "kling-v1-6", "mode": "pro", "duration": "10"}  # 10 s, extendable
SPEECH = {"mode": "text2video", "text": "hello", "voice_id": "girlfriend_1"}
YUAN = 1_000_000


def run(gateway: RunningGateway, client: httpx.Client, family: Family, action: str, body: dict[str, Any]) -> Any:
    """Submit a task, wait for it to succeed; return its hold and its charge in µ¥, and its final data."""
    path = f"/v1/{family}/{action}"
    platform_id = create(client, path, body)["platform_id"]
    held = gateway.admin.ledger(platform_id)["hold"]
    done = wait_until(client, f"{path}/{platform_id}")
    assert done["task_status"] == "succeed", done
    return held, -gateway.admin.ledger(platform_id).get("charge", 0), done


def call(client: httpx.Client, name: str, body: dict[str, Any]) -> dict[str, Any]:
    answer = client.post(f"/v1/videos/{name}", json=body)
    assert answer.status_code == 200, answer.text
    data: dict[str, Any] = answer.json()["data"]
    return data


@pytest.mark.both_backends  # the source video's facts are written by a migration's columns
def test_every_action_is_held_at_least_what_it_is_charged(gateway: RunningGateway) -> None:
    with gateway.client() as client:
        held, charged, source = run(gateway, client, Family.VIDEOS, "text2video", PRO_SOURCE)
        assert held >= charged
        video_id = source["task_result"]["videos"][0]["id"]
        selection = call(client, "multi-elements/init-selection", {"video_id": video_id})["session_id"]
        call(
            client,
            "multi-elements/add-selection",
            {"session_id": selection, "frame_index": 0, "points": [{"x": 0.5, "y": 0.4}]},
        )
        faces = call(client, "identify-face", {"video_id": video_id})
        bodies = dict(CREATE_EXAMPLES) | {
            (Family.VIDEOS, "video-extend"): {"video_id": video_id},
            (Family.VIDEOS, "lip-sync"): {"input": {"video_id": video_id} | SPEECH},
            (Family.VIDEOS, "multi-elements"): {
                "session_id": selection,
                "edit_mode": "removal",
                "prompt": "remove the selected object",
                "duration": "10",
            },
            (Family.VIDEOS, "advanced-lip-sync"): {
                "session_id": faces["session_id"],
                "face_choose": [
                    {
                        "face_id": faces["face_data"][0]["face_id"],
                        "audio_id": "audio-1",
                        "sound_start_time": 0,
                        "sound_end_time": 3000,
                        "sound_insert_time": 0,
                    }
                ],
            },
        }
        assert ACTIONS.keys() <= bodies.keys(), "give every action a representative body"
        outcomes = {key: run(gateway, client, *key, bodies[key])[:2] for key in ACTIONS}
    short = {
        f"{family}/{action}": (held, charged)
        for (family, action), (held, charged) in outcomes.items()
        if held < charged
    }
    assert short == {}, "held less than charged (µ¥)"
    # The extension of a pro kling-v1-6 video is held its row, 3.5 credits, not the cheapest extension's 1.
    assert outcomes[Family.VIDEOS, "video-extend"] == (int(3.5 * YUAN), int(3.5 * YUAN))
    # Motion control bills its output, as long as its reference video: held at the longest (10 s, orientation image).
    assert outcomes[Family.VIDEOS, "motion-control"][0] == 5 * YUAN  # kling-v2-6 std motion: 0.5 a second
    # A lip-sync of a 10 s video costs two 5 s blocks, and is held them.
    assert outcomes[Family.VIDEOS, "lip-sync"] == (1 * YUAN, 1 * YUAN)


def test_a_source_the_gateway_cannot_know_is_held_at_the_longest_the_endpoint_takes(gateway: RunningGateway) -> None:
    with gateway.client() as client:
        by_url = {"input": {"video_url": "https://cdn.example.com/in/talk.mp4"} | SPEECH}
        held, charged, _ = run(gateway, client, Family.VIDEOS, "lip-sync", by_url)
        faces = call(client, "identify-face", {"video_url": "https://cdn.example.com/in/speech.mp4"})
        advanced = {
            "session_id": faces["session_id"],
            "face_choose": [
                {
                    "face_id": faces["face_data"][0]["face_id"],
                    "audio_id": "audio-1",
                    "sound_start_time": 0,
                    "sound_end_time": 3000,
                    "sound_insert_time": 0,
                }
            ],
        }
        face_held, face_charged, _ = run(gateway, client, Family.VIDEOS, "advanced-lip-sync", advanced)
    assert (held, face_held) == (1 * YUAN, 6 * YUAN)  # 10 s and 60 s at 0.5 a started 5 s
    assert held >= charged
    assert face_held >= face_charged


@pytest.mark.both_backends
def test_parallel_extends_never_take_more_than_the_balance(gateway: RunningGateway) -> None:
    """Eight extensions of a pro video at once on ¥6.50: each is held its ¥3.50, so one runs, the rest are
    refused, and the balance ends at ¥3 (it went to −¥14.50 when each was held the cheapest extension's ¥1)."""
    with gateway.client() as client:
        _, _, source = run(gateway, client, Family.VIDEOS, "text2video", PRO_SOURCE)
    balance, held = gateway.admin.money("alice")
    assert held == 0
    gateway.admin.top_up("alice", int(6.5 * YUAN) - balance)
    video_id = source["task_result"]["videos"][0]["id"]

    def extend(_: int) -> httpx.Response:
        with gateway.client() as client:
            return client.post("/v1/videos/video-extend", json={"video_id": video_id})

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(extend, range(8)))
    taken = [answer.json()["data"]["platform_id"] for answer in answers if answer.status_code == 200]
    refused = [answer for answer in answers if answer.status_code != 200]
    assert len(taken) == 1
    assert {(answer.status_code, answer.json()["code"]) for answer in refused} == {(429, 1102)}
    with gateway.client() as client:
        for platform_id in taken:
            assert wait_until(client, f"/v1/videos/video-extend/{platform_id}")["task_status"] == "succeed"
    assert gateway.admin.money("alice") == (3 * YUAN, 0)
    assert gateway.admin.ledger(taken[0]) == {
        "hold": int(3.5 * YUAN),
        "release": -int(3.5 * YUAN),
        "charge": -int(3.5 * YUAN),
    }
