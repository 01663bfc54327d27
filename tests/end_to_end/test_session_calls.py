"""Kling's synchronous session calls through the gateway: relayed to the right upstream account, answered in the
Kling envelope, refused with a clear 400 when the body is wrong or names what is not the caller's."""

from __future__ import annotations

from typing import Any

import httpx

from kling_gateway.clock import now_ms
from kling_gateway.kling.schemas import SYNC_CALLS
from kling_gateway.sandbox import Account
from kling_gateway.sandbox.sessions import SessionKind
from tests.gateway import GatewayFactory, RunningGateway, free_port
from tests.helpers import error_of

IDENTIFY_FACE = "/v1/videos/identify-face"
SELECTION = "/v1/videos/multi-elements"
CLIP = "https://cdn.example.com/in/street.mp4"
POINT = {"x": 0.5, "y": 0.4}


def call(client: httpx.Client, path: str, body: dict[str, Any]) -> dict[str, Any]:
    """Make a synchronous call through the gateway; return the `data` of its Kling envelope."""
    answer = client.post(path, json=body)
    assert answer.status_code == 200, answer.text
    envelope = answer.json()
    assert envelope.keys() == {"code", "message", "request_id", "data"}
    assert envelope["code"] == 0
    data: dict[str, Any] = envelope["data"]
    assert data["status"] == 0
    return data


def holder(gateway: RunningGateway, kind: SessionKind, session_id: str) -> Account:
    """The sandbox account a session lives on."""
    [account] = [
        account
        for account in gateway.sandbox.config.accounts
        if gateway.sandbox.state.sessions.get(account.access_key, kind, session_id, now_ms()) is not None
    ]
    return account


def test_identify_face_by_url_answers_the_upstreams_data_in_the_kling_envelope(gateway: RunningGateway) -> None:
    for prefix in ("/v1", "/kling/v1"):
        with gateway.client(**{"X-Response-Format": "video"}) as client:
            data = call(client, f"{prefix}/videos/identify-face", {"video_url": CLIP})
        [face] = data["face_data"]
        assert face["face_id"] == "0"
        assert face["end_time"] == 5000
        assert data["final_unit_deduction"] == "0.05"  # the upstream bills identify-face since 2026
        assert holder(gateway, SessionKind.FACE, data["session_id"]) == gateway.sandbox.account
    # Each call's price is held and released, and its own deduction (0.05 credits at ¥1) is charged once.
    assert gateway.admin.entry_kinds("alice") == ["top_up", *(["hold", "release", "charge"] * 2)]
    assert gateway.admin.money("alice") == (1000_000_000 - 2 * 50_000, 0)


def test_the_selection_calls_follow_their_session_to_its_account(gateway_factory: GatewayFactory) -> None:
    gateway = gateway_factory(channels=2)
    with gateway.client() as client:
        sessions = [call(client, f"{SELECTION}/init-selection", {"video_url": CLIP}) for _ in range(6)]
        for opened in sessions:
            assert opened["total_frame"] == 120
            session_id = opened["session_id"]
            marked = {"session_id": session_id, "frame_index": 3, "points": [POINT]}
            [mask] = call(client, f"{SELECTION}/add-selection", marked)["res"]["rle_mask_list"]
            assert mask["object_id"] == 0
            preview = call(client, f"{SELECTION}/preview-selection", {"session_id": session_id})
            assert set(preview["res"]) == {"video", "video_cover", "tracking_output"}
            assert call(client, f"{SELECTION}/delete-selection", marked)["res"]["rle_mask_list"] == []
            assert call(client, f"{SELECTION}/clear-selection", {"session_id": session_id})["session_id"] == session_id
    # A session exists on one account only: any call sent to the other would have been refused there.
    accounts = {holder(gateway, SessionKind.SELECTION, opened["session_id"]) for opened in sessions}
    assert accounts <= set(gateway.sandbox.config.accounts[:2])


def test_a_session_of_another_user_reads_exactly_like_an_unknown_one(gateway: RunningGateway) -> None:
    with gateway.client("alice") as alice:
        session_id = call(alice, f"{SELECTION}/init-selection", {"video_url": CLIP})["session_id"]
    body = {"session_id": session_id, "frame_index": 0, "points": [POINT]}
    unknown = {"session_id": "860531209405841472", "frame_index": 0, "points": [POINT]}
    with gateway.client("bob") as bob:
        sent = upstream_requests(gateway)
        foreign = bob.post(f"{SELECTION}/add-selection", json=body)
        missing = bob.post(f"{SELECTION}/add-selection", json=unknown)
        assert upstream_requests(gateway) == sent
    status, code, message = error_of(foreign)
    assert (status, code) == (400, 1201)
    assert message == f"session_id: {session_id!r} " + error_of(missing)[2].partition("' ")[2]
    assert "is not a session you opened here" in message
    assert "init-selection" in message


def test_a_video_id_must_be_one_of_the_callers_videos(gateway: RunningGateway) -> None:
    with gateway.client() as client:
        sent = upstream_requests(gateway)
        status, code, message = error_of(client.post(IDENTIFY_FACE, json={"video_id": "860531209405841471"}))
        assert upstream_requests(gateway) == sent
    assert (status, code) == (400, 1201)
    assert message.startswith("video_id: '860531209405841471' is not a video of one of your tasks")
    assert "task_result.videos" in message


