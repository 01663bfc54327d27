"""text2video bodies: models, modes and durations, camera control, storyboards, and the fields every body shares."""

from typing import Any

import pytest

from kling_gateway.kling.schemas import ACTIONS, Family, parse_create_body

from .cases import COMMON, LONG, SHOTS, VIDEOS, bad, ok, refusal

VALID = [
    ok(VIDEOS, "text2video", {"prompt": "a cat"}, "minimal"),
    ok(
        VIDEOS,
        "text2video",
        {
            "model_name": "kling-v1",
            "prompt": "a cat on a sofa",
            "negative_prompt": "blur",
            "cfg_scale": 0.7,
            "mode": "std",
            "camera_control": {"type": "simple", "config": {"zoom": 5}},
            "aspect_ratio": "9:16",
            "duration": "5",
            "sound": "off",
            **COMMON,
        },
        "full-camera",
    ),
    ok(VIDEOS, "text2video", {"model": "kling-v1-6", "prompt": "a cat", "duration": "10"}, "legacy-model-field"),
    ok(
        VIDEOS, "text2video", {"model_name": "kling-v2-6", "prompt": "rain", "sound": "on", "mode": "pro"}, "v2-6-sound"
    ),
    ok(VIDEOS, "text2video", {"prompt": "a cat", "camera_control": {"type": "down_back"}}, "camera-preset"),
    ok(
        VIDEOS,
        "text2video",
        {
            "model_name": "kling-v3",
            "multi_shot": True,
            "shot_type": "customize",
            "multi_prompt": SHOTS,
            "duration": "10",
            "sound": "on",
            "mode": "pro",
            "cfg_scale": 0.5,
        },
        "v3-storyboard",
    ),
    ok(
        VIDEOS,
        "text2video",
        {"model_name": "kling-v3", "prompt": "a chase", "multi_shot": True, "shot_type": "intelligence"},
        "v3-intelligence",
    ),
]

