"""OpenAI and new-api video requests read as bodies of Kling's new generation: seconds, size and pictures in its
words (`settings.duration` an int, `aspect_ratio`, `resolution`, `contents[]`)."""

from __future__ import annotations

from typing import Any

import pytest

from kling_gateway.api.video_requests import GenerationCreate, OpenAiVideoCreate, read_request
from kling_gateway.kling.schemas import NEW_ACTIONS, parse_body

PICTURE = "https://cdn.example.com/in/cat.png"


@pytest.mark.parametrize(
    ("fields", "body"),
    [
        (
            {"prompt": "a fox", "seconds": "5", "size": "1920x1080"},
            {"prompt": "a fox", "settings": {"duration": 5, "resolution": "1080p", "aspect_ratio": "16:9"}},
        ),
        (
            {"prompt": "the cat yawns", "seconds": 4, "size": "720x1280", "input_reference": {"image_url": PICTURE}},
            {
                "contents": [{"type": "first_frame", "url": PICTURE}, {"type": "prompt", "text": "the cat yawns"}],
                "settings": {"duration": 4, "resolution": "720p"},
            },
        ),
        ({"prompt": "a fox"}, {"prompt": "a fox"}),
    ],
)
def test_an_openai_request_becomes_a_new_generation_body(fields: dict[str, Any], body: dict[str, Any]) -> None:
    assert read_request(OpenAiVideoCreate, {"model": "kling-3.0-turbo", **fields}).new_body() == body


def test_a_new_api_request_gives_its_mode_end_frame_and_further_fields_in_new_words() -> None:
    asked = read_request(
        GenerationCreate,
        {
            "model": "kling-3.0",
            "prompt": "the cat yawns",
            "image": PICTURE,
            "image_tail": PICTURE + "?end",
            "mode": "pro",
            "duration": 10,
            "metadata": {"settings": {"audio": "native"}, "options": {"external_task_id": "mine-1"}},
        },
    )
    assert asked.new_body() == {
        "contents": [
            {"type": "first_frame", "url": PICTURE},
            {"type": "last_frame", "url": PICTURE + "?end"},
            {"type": "prompt", "text": "the cat yawns"},
        ],
        "settings": {"duration": 10, "resolution": "1080p", "audio": "native"},
        "options": {"external_task_id": "mine-1"},
    }


@pytest.mark.parametrize("product", ["text-to-video", "image-to-video"])
def test_a_path_model_goes_to_its_new_endpoint_and_a_legacy_name_does_not(product: str) -> None:
    models = [spec.action.partition("/")[2] for spec in NEW_ACTIONS.values() if spec.action.startswith(product)]
    picture = {"input_reference": PICTURE} if product == "image-to-video" else {}
    for model in models:
        spec, _ = read_request(OpenAiVideoCreate, {"model": model, "prompt": "a fox", **picture}).kling()
        assert spec.action == f"{product}/{model}"
    spec, body = read_request(OpenAiVideoCreate, {"model": "kling-v2-6", "prompt": "a fox", **picture}).kling()
    assert spec.generation.value == "legacy"
    assert body["model_name"] == "kling-v2-6"


@pytest.mark.parametrize(
    "fields",
    [
        {"prompt": "a fox", "seconds": "5", "size": "1280x720"},
        {"prompt": "a fox", "seconds": 10, "size": "1080x1920"},
        {"prompt": "the cat yawns", "seconds": "5", "size": "1920x1080", "input_reference": PICTURE},
    ],
)
def test_the_new_body_of_an_openai_request_is_valid_for_its_endpoint(fields: dict[str, Any]) -> None:
    spec, body = read_request(OpenAiVideoCreate, {"model": "kling-3.0-turbo", **fields}).kling()
    assert spec.generation.value == "new"
    parse_body(spec.schema, body)
