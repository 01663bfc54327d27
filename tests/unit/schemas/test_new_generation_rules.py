"""Rule by rule and model by model, the model-in-path bodies (2026 §3.3-3.6): accepted, or refused naming the field."""

import base64
from typing import Any

import pytest

from kling_gateway.kling.schemas import (
    NEW_ACTIONS,
    CreateBody,
    Family,
    Generation,
    InvalidBody,
    new_models,
    parse_body,
    parse_create_body,
)
from kling_gateway.kling.schemas.new_video import MotionControl, NewVideoBody

from .cases import picture

IMAGE = "https://cdn.example.com/in/cat.png"
VIDEO = "https://cdn.example.com/in/dance.mp4"
HOOK = "https://client.example/hook"
LEAKS = ("pydantic", "literal_error", "Input should", "Value error", "type=")

T2V = ("kling-3.0-turbo", "kling-3.0", "kling-2.6", "kling-2.5-turbo")


def first(*more: dict[str, Any], prompt: str | None = "a fox runs") -> list[dict[str, Any]]:
    """Contents with a first frame, an optional prompt and any other items."""
    items: list[dict[str, Any]] = [{"type": "prompt", "text": prompt}] if prompt is not None else []
    return [*items, {"type": "first_frame", "url": IMAGE}, *more]


LAST = {"type": "last_frame", "url": IMAGE}
MOTION = [{"type": "image", "url": IMAGE}, {"type": "video", "url": VIDEO}]


def element(number: int) -> dict[str, Any]:
    return {"type": "element", "element_id": str(829833149733515340 + number), "id": f"element_{number}"}


def refer(number: int) -> dict[str, Any]:
    return {"type": "refer_image", "url": IMAGE, "id": f"image_{number}"}


def parse(action: str, body: object) -> CreateBody:
    return parse_body(NEW_ACTIONS[action].schema, body)


def test_every_product_has_its_models_registered_under_its_path() -> None:
    assert new_models("text-to-video") == list(T2V)
    assert new_models("image-to-video") == list(T2V)
    assert new_models("omni-video") == ["kling-3.0-omni", "kling-o1"]
    assert new_models("motion-control") == ["kling-3.0", "kling-2.6"]
    assert new_models("videos") == []
    for action, spec in NEW_ACTIONS.items():
        assert (spec.action, spec.path, spec.generation) == (action, f"/{action}", Generation.NEW)
        assert issubclass(spec.schema, NewVideoBody)
        assert spec.schema.default_model == action.split("/")[1]
        assert spec.schema.model_config.get("title") == action  # what the OpenAPI document names it
    assert len(NEW_ACTIONS) == 12