INVALID = [
    bad(VIDEOS, "text2video", {}, "prompt: is required", id="required"),
    bad(VIDEOS, "text2video", {"prompt": "  "}, "prompt: must not be empty or only spaces", id="blank"),
    bad(
        VIDEOS,
        "text2video",
        {"prompt": "a", "durationn": "5"},
        "durationn: is not a field of text2video (did you mean duration?); allowed fields are: model_name, model,",
        "callback_url, external_task_id, watermark_info",
        id="unknown-field",
    ),
    bad(
        VIDEOS,
        "text2video",
        {"prompt": "a", "mode": "standard"},
        'mode: "standard" is not allowed; allowed values are "std", "pro"',
        id="enum-mode",
    ),
    bad(
        VIDEOS,
        "text2video",
        {"prompt": "a", "model_name": "kling-v1-5"},
        'model_name: "kling-v1-5" is not allowed; allowed values are "kling-v1", "kling-v1-6", "kling-v2-master"',
        id="enum-model",
    ),
    bad(
        VIDEOS, "text2video", {"prompt": LONG}, "prompt: is 2731 characters long; at most 2500 are allowed", id="length"
    ),
    bad(
        VIDEOS,
        "text2video",
        {"prompt": "a", "cfg_scale": 1.5},
        "cfg_scale: must be between 0 and 1 (got 1.5)",
        id="range",
    ),
    bad(
        VIDEOS, "text2video", {"prompt": "a", "cfg_scale": "0.5"}, 'cfg_scale: must be a number (got "0.5")', id="type"
    ),
    bad(
        VIDEOS,
        "text2video",
        {"prompt": "a", "duration": 5},
        'duration: must be a string such as "5", not a JSON number or other type (got the number 5)',
        id="duration-number",
    ),
    bad(
        VIDEOS,
        "text2video",
        {"prompt": "a", "duration": "7"},
        'duration: "7" is not allowed for model kling-v1; allowed values are "5", "10"',
        id="duration-enum",
    ),
    bad(
        VIDEOS,
        "text2video",
        {"prompt": "a", "model_name": "kling-v3", "duration": "16"},
        'duration: "16" is not allowed for model kling-v3; allowed values are "3" to "15"',
        id="duration-v3",
    ),
    bad(
        VIDEOS,
        "text2video",
        {"prompt": "a", "model_name": "kling-v2-master", "cfg_scale": 0.5},
        "cfg_scale: is not supported by model kling-v2-master",
        id="cfg-v2",
    ),
    bad(
        VIDEOS,
        "text2video",
        {"prompt": "a", "model_name": "kling-v2-master", "mode": "pro"},
        'mode: "pro" is not available for model kling-v2-master',
        id="master-single-tier",
    ),
    bad(
        VIDEOS,
        "text2video",
        {"prompt": "a", "model_name": "kling-v1-6", "sound": "on"},
        'sound: "on" is not supported by model kling-v1-6; sound needs model kling-v2-6 or kling-v3',
        id="sound-model",
    ),
    bad(
        VIDEOS,
        "text2video",
        {"prompt": "a", "model_name": "kling-v2-6", "sound": "on"},
        'sound: "on" needs mode "pro" on model kling-v2-6',
        id="sound-v2-6-std",
    ),
    bad(
        VIDEOS,
        "text2video",
        {"prompt": "a", "duration": "10", "camera_control": {"type": "down_back"}},
        'camera_control: needs duration "5" on model kling-v1',
        id="camera-duration",
    ),
    bad(
        VIDEOS,
        "text2video",
        {"prompt": "a", "model_name": "kling-v1-6", "camera_control": {"type": "down_back"}},
        "camera_control: is not supported by model kling-v1-6; it needs model kling-v1",
        id="camera-model",
    ),
    bad(
        VIDEOS,
        "text2video",
        {"prompt": "a", "camera_control": {"type": "simple", "config": {"zoom": 11}}},
        "camera_control.config.zoom: must be between -10 and 10 (got 11)",
        id="camera-range",
    ),
    bad(
        VIDEOS,
        "text2video",
        {"prompt": "a", "camera_control": {"type": "simple", "config": {"zoom": 1, "pan": 2}}},
        "camera_control.config: exactly one of horizontal, vertical, pan, tilt, roll, zoom must be non-zero "
        "(got 2 non-zero)",
        id="camera-one-axis",
    ),
    bad(
        VIDEOS,
        "text2video",
        {"prompt": "a", "camera_control": {"type": "simple"}},
        'camera_control.config: is required when type is "simple"',
        id="camera-config-required",
    ),
    bad(
        VIDEOS,
        "text2video",
        {"prompt": "a", "camera_control": {"type": "forward_up", "config": {"zoom": 1}}},
        'camera_control.config: is only allowed when type is "simple"',
        id="camera-config-refused",
    ),
    bad(
        VIDEOS,
        "text2video",
        {"prompt": "a", "model": "kling-v1", "model_name": "kling-v1"},
        "model, model_name: give only one of these (model is the legacy name of model_name)",
        id="legacy-and-new-model",
    ),
    bad(
        VIDEOS,
        "text2video",
        {"prompt": "a", "multi_shot": True, "shot_type": "intelligence"},
        "multi_shot: is not supported by model kling-v1; it needs model kling-v3 or kling-v3-omni",
        id="multi-shot-model",
    ),
    bad(
        VIDEOS,
        "text2video",
        {"model_name": "kling-v3", "multi_shot": True, "shot_type": "customize", "multi_prompt": SHOTS},
        'multi_prompt: shot durations add up to 10 s but duration is "5"; they must add up to the total',
        id="shot-sum",
    ),
    bad(
        VIDEOS,
        "text2video",
        {
            "model_name": "kling-v3",
            "duration": "14",
            "multi_shot": True,
            "shot_type": "customize",
            "multi_prompt": [{"index": i, "prompt": "p", "duration": "2"} for i in range(1, 8)],
        },
        "multi_prompt: has 7 items; at most 6 are allowed",
        id="shot-count",
    ),
    bad(
        VIDEOS,
        "text2video",
        {
            "model_name": "kling-v3",
            "multi_shot": True,
            "shot_type": "customize",
            "multi_prompt": [{"index": 1, "prompt": "y" * 513, "duration": "5"}],
        },
        "multi_prompt[0].prompt: is 513 characters long; at most 512 are allowed",
        id="shot-prompt-length",
    ),
    bad(
        VIDEOS,
        "text2video",
        {
            "model_name": "kling-v3",
            "multi_shot": True,
            "shot_type": "customize",
            "multi_prompt": [{"index": 1, "prompt": "p", "duration": "²"}],
        },
        'multi_prompt[0].duration: must be a whole number of seconds such as "3" (got "²")',
        id="shot-duration-superscript",
    ),
    bad(
        VIDEOS,
        "text2video",
        {
            "model_name": "kling-v3",
            "multi_shot": True,
            "shot_type": "customize",
            "multi_prompt": [{"index": 1, "prompt": "p", "duration": "５"}],
        },
        'multi_prompt[0].duration: must be a whole number of seconds such as "3" (got "５")',
        id="shot-duration-fullwidth",
    ),
    bad(
        VIDEOS,
        "text2video",
        {"model_name": "kling-v3", "multi_shot": True, "shot_type": "customize"},
        'multi_prompt: is required when shot_type is "customize"',
        id="storyboard-required",
    ),
    bad(
        VIDEOS,
        "text2video",
        {"model_name": "kling-v3", "prompt": "a", "multi_prompt": SHOTS},
        "multi_prompt: is only allowed when multi_shot is true",
        id="storyboard-without-multi-shot",
    ),
    bad(
        VIDEOS,
        "text2video",
        {"prompt": "a", "watermark_info": {"enabled": "yes"}},
        'watermark_info.enabled: must be true or false (got "yes")',
        id="watermark-type",
    ),
    bad(
        VIDEOS,
        "text2video",
        {"prompt": "a", "callback_url": "ftp://example.com/hook"},
        'callback_url: must be an absolute http:// or https:// URL (got "ftp://example.com/hook")',
        id="callback-url",
    ),
    bad(
        VIDEOS,
        "text2video",
        {"prompt": "a", "callback_url": "https://example.com/" + "a" * 2048},
        "callback_url: is 2068 characters long; at most 2048 are allowed",
        id="callback-url-length",
    ),
    bad(
        VIDEOS,
        "text2video",
        {"prompt": "a", "external_task_id": "a\nb"},
        "external_task_id: must not contain control characters",
        id="external-id-control",
    ),
    bad(
        VIDEOS,
        "text2video",
        {"prompt": "a", "external_task_id": "e" * 129},
        "external_task_id: is 129 characters long; at most 128 are allowed",
        id="external-id-length",
    ),
    bad(
        VIDEOS,
        "text2video",
        {"prompt": "a", "external_task_id": "order/7"},
        'external_task_id: must not contain "/", because the id is used in query paths',
        id="external-id-slash",
    ),
]


@pytest.mark.parametrize(("family", "action", "body"), VALID)
def test_valid_body_is_accepted(family: Family, action: str, body: dict[str, Any]) -> None:
    parsed = parse_create_body(family, action, body)

    assert isinstance(parsed, ACTIONS[family, action].schema)


@pytest.mark.parametrize(("family", "action", "body", "fragments"), INVALID)
def test_invalid_body_is_refused_with_a_message_naming_the_field(
    family: Family, action: str, body: object, fragments: tuple[str, ...]
) -> None:
    message = refusal(family, action, body)

    for fragment in fragments:
        assert fragment in message
