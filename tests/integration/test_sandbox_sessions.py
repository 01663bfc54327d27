"""Calls that refer to earlier objects: selection sessions, face sessions, and videos to extend or lip-sync."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.conftest import RunningSandbox
from tests.helpers import TEXT2VIDEO, create, error_of, wait_until

SELECTION = "/v1/videos/multi-elements"
POINT = {"x": 0.5, "y": 0.4}


def _finished_video(client: httpx.Client, model: str = "kling-v1-6") -> dict[str, Any]:
    task_id = create(client, TEXT2VIDEO, {"prompt": "a fox", "model_name": model})["task_id"]
    video: dict[str, Any] = wait_until(client, f"{TEXT2VIDEO}/{task_id}")["task_result"]["videos"][0]
    return video


def _call(client: httpx.Client, path: str, body: dict[str, Any]) -> dict[str, Any]:
    answer = client.post(path, json=body)
    assert answer.status_code == 200, answer.text
    data: dict[str, Any] = answer.json()["data"]
    assert data["status"] == 0
    return data


def _session(client: httpx.Client, video_id: str) -> str:
    return str(_call(client, f"{SELECTION}/init-selection", {"video_id": video_id})["session_id"])


def test_a_selection_session_describes_its_video(client: httpx.Client) -> None:
    video = _finished_video(client)
    data = _call(client, f"{SELECTION}/init-selection", {"video_id": video["id"]})
    assert data["original_duration"] == round(float(video["duration"]) * 1000)
    assert data["total_frame"] == round(float(video["duration"]) * data["fps"])
    assert data["normalized_video"] == video["url"]
    assert data["final_unit_deduction"] == "0"


def test_selections_are_added_previewed_deleted_and_cleared(client: httpx.Client) -> None:
    session_id = _session(client, _finished_video(client)["id"])
    marked = {"session_id": session_id, "frame_index": 3, "points": [POINT]}
    added = _call(client, f"{SELECTION}/add-selection", marked)
    assert added["res"]["frame_index"] == 3
    [mask] = added["res"]["rle_mask_list"]
    assert mask["png_mask"]["base64"]
    preview = _call(client, f"{SELECTION}/preview-selection", {"session_id": session_id})
    assert set(preview["res"]) == {"video", "video_cover", "tracking_output"}
    assert client.get(preview["res"]["video_cover"]).headers["content-type"] == "image/png"
    other = {"session_id": session_id, "frame_index": 3, "points": [{"x": 0.1, "y": 0.1}]}
    status, code, message = error_of(client.post(f"{SELECTION}/delete-selection", json=other))
    assert (status, code) == (400, 1201)
    assert message.startswith("points")
    assert _call(client, f"{SELECTION}/delete-selection", marked)["res"]["rle_mask_list"] == []
    _call(client, f"{SELECTION}/clear-selection", {"session_id": session_id})


def test_a_frame_past_the_end_is_refused(client: httpx.Client) -> None:
    session_id = _session(client, _finished_video(client)["id"])
    body = {"session_id": session_id, "frame_index": 100_000, "points": [POINT]}
    status, code, message = error_of(client.post(f"{SELECTION}/add-selection", json=body))
    assert (status, code) == (400, 1201)
    assert message.startswith("frame_index")


def test_a_swap_needs_a_selected_object_and_its_result_names_the_session(client: httpx.Client) -> None:
    session_id = _session(client, _finished_video(client)["id"])
    swap = {
        "session_id": session_id,
        "edit_mode": "swap",
        "image_list": [{"image": "https://example.com/cat.png"}],
        "prompt": "swap the fox for the cat from <<<image_1>>>",
    }
    status, code, message = error_of(client.post(SELECTION, json=swap))
    assert (status, code) == (400, 1201)
    assert "add-selection" in message
    _call(client, f"{SELECTION}/add-selection", {"session_id": session_id, "frame_index": 0, "points": [POINT]})
    done = wait_until(client, f"{SELECTION}/{create(client, SELECTION, swap)['task_id']}")
    assert done["task_result"]["videos"][0]["session_id"] == session_id


def test_a_ten_second_edit_needs_a_long_source(client: httpx.Client) -> None:
    session_id = _session(client, _finished_video(client)["id"])
    body = {"session_id": session_id, "edit_mode": "removal", "prompt": "remove it", "duration": "10"}
    _call(client, f"{SELECTION}/add-selection", {"session_id": session_id, "frame_index": 0, "points": [POINT]})
    status, code, message = error_of(client.post(SELECTION, json=body))
    assert (status, code) == (400, 1201)
    assert message.startswith("duration")


def test_sessions_belong_to_their_account(sandbox: RunningSandbox) -> None:
    with sandbox.client() as owner, sandbox.client(sandbox.config.accounts[1]) as stranger:
        session_id = _session(owner, _finished_video(owner)["id"])
        status, code, message = error_of(stranger.post(f"{SELECTION}/clear-selection", json={"session_id": session_id}))
        assert (status, code) == (400, 1201)
        assert message.startswith("session_id")


@pytest.mark.parametrize(
    ("path", "body"),
    [
        (f"{SELECTION}/init-selection", {"video_id": "123456789012345678"}),
        ("/v1/videos/video-extend", {"video_id": "123456789012345678"}),
        ("/v1/videos/identify-face", {"video_id": "123456789012345678"}),
        (
            "/v1/videos/lip-sync",
            {"input": {"video_id": "123456789012345678", "mode": "text2video", "text": "hi", "voice_id": "v1"}},
        ),
    ],
)
def test_an_unknown_video_id_is_refused(client: httpx.Client, path: str, body: dict[str, Any]) -> None:
    status, code, message = error_of(client.post(path, json=body))
    assert (status, code) == (400, 1201)
    assert "video_id" in message
    assert "123456789012345678" in message


def test_a_video_of_a_model_that_cannot_extend_is_refused(client: httpx.Client) -> None:
    video = _finished_video(client, model="kling-v2-6")
    status, code, message = error_of(client.post("/v1/videos/video-extend", json={"video_id": video["id"]}))
    assert (status, code) == (400, 1201)
    assert "kling-v2-6" in message


def test_identify_face_then_advanced_lip_sync(client: httpx.Client) -> None:
    video = _finished_video(client)
    faces = _call(client, "/v1/videos/identify-face", {"video_id": video["id"]})
    [face] = faces["face_data"]
    assert client.get(face["face_image"]).headers["content-type"] == "image/png"
    choice = {
        "face_id": face["face_id"],
        "sound_file": "https://example.com/voice.mp3",
        "sound_start_time": 0,
        "sound_end_time": 3000,
        "sound_insert_time": 500,
    }
    path = "/v1/videos/advanced-lip-sync"
    body = {"session_id": faces["session_id"], "face_choose": [choice]}
    done = wait_until(client, f"{path}/{create(client, path, body)['task_id']}")
    assert done["task_info"]["parent_video"]["id"] == video["id"]
    wrong_face = {"session_id": faces["session_id"], "face_choose": [choice | {"face_id": "9"}]}
    status, code, message = error_of(client.post(path, json=wrong_face))
    assert (status, code) == (400, 1201)
    assert message.startswith("face_choose[0].face_id")


def test_a_lip_sync_of_a_sandbox_video_is_accepted(client: httpx.Client) -> None:
    video = _finished_video(client)
    body = {"input": {"video_id": video["id"], "mode": "text2video", "text": "hello", "voice_id": "girlfriend_1"}}
    done = wait_until(client, f"/v1/videos/lip-sync/{create(client, '/v1/videos/lip-sync', body)['task_id']}")
    assert done["task_status"] == "succeed"