VALID = [
    *(pytest.param(f"text-to-video/{model}", {"prompt": "a fox"}, id=f"t2v-{model}-defaults") for model in T2V),
    *(pytest.param(f"image-to-video/{model}", {"contents": first()}, id=f"i2v-{model}-defaults") for model in T2V),
    pytest.param(
        "text-to-video/kling-3.0",
        {
            "prompt": "shot 1, 2, a fox wakes; shot 2, 3, it runs, fast;",
            "settings": {"resolution": "4k", "aspect_ratio": "9:16", "duration": 5, "audio": "native"},
            "options": {"callback_url": HOOK, "external_task_id": "", "watermark_info": {"enabled": False}},
        },
        id="t2v-3.0-4k-multi-shot",
    ),
    pytest.param(
        "text-to-video/kling-3.0",
        {"prompt": "shot 1, 2, a; shot 2, 2, b;", "settings": {"multi_shot": False, "duration": 5}},
        id="t2v-3.0-shot-syntax-ignored-without-multi-shot",
    ),
    pytest.param("text-to-video/kling-3.0-turbo", {"prompt": "x" * 3072}, id="t2v-turbo-3072-chars"),
    pytest.param(
        "text-to-video/kling-2.6",
        {"prompt": "a fox", "settings": {"audio": "native", "resolution": "1080p", "duration": 10}},
        id="t2v-2.6-native-1080p",
    ),
    pytest.param(
        "image-to-video/kling-3.0",
        {"contents": first(LAST, element(1), element(2), element(3)), "settings": {"resolution": "4k"}},
        id="i2v-3.0-frames-and-three-elements",
    ),
    pytest.param(
        "image-to-video/kling-2.6",
        {
            "contents": first({"type": "voice", "voice_id": "891495440020668439", "id": "1"}),
            "settings": {"audio": "native", "resolution": "1080p"},
        },
        id="i2v-2.6-voice",
    ),
    pytest.param(
        "image-to-video/kling-2.5-turbo",
        {"contents": first(LAST), "settings": {"resolution": "1080p", "duration": 10}},
        id="i2v-2.5-turbo-first-last-1080p",
    ),
    pytest.param("image-to-video/kling-3.0-turbo", {"contents": first(prompt="x" * 2500)}, id="i2v-turbo-2500"),
    pytest.param(
        "omni-video/kling-3.0-omni",
        {"contents": [{"type": "prompt", "text": "a fox"}], "settings": {"duration": 15, "resolution": "4k"}},
        id="omni-3.0-prompt-only",
    ),
    pytest.param(
        "omni-video/kling-3.0-omni",
        {"contents": [*(refer(n) for n in range(7))], "settings": {"audio": "native"}},
        id="omni-3.0-seven-refer-images",
    ),
    pytest.param(
        "omni-video/kling-3.0-omni",
        {
            "contents": [{"type": "feature_video", "url": VIDEO, "id": "video_1"}, refer(1), element(1)],
            "settings": {"audio": "off", "multi_shot": True, "shot_type": "intelligence", "resolution": "4k"},
        },
        id="omni-3.0-feature-video-4k",
    ),
    pytest.param(
        "omni-video/kling-3.0-omni",
        {"contents": [{"type": "base_video", "url": VIDEO}], "settings": {"audio": "original", "multi_shot": False}},
        id="omni-3.0-edit-base-video",
    ),
    pytest.param(
        "omni-video/kling-o1",
        {"contents": first(), "settings": {"duration": 10, "audio": "off"}},
        id="o1-first-frame-10s",
    ),
    pytest.param(
        "omni-video/kling-o1",
        {"contents": [{"type": "prompt", "text": "a fox"}, refer(1)], "settings": {"duration": 7}},
        id="o1-refer-image-7s",
    ),
    pytest.param(
        "motion-control/kling-3.0",
        {"contents": [*MOTION, element(1)], "settings": {"character_orientation": "image", "resolution": "1080p"}},
        id="motion-3.0-element",
    ),
    pytest.param(
        "motion-control/kling-2.6",
        {"contents": MOTION, "settings": {"character_orientation": "video", "audio": "off"}},
        id="motion-2.6",
    ),
]


@pytest.mark.parametrize(("action", "body"), VALID)
def test_valid_body_is_accepted(action: str, body: dict[str, Any]) -> None:
    assert isinstance(parse(action, body), NEW_ACTIONS[action].schema)


