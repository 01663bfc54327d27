"""Calls that refer to earlier objects: selection sessions, face sessions, and videos to extend or lip-sync."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.conftest import RunningSandbox
from tests.helpers import error_of, finished, finished_video

SELECTION = "/v1/videos/multi-elements"
EXTEND = "/v1/videos/video-extend"
IDENTIFY_FACE = "/v1/videos/identify-face"
LIP_SYNC = "/v1/videos/lip-sync"
ADVANCED_LIP_SYNC = "/v1/videos/advanced-lip-sync"
FOX = {"prompt": "a fox", "model_name": "kling-v1-6"}  # a 5 s video of a model that can be extended
POINT = {"x": 0.5, "y": 0.4}


def _call(client: httpx.Client, path: str, body: dict[str, Any]) -> dict[str, Any]:
    answer = client.post(path, json=body)
    assert answer.status_code == 200, answer.text
    data: dict[str, Any] = answer.json()["data"]
    assert data["status"] == 0
    return data


def _session(client: httpx.Client, video_id: str) -> str:
    return str(_call(client, f"{SELECTION}/init-selection", {"video_id": video_id})["session_id"])


def test_a_selection_session_describes_its_video(client: httpx.Client) -> None:
    video = finished_video(client, FOX)
    data = _call(client, f"{SELECTION}/init-selection", {"video_id": video["id"]})
    assert data["original_duration"] == round(float(video["duration"]) * 1000)
    assert data["total_frame"] == round(float(video["duration"]) * data["fps"])
    assert data["normalized_video"] == video["url"]
    assert data["final_unit_deduction"] == "0"


def test_selections_are_added_previewed_deleted_and_cleared(client: httpx.Client) -> None:
    session_id = _session(client, finished_video(client, FOX)["id"])
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
    session_id = _session(client, finished_video(client, FOX)["id"])
    body = {"session_id": session_id, "frame_index": 100_000, "points": [POINT]}
    status, code, message = error_of(client.post(f"{SELECTION}/add-selection", json=body))
    assert (status, code) == (400, 1201)
    assert message.startswith("frame_index")


def test_a_swap_needs_a_selected_object_and_its_result_names_the_session(client: httpx.Client) -> None:
    session_id = _session(client, finished_video(client, FOX)["id"])
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
    done = finished(client, SELECTION, swap)
    assert done["task_result"]["videos"][0]["session_id"] == session_id


def test_a_ten_second_edit_needs_a_long_source(client: httpx.Client) -> None:
    session_id = _session(client, finished_video(client, FOX)["id"])
    body = {"session_id": session_id, "edit_mode": "removal", "prompt": "remove it", "duration": "10"}
    _call(client, f"{SELECTION}/add-selection", {"session_id": session_id, "frame_index": 0, "points": [POINT]})
    status, code, message = error_of(client.post(SELECTION, json=body))
    assert (status, code) == (400, 1201)
    assert message.startswith("duration")


def test_a_selection_source_must_be_2_to_5_or_7_to_10_seconds(client: httpx.Client) -> None:
    long = finished_video(client, {"prompt": "a river", "model_name": "kling-v3", "duration": "15"})
    status, code, message = error_of(client.post(f"{SELECTION}/init-selection", json={"video_id": long["id"]}))
    assert (status, code) == (400, 1201)
    assert "2 to 5 s or 7 to 10 s" in message


def test_sessions_belong_to_their_account(sandbox: RunningSandbox) -> None:
    with sandbox.client() as owner, sandbox.client(sandbox.config.accounts[1]) as stranger:
        session_id = _session(owner, finished_video(owner, FOX)["id"])
        status, code, message = error_of(stranger.post(f"{SELECTION}/clear-selection", json={"session_id": session_id}))
        assert (status, code) == (400, 1201)
        assert message.startswith("session_id")


@pytest.mark.parametrize(
    ("path", "body"),
    [
        (f"{SELECTION}/init-selection", {"video_id": "123456789012345678"}),
        (EXTEND, {"video_id": "123456789012345678"}),
        (IDENTIFY_FACE, {"video_id": "123456789012345678"}),
        (
            LIP_SYNC,
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
    video = finished_video(client, {"prompt": "a fox", "model_name": "kling-v2-6"})
    status, code, message = error_of(client.post(EXTEND, json={"video_id": video["id"]}))
    assert (status, code) == (400, 1201)
    assert "kling-v2-6" in message


def test_an_extended_video_can_be_extended_again_and_costs_its_origins_price(client: httpx.Client) -> None:
    source = finished_video(client, FOX | {"mode": "pro"})
    first = finished(client, EXTEND, {"video_id": source["id"]})
    first_video = first["task_result"]["videos"][0]
    second = finished(client, EXTEND, {"video_id": first_video["id"]})
    assert second["task_info"]["parent_video"]["id"] == first_video["id"]
    assert float(second["task_result"]["videos"][0]["duration"]) > float(first_video["duration"])
    assert first["final_unit_deduction"] == second["final_unit_deduction"] == "3.5"  # v1-6 pro extension


def test_only_text2video_image2video_and_extend_videos_extend(client: httpx.Client) -> None:
    body = {"prompt": "a fox", "image_list": [{"image": "https://example.com/a.png"}]}
    video = finished_video(client, body, path="/v1/videos/multi-image2video")
    status, code, message = error_of(client.post(EXTEND, json={"video_id": video["id"]}))
    assert (status, code) == (400, 1201)
    assert "multi-image2video" in message


def test_identify_face_then_advanced_lip_sync(client: httpx.Client) -> None:
    video = finished_video(client, FOX)
    faces = _call(client, IDENTIFY_FACE, {"video_id": video["id"]})
    [face] = faces["face_data"]
    assert client.get(face["face_image"]).headers["content-type"] == "image/png"
    choice = {
        "face_id": face["face_id"],
        "sound_file": "https://example.com/voice.mp3",
        "sound_start_time": 0,
        "sound_end_time": 3000,
        "sound_insert_time": 500,
    }
    done = finished(client, ADVANCED_LIP_SYNC, {"session_id": faces["session_id"], "face_choose": [choice]})
    assert done["task_info"]["parent_video"]["id"] == video["id"]
    wrong_face = {"session_id": faces["session_id"], "face_choose": [choice | {"face_id": "9"}]}
    status, code, message = error_of(client.post(ADVANCED_LIP_SYNC, json=wrong_face))
    assert (status, code) == (400, 1201)
    assert message.startswith("face_choose[0].face_id")


def test_a_lip_sync_of_a_sandbox_video_is_accepted(client: httpx.Client) -> None:
    video = finished_video(client, FOX)
    body = {"input": {"video_id": video["id"], "mode": "text2video", "text": "hello", "voice_id": "girlfriend_1"}}
    assert finished(client, LIP_SYNC, body)["task_status"] == "succeed"


def test_a_lip_sync_keeps_its_sources_length_and_is_priced_by_it(client: httpx.Client) -> None:
    source = finished_video(client, {"prompt": "a talk", "model_name": "kling-v1-6", "duration": "10"})
    body = {"input": {"video_id": source["id"], "mode": "text2video", "text": "hello", "voice_id": "girlfriend_1"}}
    done = finished(client, LIP_SYNC, body)
    assert done["task_result"]["videos"][0]["duration"] == source["duration"] == "10.0"
    assert done["final_unit_deduction"] == "1"  # 0.5 per started 5 s


def test_a_lip_sync_source_outside_5_to_10_seconds_is_refused(client: httpx.Client) -> None:
    short = finished_video(client, {"prompt": "a blink", "model_name": "kling-v3", "duration": "3"})
    body = {"input": {"video_id": short["id"], "mode": "text2video", "text": "hi", "voice_id": "girlfriend_1"}}
    status, code, message = error_of(client.post(LIP_SYNC, json=body))
    assert (status, code) == (400, 1201)
    assert "5 to 10 s" in message


def test_an_advanced_lip_sync_of_a_url_source_still_shows_its_parent(client: httpx.Client) -> None:
    faces = _call(client, IDENTIFY_FACE, {"video_url": "https://example.com/talk.mp4"})
    choice = {
        "face_id": faces["face_data"][0]["face_id"],
        "sound_file": "https://example.com/voice.mp3",
        "sound_start_time": 0,
        "sound_end_time": 2000,
        "sound_insert_time": 0,
    }
    done = finished(client, ADVANCED_LIP_SYNC, {"session_id": faces["session_id"], "face_choose": [choice]})
    assert done["task_info"]["parent_video"]["url"] == "https://example.com/talk.mp4"