BAD_BODIES: tuple[tuple[str, dict[str, Any], str], ...] = (
    (IDENTIFY_FACE, {"video_id": "1", "video_url": CLIP}, "video_id"),
    (IDENTIFY_FACE, {}, "video_id"),
    (f"{SELECTION}/init-selection", {"video_url": "ftp://example.com/a.mp4"}, "video_url"),
    (f"{SELECTION}/add-selection", {"session_id": "1", "frame_index": 0, "points": []}, "points"),
    (f"{SELECTION}/delete-selection", {"session_id": "1", "frame_index": -1, "points": [POINT]}, "frame_index"),
    (f"{SELECTION}/add-selection", {"session_id": "1", "frame_index": 0, "points": [{"x": 2, "y": 0}]}, "points"),
    (f"{SELECTION}/clear-selection", {"session_id": ""}, "session_id"),
    (f"{SELECTION}/preview-selection", {"session_id": "1", "extra": True}, "extra"),
)


def test_a_bad_body_is_refused_naming_the_field_and_nothing_goes_upstream(gateway: RunningGateway) -> None:
    with gateway.client() as client:
        sent = upstream_requests(gateway)
        for path, body, field in BAD_BODIES:
            status, code, message = error_of(client.post(path, json=body))
            assert (status, code) == (400, 1201), (path, body)
            assert message.startswith(field), message
        assert upstream_requests(gateway) == sent


def test_a_body_that_is_not_a_json_object_is_refused(gateway: RunningGateway) -> None:
    with gateway.client() as client:
        not_json = client.post(IDENTIFY_FACE, content=b"{", headers={"Content-Type": "application/json"})
        a_list = client.post(IDENTIFY_FACE, json=[{"video_url": CLIP}])
    assert error_of(not_json)[:2] == (400, 1201)
    assert "not valid JSON" in error_of(not_json)[2]
    assert error_of(a_list) == (400, 1201, "request body must be a JSON object")


def test_a_call_needs_a_valid_key(gateway: RunningGateway) -> None:
    with gateway.client(user="") as anonymous:
        answer = anonymous.post(IDENTIFY_FACE, json={"video_url": CLIP})
    status, code, _message = error_of(answer)
    assert status == 401
    assert 1000 <= code <= 1004


def test_an_upstream_refusal_is_a_400_with_the_upstreams_reason(gateway: RunningGateway) -> None:
    with gateway.client() as client:
        session_id = call(client, f"{SELECTION}/init-selection", {"video_url": CLIP})["session_id"]
        past_the_end = {"session_id": session_id, "frame_index": 100_000, "points": [POINT]}
        status, code, message = error_of(client.post(f"{SELECTION}/add-selection", json=past_the_end))
    assert (status, code) == (400, 1201)
    assert message.startswith("the upstream refused the call: upstream answered 1201: frame_index: the video has 120")


def test_a_call_by_url_fails_over_from_an_unreachable_account(gateway: RunningGateway) -> None:
    dead = Account.generate()
    gateway.admin.channel("unreachable", f"http://127.0.0.1:{free_port()}", dead, priority=10)
    with gateway.client() as client:
        data = call(client, IDENTIFY_FACE, {"video_url": CLIP})
        # The session is on the reachable account, and later calls on it go there only.
        assert holder(gateway, SessionKind.FACE, data["session_id"]) == gateway.sandbox.account
        opened = call(client, f"{SELECTION}/init-selection", {"video_url": CLIP})
        call(client, f"{SELECTION}/clear-selection", {"session_id": opened["session_id"]})


def test_with_no_reachable_account_the_call_is_a_503_saying_why(gateway_factory: GatewayFactory) -> None:
    gateway = gateway_factory(channels=0)
    gateway.admin.channel("unreachable", f"http://127.0.0.1:{free_port()}", Account.generate())
    with gateway.client() as client:
        status, code, message = error_of(client.post(IDENTIFY_FACE, json={"video_url": CLIP}))
    assert (status, code) == (503, 5001)
    assert message.startswith("no upstream channel could take the call: unreachable: could not reach the upstream")


def test_with_every_channel_disabled_calls_and_tasks_say_so(gateway: RunningGateway) -> None:
    gateway.admin.enable_channel("sandbox-1", False)
    with gateway.client() as client:
        called = error_of(client.post(IDENTIFY_FACE, json={"video_url": CLIP}))
        submitted = error_of(client.post("/v1/videos/text2video", json={"prompt": "a fox"}))
    for status, code, message in (called, submitted):
        assert (status, code) == (503, 5001)
        assert "every upstream channel is disabled (sandbox-1)" in message
        assert "`kling-gateway channels enable NAME`" in message
    assert upstream_requests(gateway) == 0


def test_the_document_describes_every_call_on_both_prefixes(gateway: RunningGateway) -> None:
    with gateway.client(user="") as client:
        document = client.get("/openapi.json").json()
    for prefix in ("/v1", "/kling/v1"):
        for name, schema in SYNC_CALLS.items():
            operation = document["paths"][f"{prefix}/videos/{name}"]["post"]
            content = operation["requestBody"]["content"]["application/json"]
            assert content["schema"] == {"$ref": f"#/components/schemas/{schema.__name__}"}
            assert schema.__name__ in document["components"]["schemas"]
            schema.model_validate(content["example"])
            assert {"200", "400", "401"} <= operation["responses"].keys()


def upstream_requests(gateway: RunningGateway) -> int:
    """How many requests the gateway has sent upstream so far."""
    assert gateway.runtime is not None
    return gateway.runtime.client.requests_sent