INVALID = [
    # Types are strict: the new generation's duration is an int, where legacy bodies send "5".
    pytest.param(
        "text-to-video/kling-3.0", {"prompt": "p", "settings": {"duration": "5"}}, "settings.duration:", id="str-dur"
    ),
    pytest.param(
        "text-to-video/kling-3.0", {"prompt": "p", "settings": {"duration": 5.0}}, "settings.duration:", id="float-dur"
    ),
    pytest.param("text-to-video/kling-3.0", {"settings": {}}, "prompt:", id="t2v-no-prompt"),
    pytest.param("text-to-video/kling-3.0", {"prompt": "   "}, "prompt: must not be empty", id="t2v-blank-prompt"),
    pytest.param(
        "text-to-video/kling-3.0",
        {"prompt": "p", "model_name": "kling-v3"},
        "model_name: is not a field of text-to-video/kling-3.0",
        id="legacy-field",
    ),
    *(
        pytest.param(
            "text-to-video/kling-3.0-turbo",
            {"prompt": "p", name: value},
            f"{name}: is not a top-level field here; put it in options (options.{name})",
            id=f"top-level-{name}",
        )
        for name, value in (
            ("callback_url", HOOK),
            ("external_task_id", "e1"),
            ("watermark_info", {"enabled": True}),
        )
    ),
    pytest.param(
        "text-to-video/kling-3.0",
        {"prompt": "p", "options": {"callback_url": "ftp://x"}},
        "options.callback_url:",
        id="bad-callback",
    ),
    pytest.param(
        "text-to-video/kling-3.0",
        {"prompt": "p", "options": {"watermark_info": {"enabled": "yes"}}},
        "options.watermark_info.enabled:",
        id="watermark-not-bool",
    ),
    # Per-model sets: resolution, duration, audio.
    pytest.param(
        "text-to-video/kling-3.0-turbo",
        {"prompt": "p", "settings": {"resolution": "4k"}},
        'settings.resolution: "4k" is not allowed for model kling-3.0-turbo; allowed values are "720p", "1080p"',
        id="turbo-4k",
    ),
    pytest.param(
        "text-to-video/kling-3.0-turbo",
        {"prompt": "p", "settings": {"audio": "native"}},
        "settings.audio: is not supported on /text-to-video/kling-3.0-turbo",
        id="turbo-audio",
    ),
    pytest.param(
        "text-to-video/kling-3.0-turbo",
        {"prompt": "p", "settings": {"duration": 16}},
        "settings.duration: must be between 3 and 15 seconds for model kling-3.0-turbo (got 16)",
        id="turbo-16s",
    ),
    pytest.param(
        "text-to-video/kling-3.0",
        {"prompt": "p", "settings": {"duration": 2}},
        "settings.duration: must be between 3 and 15 seconds",
        id="v3-2s",
    ),
    pytest.param(
        "text-to-video/kling-2.6",
        {"prompt": "p", "settings": {"duration": 7}},
        "settings.duration: 7 is not allowed for model kling-2.6; allowed values are 5, 10",
        id="v2.6-7s",
    ),
    pytest.param(
        "text-to-video/kling-2.5-turbo",
        {"prompt": "p", "settings": {"audio": "native"}},
        "settings.audio: is not supported on /text-to-video/kling-2.5-turbo",
        id="v2.5-audio",
    ),
    pytest.param(
        "text-to-video/kling-2.6",
        {"prompt": "p", "settings": {"resolution": "4k"}},
        'settings.resolution: "4k" is not allowed for model kling-2.6',
        id="v2.6-4k",
    ),
    pytest.param(
        "text-to-video/kling-3.0",
        {"prompt": "p", "settings": {"audio": "original"}},
        'settings.audio: "original" is not allowed for model kling-3.0; allowed values are "native", "off"',
        id="v3-original",
    ),
    pytest.param(
        "text-to-video/kling-3.0",
        {"prompt": "p", "settings": {"aspect_ratio": "4:3"}},
        "settings.aspect_ratio:",
        id="v3-4-3",
    ),
    pytest.param(
        "text-to-video/kling-2.6",
        {"prompt": "p", "settings": {"audio": "native"}},
        'settings.audio: "native" needs settings.resolution "1080p" on model kling-2.6',
        id="v2.6-native-720p",
    ),
    pytest.param(
        "text-to-video/kling-2.6",
        {"prompt": "p", "settings": {"multi_shot": True}},
        "settings.multi_shot: is not supported on /text-to-video/kling-2.6",
        id="v2.6-multi-shot",
    ),
    # Prompt lengths (Appendix A #3).
    pytest.param(
        "text-to-video/kling-3.0-turbo",
        {"prompt": "x" * 3073},
        "prompt: is 3073 characters long; at most 3072 are allowed",
        id="turbo-t2v-3073",
    ),
    pytest.param(
        "image-to-video/kling-3.0-turbo",
        {"contents": first(prompt="x" * 2501)},
        "contents[0].text: is 2501 characters long; at most 2500 are allowed",
        id="turbo-i2v-2501",
    ),
    pytest.param(
        "text-to-video/kling-2.6",
        {"prompt": "x" * 2501},
        "prompt: is 2501 characters long; at most 2500 are allowed",
        id="v2.6-2501",
    ),
    # Multi-shot prompts: shot n (1-6), m ≥ 1 s, Σm = duration, words ≤ 512.
    pytest.param(
        "text-to-video/kling-3.0",
        {"prompt": "shot 1, 2, a; shot 2, 2, b;", "settings": {"duration": 5}},
        "prompt: shot lengths add up to 4 s but settings.duration is 5",
        id="shots-sum",
    ),
    pytest.param(
        "text-to-video/kling-3.0",
        {"prompt": "shot 1, 0, a; shot 2, 5, b;"},
        "prompt: shot 1 lasts 0 s; every shot must last at least 1 s",
        id="shot-0s",
    ),
    pytest.param(
        "text-to-video/kling-3.0",
        {"prompt": "shot 2, 2, a; shot 1, 3, b;"},
        "prompt: shots must be numbered 1, 2, ... in order",
        id="shots-order",
    ),
    pytest.param(
        "text-to-video/kling-3.0",
        {"prompt": "".join(f"shot {n}, 1, w;" for n in range(1, 8)), "settings": {"duration": 7}},
        "prompt: has 7 shots; at most 6 are allowed",
        id="seven-shots",
    ),
    pytest.param(
        "text-to-video/kling-3.0",
        {"prompt": f"shot 1, 5, {'w' * 513};"},
        "prompt: shot 1 has 513 characters of words; at most 512 are allowed",
        id="shot-words",
    ),
    pytest.param(
        "image-to-video/kling-3.0",
        {"contents": first(prompt="shot 1, 3, a; shot two, 2, b;")},
        "contents[0].text: shot 2 must read `shot <n>, <seconds>, <words>;`",
        id="shot-form",
    ),
    # Image-to-video frames.
    pytest.param(
        "image-to-video/kling-3.0-turbo",
        {"contents": first(LAST)},
        'contents[2].type: "last_frame" is not allowed on /image-to-video/kling-3.0-turbo',
        id="turbo-last-frame",
    ),
    pytest.param(
        "image-to-video/kling-3.0",
        {"contents": [{"type": "prompt", "text": "p"}, LAST]},
        'contents: needs exactly one "first_frame" item (got 0)',
        id="last-without-first",
    ),
    pytest.param(
        "image-to-video/kling-2.6",
        {"contents": first(LAST)},
        'contents[2].type: "last_frame" needs settings.resolution "1080p" on model kling-2.6',
        id="v2.6-first-last-720p",
    ),
    pytest.param(
        "image-to-video/kling-2.5-turbo",
        {"contents": first(LAST), "settings": {"resolution": "720p"}},
        'contents[2].type: "last_frame" needs settings.resolution "1080p" on model kling-2.5-turbo',
        id="v2.5-first-last-720p",
    ),
    pytest.param(
        "image-to-video/kling-3.0",
        {"contents": first(), "settings": {"aspect_ratio": "16:9"}},
        "settings.aspect_ratio: is not supported on /image-to-video/kling-3.0 (the first frame decides the frame)",
        id="i2v-aspect",
    ),
    pytest.param(
        "image-to-video/kling-3.0",
        {"contents": first(*(element(n) for n in range(4)))},
        "contents: has 4 elements; at most 3 are allowed",
        id="v3-four-elements",
    ),
    pytest.param(
        "image-to-video/kling-2.6",
        {
            "contents": first(*({"type": "voice", "voice_id": str(n), "id": f"v{n}"} for n in range(3))),
            "settings": {"audio": "native", "resolution": "1080p"},
        },
        "contents: has 3 voices; at most 2 are allowed",
        id="v2.6-three-voices",
    ),
    pytest.param(
        "image-to-video/kling-2.6",
        {"contents": first({"type": "voice", "voice_id": "1", "id": "v1"})},
        'contents[2].type: a "voice" item needs settings.audio "native"',
        id="v2.6-voice-silent",
    ),
    pytest.param(
        "image-to-video/kling-2.5-turbo",
        {"contents": first(element(1))},
        'contents[2].type: "element" is not allowed on /image-to-video/kling-2.5-turbo',
        id="v2.5-element",
    ),
    pytest.param(
        "image-to-video/kling-3.0",
        {"contents": first({"type": "element", "element_id": "abc", "id": "e"})},
        "contents[2].element_id: must be an element id",
        id="element-id-digits",
    ),
    pytest.param(
        "image-to-video/kling-3.0",
        {"contents": [{"type": "prompt"}, {"type": "first_frame", "url": IMAGE}]},
        'contents[0].text: is required in a "prompt" item',
        id="prompt-without-text",
    ),
    pytest.param(
        "image-to-video/kling-3.0",
        {"contents": [{"type": "first_frame", "url": IMAGE, "id": "image_1"}]},
        'contents[0].id: is not a field of a "first_frame" item on /image-to-video/kling-3.0',
        id="frame-id-outside-omni",
    ),
    pytest.param(
        "image-to-video/kling-3.0",
        {"contents": [{"type": "first_frame", "url": "not-an-image"}]},
        "contents[0].url:",
        id="frame-not-url",
    ),
    pytest.param("image-to-video/kling-3.0", {"contents": []}, "contents:", id="empty-contents"),
    # Omni: the count matrix, frames, reference videos, audio.
    pytest.param(
        "omni-video/kling-3.0-omni",
        {"contents": [*(refer(n) for n in range(8))]},
        "8 refer_images and 0 multi-image elements make 8; at most 7 are allowed without a reference video",
        id="omni-eight-refs",
    ),
    pytest.param(
        "omni-video/kling-3.0-omni",
        {"contents": [{"type": "feature_video", "url": VIDEO}, *(refer(n) for n in range(5))]},
        "make 5; at most 4 are allowed with a reference video",
        id="omni-five-refs-with-video",
    ),
    pytest.param(
        "omni-video/kling-3.0-omni",
        {"contents": [*first(), *(element(n) for n in range(4))]},
        "contents: has 4 elements; at most 3 are allowed with frames",
        id="omni-frames-four-elements",
    ),
    pytest.param(
        "omni-video/kling-3.0-omni",
        {"contents": [{"type": "prompt", "text": "p"}, LAST]},
        'contents: a "last_frame" needs a "first_frame" too',
        id="omni-last-only",
    ),
    pytest.param(
        "omni-video/kling-3.0-omni",
        {"contents": [{"type": "feature_video", "url": VIDEO}, {"type": "base_video", "url": VIDEO}]},
        "contents: has 2 videos; at most 1 feature_video or base_video is allowed",
        id="omni-two-videos",
    ),
    pytest.param(
        "omni-video/kling-3.0-omni",
        {"contents": [{"type": "base_video", "url": VIDEO}, {"type": "first_frame", "url": IMAGE}]},
        "contents: first_frame and last_frame are not allowed when editing a base_video",
        id="omni-base-video-frames",
    ),
    pytest.param(
        "omni-video/kling-3.0-omni",
        {"contents": [{"type": "feature_video", "url": VIDEO}], "settings": {"audio": "native"}},
        'settings.audio: must be "off" with a feature_video on model kling-3.0-omni',
        id="omni-feature-native",
    ),
    pytest.param(
        "omni-video/kling-3.0-omni",
        {"contents": [{"type": "base_video", "url": VIDEO}], "settings": {"multi_shot": True}},
        "settings.multi_shot: must be false when editing a base_video",
        id="omni-base-multi-shot",
    ),
    pytest.param(
        "omni-video/kling-3.0-omni",
        {"contents": [{"type": "prompt", "text": "p"}], "settings": {"audio": "original"}},
        'settings.audio: "original" keeps the sound of a reference video; it needs a base_video or feature_video',
        id="omni-original-no-video",
    ),
    pytest.param(
        "omni-video/kling-3.0-omni",
        {"contents": [{"type": "feature_video", "url": "data:video/mp4;base64,AAAA"}]},
        "contents[0].url: must be an absolute http:// or https:// URL",
        id="omni-video-base64",
    ),
    pytest.param(
        "omni-video/kling-3.0-omni",
        {"contents": [{**refer(1), "id": "image"}, {**refer(2), "id": "image_2"}]},
        'contents[1].id: "image_2" and "image" (contents[0]) contain one another',
        id="omni-nested-ids",
    ),
    pytest.param(
        "omni-video/kling-o1",
        {"contents": first(), "settings": {"duration": 7}},
        "settings.duration: must be 5 or 10 when animating a first frame alone on model kling-o1 (got 7)",
        id="o1-first-frame-7s",
    ),
    pytest.param(
        "omni-video/kling-o1",
        {"contents": [{"type": "prompt", "text": "p"}], "settings": {"duration": 11}},
        "settings.duration: must be between 3 and 10 seconds for model kling-o1 (got 11)",
        id="o1-11s",
    ),
    pytest.param(
        "omni-video/kling-o1",
        {"contents": first(LAST, refer(1))},
        "with first and last frames, refer_image and element items are not allowed on model kling-o1",
        id="o1-frames-and-refs",
    ),
    pytest.param(
        "omni-video/kling-o1",
        {"contents": [{"type": "feature_video", "url": VIDEO}, *first(LAST, prompt=None)]},
        'a feature_video allows a "first_frame" but not a "last_frame" on model kling-o1',
        id="o1-feature-last",
    ),
    pytest.param(
        "omni-video/kling-o1",
        {"contents": [{"type": "prompt", "text": "p"}], "settings": {"audio": "native"}},
        'settings.audio: "native" is not allowed for model kling-o1; allowed values are "original", "off"',
        id="o1-native",
    ),
    pytest.param(
        "omni-video/kling-o1",
        {"contents": [{"type": "prompt", "text": "p"}], "settings": {"resolution": "4k"}},
        'settings.resolution: "4k" is not allowed for model kling-o1',
        id="o1-4k",
    ),
    pytest.param(
        "omni-video/kling-o1",
        {"contents": [{"type": "prompt", "text": "p"}], "settings": {"multi_shot": True}},
        "settings.multi_shot: is not supported on /omni-video/kling-o1",
        id="o1-multi-shot",
    ),
    # Motion control: orientation required, one image and one video, one element on 3.0 only, no duration.
    pytest.param(
        "motion-control/kling-3.0",
        {"contents": MOTION},
        'settings.character_orientation: is required; allowed values are "image", "video"',
        id="motion-no-orientation",
    ),
    pytest.param(
        "motion-control/kling-3.0",
        {"contents": MOTION, "settings": {"character_orientation": "sideways"}},
        "settings.character_orientation:",
        id="motion-bad-orientation",
    ),
    pytest.param(
        "motion-control/kling-3.0",
        {"contents": [MOTION[0]], "settings": {"character_orientation": "image"}},
        'contents: needs exactly one "video" item (got 0)',
        id="motion-no-video",
    ),
    pytest.param(
        "motion-control/kling-3.0",
        {"contents": [*MOTION, element(1), element(2)], "settings": {"character_orientation": "video"}},
        "contents: has 2 elements; at most 1 is allowed",
        id="motion-two-elements",
    ),
    pytest.param(
        "motion-control/kling-2.6",
        {"contents": [*MOTION, element(1)], "settings": {"character_orientation": "video"}},
        'contents[2].type: "element" is not allowed on /motion-control/kling-2.6',
        id="motion-2.6-element",
    ),
    pytest.param(
        "motion-control/kling-3.0",
        {"contents": MOTION, "settings": {"character_orientation": "video", "duration": 5}},
        "settings.duration: is not supported on /motion-control/kling-3.0 (the output is as long as the motion",
        id="motion-duration",
    ),
    pytest.param(
        "motion-control/kling-3.0",
        {"contents": MOTION, "settings": {"character_orientation": "video", "resolution": "4k"}},
        'settings.resolution: "4k" is not allowed for model kling-3.0',
        id="motion-4k",
    ),
    pytest.param(
        "motion-control/kling-3.0",
        {"contents": MOTION, "settings": {"character_orientation": "video", "audio": "native"}},
        'settings.audio: "native" is not allowed for model kling-3.0; allowed values are "original", "off"',
        id="motion-native",
    ),
    pytest.param(
        "motion-control/kling-3.0",
        {"contents": [MOTION[0], {"type": "video", "url": "data:video/mp4;base64,AAAA"}], "settings": {}},
        "contents[1].url: must be an absolute http:// or https:// URL",
        id="motion-video-base64",
    ),
]


