"""The synchronous helper calls (selection of elements, face identification) take bodies checked the same way."""

from typing import Any

import pytest

from kling_gateway.kling.schemas import SYNC_CALLS, InvalidBody, parse_body

from .cases import VIDEO_URL

SYNC_OK = [
    pytest.param("multi-elements/init-selection", {"video_id": "v"}, id="init-selection:video_id"),
    pytest.param("multi-elements/init-selection", {"video_url": VIDEO_URL}, id="init-selection:video_url"),
    pytest.param(
        "multi-elements/add-selection",
        {"session_id": "s", "frame_index": 0, "points": [{"x": 0.5, "y": 1}]},
        id="add-selection",
    ),
    pytest.param(
        "multi-elements/delete-selection",
        {"session_id": "s", "frame_index": 3, "points": [{"x": 0, "y": 0.25}]},
        id="delete-selection",
    ),
    pytest.param("multi-elements/clear-selection", {"session_id": "s"}, id="clear-selection"),
    pytest.param("multi-elements/preview-selection", {"session_id": "s"}, id="preview-selection"),
    pytest.param("identify-face", {"video_url": VIDEO_URL}, id="identify-face"),
]


@pytest.mark.parametrize(("call", "body"), SYNC_OK)
def test_a_valid_synchronous_call_is_accepted(call: str, body: dict[str, Any]) -> None:
    assert isinstance(parse_body(SYNC_CALLS[call], body), SYNC_CALLS[call])


SYNC_BAD = [
    pytest.param(
        "multi-elements/init-selection",
        {},
        "video_id, video_url: give exactly one of these; one is required",
        id="init-selection:source",
    ),
    pytest.param(
        "identify-face",
        {"video_id": "v", "video_url": VIDEO_URL},
        "video_id, video_url: give exactly one of these; only one may be given",
        id="identify-face:source",
    ),
    pytest.param(
        "multi-elements/add-selection",
        {"session_id": "s", "frame_index": 0, "points": [{"x": 1.5, "y": 0}]},
        "points[0].x: must be between 0 and 1 (got 1.5)",
        id="add-selection:range",
    ),
    pytest.param(
        "multi-elements/delete-selection",
        {"session_id": "s", "points": [{"x": 0.5, "y": 0.5}]},
        "frame_index: is required",
        id="delete-selection:required",
    ),
    pytest.param(
        "multi-elements/clear-selection",
        {"session_id": "s", "frame_index": 1},
        "frame_index: is not a field of multi-elements/clear-selection; allowed fields are: session_id",
        id="clear-selection:unknown",
    ),
    pytest.param(
        "multi-elements/preview-selection",
        {"session_id": ""},
        "session_id: must not be empty",
        id="preview-selection:empty",
    ),
]


@pytest.mark.parametrize(("call", "body", "expected"), SYNC_BAD)
def test_an_invalid_synchronous_call_is_refused(call: str, body: dict[str, Any], expected: str) -> None:
    with pytest.raises(InvalidBody) as caught:
        parse_body(SYNC_CALLS[call], body)

    assert caught.value.message == expected


def test_sync_calls_are_the_documented_helpers() -> None:
    assert set(SYNC_CALLS) == {
        "multi-elements/init-selection",
        "multi-elements/add-selection",
        "multi-elements/delete-selection",
        "multi-elements/clear-selection",
        "multi-elements/preview-selection",
        "identify-face",
    }
