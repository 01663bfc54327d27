"""A task or call naming an earlier video or session goes to the upstream account that holds it, and only the
user who made that video or opened that session may name it.

Two sandbox accounts serve as two channels of equal weight, so without affinity about half of these would reach
the account that does not have the object, and the sandbox would refuse them there.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from kling_gateway.sandbox import Account
from tests.gateway import GatewayFactory, RunningGateway
from tests.helpers import create, error_of, wait_until

VIDEOS = "/v1/videos"
FOX = {"prompt": "a fox", "model_name": "kling-v1-6"}  # a 5 s video of a model that can be extended
SPEECH = {"mode": "text2video", "text": "hello", "voice_id": "girlfriend_1"}
POINT = {"x": 0.5, "y": 0.4}
ROUNDS = 3  # follow-up tasks per kind: all must land on the owning account


def succeeded(client: httpx.Client, action: str, body: dict[str, Any]) -> dict[str, Any]:
    """Create a task through the gateway, wait for it to end, insist it succeeded; return its `data`."""
    [done] = all_succeeded(client, [(action, body)])
    return done


def all_succeeded(client: httpx.Client, tasks: list[tuple[str, dict[str, Any]]]) -> list[dict[str, Any]]:
    """Create tasks through the gateway, then wait for each to end and insist it succeeded; return their `data`."""
    paths = [f"{VIDEOS}/{action}/{create(client, f'{VIDEOS}/{action}', body)['platform_id']}" for action, body in tasks]
    finished = [wait_until(client, path) for path in paths]
    for done in finished:
        assert done["task_status"] == "succeed", done
    return finished


def call(client: httpx.Client, name: str, body: dict[str, Any]) -> dict[str, Any]:
    """Make a synchronous call through the gateway; return its `data`."""
    answer = client.post(f"{VIDEOS}/{name}", json=body)
    assert answer.status_code == 200, answer.text
    data: dict[str, Any] = answer.json()["data"]
    return data


def account_of_task(gateway: RunningGateway, task_id: str) -> Account:
    """The sandbox account an upstream task was created on."""
    task = gateway.sandbox.state.tasks.task_by_id(task_id)
    assert task is not None
    return account_by_key(gateway, task.account)


def account_of_video(gateway: RunningGateway, video_id: str) -> Account:
    """The sandbox account a video was made on."""
    record = gateway.sandbox.state.tasks.video_by_id(video_id)
    assert record is not None
    return account_by_key(gateway, record.task.account)


def account_by_key(gateway: RunningGateway, access_key: str) -> Account:
    [account] = [account for account in gateway.sandbox.config.accounts if account.access_key == access_key]
    return account


def test_extensions_and_lip_syncs_of_a_video_go_to_the_account_that_made_it(gateway_factory: GatewayFactory) -> None:
    gateway = gateway_factory(channels=2)
    with gateway.client() as client:
        video_id = succeeded(client, "text2video", FOX)["task_result"]["videos"][0]["id"]
        owner = account_of_video(gateway, video_id)
        lip_sync = {"input": {"video_id": video_id} | SPEECH}
        follow_ups = all_succeeded(client, [("video-extend", {"video_id": video_id}), ("lip-sync", lip_sync)] * ROUNDS)
        # A video made by an extension is remembered in turn, on the same account.
        extended = follow_ups[0]["task_result"]["videos"][0]["id"]
        follow_ups += all_succeeded(client, [("video-extend", {"video_id": extended})] * ROUNDS)
        for _ in range(ROUNDS):  # audio made from the video, too
            audio = create(client, "/kling/v1/audio/video-to-audio", {"video_id": video_id})
            done = wait_until(client, f"/kling/v1/audio/video-to-audio/{audio['platform_id']}")
            assert done["task_status"] == "succeed", done
            follow_ups.append(done)
    assert {account_of_task(gateway, task["task_id"]) for task in follow_ups} == {owner}


def test_a_face_session_sends_its_advanced_lip_syncs_to_its_account(gateway_factory: GatewayFactory) -> None:
    gateway = gateway_factory(channels=2)
    with gateway.client() as client:
        video_id = succeeded(client, "text2video", FOX)["task_result"]["videos"][0]["id"]
        owner = account_of_video(gateway, video_id)
        faces = [call(client, "identify-face", {"video_id": video_id}) for _ in range(ROUNDS)]
        faces += [call(client, "identify-face", {"video_url": "https://cdn.example.com/in/talk.mp4"})]
        speak = {"audio_id": "audio-1", "sound_start_time": 0, "sound_end_time": 2000, "sound_insert_time": 0}
        choices = [
            {
                "session_id": opened["session_id"],
                "face_choose": [speak | {"face_id": opened["face_data"][0]["face_id"]}],
            }
            for opened in faces
        ]
        tasks = all_succeeded(client, [("advanced-lip-sync", body) for body in choices])
    assert {account_of_task(gateway, task["task_id"]) for task in tasks[:ROUNDS]} == {owner}
    assert all(task["task_info"]["parent_video"]["id"] == video_id for task in tasks[:ROUNDS])


def test_a_selection_session_sends_its_calls_and_edits_to_its_account(gateway_factory: GatewayFactory) -> None:
    gateway = gateway_factory(channels=2)
    with gateway.client() as client:
        video_id = succeeded(client, "text2video", FOX)["task_result"]["videos"][0]["id"]
        owner = account_of_video(gateway, video_id)
        removals = []
        for _ in range(ROUNDS):
            session_id = call(client, "multi-elements/init-selection", {"video_id": video_id})["session_id"]
            marked = {"session_id": session_id, "frame_index": 0, "points": [POINT]}
            assert call(client, "multi-elements/add-selection", marked)["res"]["rle_mask_list"]
            call(client, "multi-elements/preview-selection", {"session_id": session_id})
            removals.append({"session_id": session_id, "edit_mode": "removal", "prompt": "remove the selected object"})
        edits = all_succeeded(client, [("multi-elements", body) for body in removals])
    assert {account_of_task(gateway, task["task_id"]) for task in edits} == {owner}


def test_another_users_video_or_session_is_refused_like_an_unknown_one(gateway_factory: GatewayFactory) -> None:
    gateway = gateway_factory(channels=2)
    with gateway.client("alice") as alice:
        video_id = succeeded(alice, "text2video", FOX)["task_result"]["videos"][0]["id"]
        face_session = call(alice, "identify-face", {"video_id": video_id})["session_id"]
        selection = call(alice, "multi-elements/init-selection", {"video_id": video_id})["session_id"]
    unknown_video, unknown_session = "860531209405841470", "860531209405841472"
    face = {"face_id": "0", "audio_id": "a-1", "sound_start_time": 0, "sound_end_time": 2000, "sound_insert_time": 0}
    removal = {"edit_mode": "removal", "prompt": "remove it"}
    cases: list[tuple[str, Callable[[str], dict[str, Any]], str, str]] = [
        ("video-extend", lambda ref: {"video_id": ref}, video_id, unknown_video),
        ("lip-sync", lambda ref: {"input": {"video_id": ref} | SPEECH}, video_id, unknown_video),
        ("identify-face", lambda ref: {"video_id": ref}, video_id, unknown_video),
        ("multi-elements/init-selection", lambda ref: {"video_id": ref}, video_id, unknown_video),
        ("advanced-lip-sync", lambda ref: {"session_id": ref, "face_choose": [face]}, face_session, unknown_session),
        ("multi-elements", lambda ref: {"session_id": ref} | removal, selection, unknown_session),
        ("multi-elements/clear-selection", lambda ref: {"session_id": ref}, selection, unknown_session),
    ]
    tasks_before = gateway.admin.task_count()
    with gateway.client("bob") as bob:
        for action, body, alices, nobodys in cases:
            foreign = bob.post(f"{VIDEOS}/{action}", json=body(alices))
            missing = bob.post(f"{VIDEOS}/{action}", json=body(nobodys))
            status, code, message = error_of(foreign)
            assert (status, code) == (400, 1201), (action, foreign.text)
            # The same words, but for the id: nothing tells that alice's object exists.
            assert message.replace(alices, "ID") == error_of(missing)[2].replace(nobodys, "ID"), action
            assert "video_id: " in message or "session_id: " in message
        # Audio made from a video: the same rule, under /v1/audio.
        foreign = bob.post("/kling/v1/audio/video-to-audio", json={"video_id": video_id})
        missing = bob.post("/kling/v1/audio/video-to-audio", json={"video_id": unknown_video})
        assert error_of(foreign)[:2] == (400, 1201), foreign.text
        assert error_of(foreign)[2].replace(video_id, "ID") == error_of(missing)[2].replace(unknown_video, "ID")
    assert gateway.admin.task_count() == tasks_before
    assert gateway.admin.entry_kinds("bob") == ["top_up"]  # nothing held for the refused tasks