@pytest.mark.parametrize(("action", "body", "fragment"), INVALID)
def test_invalid_body_is_refused_with_a_message_naming_the_field(action: str, body: object, fragment: str) -> None:
    with pytest.raises(InvalidBody) as caught:
        parse(action, body)

    message = caught.value.message
    assert fragment in message
    assert caught.value.field is not None, message
    assert not [leak for leak in LEAKS if leak in message]


def padded_png(megabytes: int) -> str:
    """A real 320x320 PNG followed by zero bytes, as raw Base64 of about that many megabytes."""
    png = base64.b64decode(picture(320, 320))
    png += bytes(-len(png) % 3)  # whole 3-byte groups, so that the padding's Base64 can simply be appended
    return base64.b64encode(png).decode() + "A" * (megabytes * 1024 * 1024 * 4 // 3)


def test_an_image_up_to_50_mb_is_taken_where_v1_takes_10() -> None:
    twelve = padded_png(12)
    with pytest.raises(InvalidBody, match=r"^image: .*at most 10 MB"):
        parse_create_body(Family.VIDEOS, "image2video", {"model_name": "kling-v3", "image": twelve})
    assert parse("image-to-video/kling-3.0", {"contents": [{"type": "first_frame", "url": twelve}]})
    with pytest.raises(InvalidBody, match=r"^contents\[0\]\.url: .*at most 50 MB"):
        parse("image-to-video/kling-3.0", {"contents": [{"type": "first_frame", "url": padded_png(51)}]})


def test_options_are_read_where_the_legacy_fields_are() -> None:
    body = parse(
        "text-to-video/kling-3.0",
        {
            "prompt": "p",
            "settings": {"resolution": "1080p", "duration": 8, "audio": "native"},
            "options": {"callback_url": HOOK, "external_task_id": "mine-1", "watermark_info": {"enabled": True}},
        },
    )

    assert (body.callback_url, body.external_task_id, body.wants_watermark()) == (HOOK, "mine-1", True)
    assert (body.model(), body.mode(), body.duration_s(), body.with_sound(), body.variant()) == (
        "kling-3.0",
        "1080p",
        8.0,
        True,
        "audio",
    )
    assert body.slots()[1] == 1
    dumped = body.model_dump(exclude_none=True)  # what a relay would send on: the options stay where they were
    assert "callback_url" not in dumped
    assert dumped["options"] == {
        "callback_url": HOOK,
        "external_task_id": "mine-1",
        "watermark_info": {"enabled": True},
    }


def test_defaults_apply_and_an_empty_external_id_means_none() -> None:
    body = parse("text-to-video/kling-2.5-turbo", {"prompt": "p", "options": {"external_task_id": ""}})

    assert (body.mode(), body.duration_s(), body.with_sound(), body.external_task_id) == ("720p", 5.0, False, None)
    assert not body.wants_watermark()


def test_turbo_always_has_sound_and_motion_control_has_no_length_in_advance() -> None:
    turbo = parse("image-to-video/kling-3.0-turbo", {"contents": first()})
    motion = parse("motion-control/kling-2.6", {"contents": MOTION, "settings": {"character_orientation": "image"}})

    assert (turbo.with_sound(), turbo.variant()) == (True, "audio")
    assert isinstance(motion, MotionControl)
    assert (motion.duration_s(), motion.longest_output_s(), motion.with_sound()) == (None, 10, True)
    with_element = parse(
        "motion-control/kling-3.0", {"contents": [*MOTION, element(1)], "settings": {"character_orientation": "image"}}
    )
    assert isinstance(with_element, MotionControl)
    assert with_element.longest_output_s() == 30  # an element makes the output follow the video
