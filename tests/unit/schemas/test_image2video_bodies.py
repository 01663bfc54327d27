"""Bodies that animate pictures: image2video, multi-image2video and motion-control, and the image size rules."""

import base64
import io
from typing import Any

import pytest
from PIL import Image

from kling_gateway.kling.schemas import ACTIONS, Family, parse_create_body

from .cases import B64, COMMON, URL, VIDEO_URL, VIDEOS, bad, ok, picture, refusal

VALID = [
    # image2video
    ok(VIDEOS, "image2video", {"image": URL}, "minimal"),
    ok(VIDEOS, "image2video", {"image_tail": B64}, "end-frame-only"),
    ok(
        VIDEOS,
        "image2video",
        {
            "model_name": "kling-v2-6",
            "image": URL,
            "prompt": "<<<voice_1>>> says hello",
            "negative_prompt": "",
            "sound": "on",
            "voice_list": [{"voice_id": "v-1"}, {"voice_id": "v-2"}],
            "mode": "pro",
            "duration": "10",
            **COMMON,
        },
        "full-voices",
    ),
    ok(
        VIDEOS,
        "image2video",
        {
            "model_name": "kling-v1",
            "image": B64,
            "static_mask": B64,
            "dynamic_masks": [{"mask": B64, "trajectories": [{"x": 0, "y": 0}, {"x": 10, "y": 20}]}],
            "cfg_scale": 0.2,
            "duration": "5",
        },
        "motion-brush",
    ),
    ok(
        VIDEOS,
        "image2video",
        {
            "model_name": "kling-v1-5",
            "image": URL,
            "mode": "pro",
            "camera_control": {"type": "simple", "config": {"pan": -3.5}},
        },
        "camera-simple",
    ),
    ok(
        VIDEOS, "image2video", {"model_name": "kling-v1-6", "image": URL, "image_tail": URL, "mode": "pro"}, "end-frame"
    ),
    # multi-image2video
    ok(VIDEOS, "multi-image2video", {"image_list": [{"image": URL}], "prompt": "they meet"}, "minimal"),
    ok(
        VIDEOS,
        "multi-image2video",
        {
            "model_name": "kling-v1-6",
            "image_list": [{"image": URL}, {"image": B64}, {"image": URL}, {"image": B64}],
            "prompt": "four friends",
            "negative_prompt": "rain",
            "mode": "pro",
            "duration": "10",
            "aspect_ratio": "1:1",
            **COMMON,
        },
        "full",
    ),
    # motion-control
    ok(
        VIDEOS,
        "motion-control",
        {"image_url": URL, "video_url": VIDEO_URL, "character_orientation": "image", "mode": "std"},
        "minimal",
    ),
    ok(
        VIDEOS,
        "motion-control",
        {
            "model_name": "kling-v3",
            "prompt": "a robot dancing",
            "image_url": B64,
            "video_url": VIDEO_URL,
            "element_list": [{"element_id": 7}],
            "keep_original_sound": "no",
            "character_orientation": "video",
            "mode": "pro",
            **COMMON,
        },
        "full",
    ),
]

INVALID = [
    # image2video
    bad(VIDEOS, "image2video", {"prompt": "a"}, "image: is required (unless image_tail is given)", id="required"),
    bad(
        VIDEOS,
        "image2video",
        {"image": "data:image/png;base64," + B64},
        'image: has a "data:...;base64," prefix; send an http(s) URL or raw Base64 image data without it',
        id="data-prefix",
    ),
    bad(
        VIDEOS,
        "image2video",
        {"image": "not base64!"},
        'image: must be an http(s) URL or raw Base64 image data (got "not base64!")',
        id="not-an-image",
    ),
    bad(
        VIDEOS,
        "image2video",
        {"prompt": "x", "image": "AAAA"},
        "image: is not an image Kling can read (send JPEG or PNG, as a URL or raw Base64)",
        id="image-unreadable",
    ),
    bad(
        VIDEOS,
        "image2video",
        {"image": picture(320, 320, "GIF")},
        "image: is GIF data; allowed formats are JPEG and PNG",
        id="image-format",
    ),
    bad(
        VIDEOS,
        "image2video",
        {"image": picture(160, 68)},
        "image: is 160×68 px; width and height must be at least 300 px",
        id="image-too-small",
    ),
    bad(
        VIDEOS,
        "image2video",
        {"image_tail": picture(300, 751)},
        "image_tail: is 300×751 px; the aspect ratio must be between 1:2.5 and 2.5:1",
        id="image-aspect",
    ),
    bad(
        VIDEOS,
        "image2video",
        {"model_name": "kling-v1", "image": B64, "static_mask": picture(299, 320)},
        "static_mask: is 299×320 px; width and height must be at least 300 px",
        id="mask-too-small",
    ),
    bad(
        VIDEOS,
        "image2video",
        {
            "model_name": "kling-v1",
            "image": B64,
            "dynamic_masks": [{"mask": picture(320, 320, "BMP"), "trajectories": [{"x": 1, "y": 1}] * 2}],
        },
        "dynamic_masks[0].mask: is BMP data; allowed formats are JPEG and PNG",
        id="mask-format",
    ),
    bad(
        VIDEOS,
        "image2video",
        {"image": URL, "image_tail": URL, "camera_control": {"type": "simple", "config": {"zoom": 1}}},
        "image, image_tail / static_mask, dynamic_masks / camera_control: only one of these groups may be given",
        id="exclusive-groups",
    ),
    bad(
        VIDEOS,
        "image2video",
        {"image": URL, "image_tail": URL, "model_name": "kling-v1-6"},
        'image_tail: needs mode "pro" on model kling-v1-6',
        id="tail-mode",
    ),
    bad(
        VIDEOS,
        "image2video",
        {"image": URL, "image_tail": URL, "model_name": "kling-v2-master"},
        "image_tail: is not supported by model kling-v2-master",
        id="tail-model",
    ),
    bad(
        VIDEOS,
        "image2video",
        {"image": URL, "static_mask": B64, "model_name": "kling-v1-6"},
        "static_mask, dynamic_masks: is not supported by model kling-v1-6; it needs model kling-v1 or kling-v1-5",
        id="brush-model",
    ),
    bad(
        VIDEOS,
        "image2video",
        {"image": URL, "dynamic_masks": [{"mask": B64, "trajectories": [{"x": 1, "y": 1}]}]},
        "dynamic_masks[0].trajectories: must have at least 2 items (got 1)",
        id="trajectory-points",
    ),
    bad(
        VIDEOS,
        "image2video",
        {"image": URL, "dynamic_masks": [{"mask": B64, "trajectories": [{"x": 1, "y": 1}] * 2}] * 7},
        "dynamic_masks: has 7 items; at most 6 are allowed",
        id="mask-count",
    ),
    bad(
        VIDEOS,
        "image2video",
        {"image": URL, "model_name": "kling-v1-5", "mode": "pro", "camera_control": {"type": "down_back"}},
        'camera_control.type: must be "simple" for image2video',
        id="camera-type",
    ),
    bad(
        VIDEOS,
        "image2video",
        {"image": URL, "model_name": "kling-v2-6", "mode": "pro", "voice_list": [{"voice_id": "v"}]},
        'voice_list: is only allowed with sound "on"',
        id="voices-need-sound",
    ),
    bad(
        VIDEOS,
        "image2video",
        {"image": URL, "model_name": "kling-v2-6", "mode": "pro", "sound": "on", "voice_list": [{"voice_id": "v"}] * 3},
        "voice_list: has 3 items; at most 2 are allowed",
        id="voice-count",
    ),
    bad(
        VIDEOS,
        "image2video",
        {"image": URL, "model_name": "kling-v2-1", "voice_list": [{"voice_id": "v"}]},
        "voice_list: is not supported by model kling-v2-1; it needs model kling-v2-6 or kling-v3",
        id="voices-model",
    ),
    bad(
        VIDEOS,
        "image2video",
        {"image": URL, "model_name": "kling-v2-1", "cfg_scale": 0.3},
        "cfg_scale: is not supported by model kling-v2-1",
        id="cfg-v2",
    ),
    bad(
        VIDEOS,
        "image2video",
        {"image": URL, "aspect_ratio": "16:9"},
        "aspect_ratio: is not a field of image2video",
        id="unknown-field",
    ),
    # multi-image2video
    bad(
        VIDEOS,
        "multi-image2video",
        {"image_list": [{"image": URL}]},
        "prompt: is required",
        id="required",
    ),
    bad(
        VIDEOS,
        "multi-image2video",
        {"image_list": [{"image": URL}] * 5, "prompt": "p"},
        "image_list: has 5 items; at most 4 are allowed",
        id="image-count",
    ),
    bad(
        VIDEOS,
        "multi-image2video",
        {"image_list": [{"image": URL}], "prompt": "p", "model_name": "kling-v1"},
        'model_name: "kling-v1" is not allowed; allowed values are "kling-v1-6"',
        id="model-only-v1-6",
    ),
    bad(
        VIDEOS,
        "multi-image2video",
        {"image_list": [{"image": URL}], "prompt": "p", "duration": "7"},
        'duration: "7" is not allowed; allowed values are "5", "10"',
        id="duration",
    ),
    bad(
        VIDEOS,
        "multi-image2video",
        {"image_list": [{"image": "data:image/jpeg;base64,/9j/"}], "prompt": "p"},
        'image_list[0].image: has a "data:...;base64," prefix; send an http(s) URL or raw Base64 image data',
        id="data-prefix",
    ),
    # motion-control
    bad(
        VIDEOS,
        "motion-control",
        {"image_url": URL, "video_url": VIDEO_URL},
        'mode: is required; allowed values are "std", "pro"',
        'character_orientation: is required; allowed values are "image", "video"',
        id="required",
    ),
    bad(
        VIDEOS,
        "motion-control",
        {
            "image_url": URL,
            "video_url": VIDEO_URL,
            "character_orientation": "image",
            "mode": "std",
            "element_list": [{"element_id": 1}, {"element_id": 2}],
        },
        "element_list: has 2 items; at most 1 is allowed",
        id="element-count",
    ),
    bad(
        VIDEOS,
        "motion-control",
        {
            "image_url": URL,
            "video_url": VIDEO_URL,
            "character_orientation": "image",
            "mode": "std",
            "model_name": "kling-v2-5-turbo",
        },
        'model_name: "kling-v2-5-turbo" is not allowed; allowed values are "kling-v2-6", "kling-v3"',
        id="model-enum",
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


def camera_jpeg() -> str:
    """Return a JPEG carrying a second picture, as phone cameras write (Pillow reads it as MPO)."""
    buffer = io.BytesIO()
    frame = Image.new("RGB", (320, 320), "white")
    frame.save(buffer, "MPO", save_all=True, append_images=[frame])
    return base64.b64encode(buffer.getvalue()).decode()


@pytest.mark.parametrize(
    "image",
    [picture(300, 300), picture(750, 300), picture(300, 750, "JPEG"), camera_jpeg()],
    ids=["smallest", "widest", "tallest-jpeg", "camera-jpeg"],
)
def test_an_image_within_the_limits_is_accepted(image: str) -> None:
    parsed = parse_create_body(VIDEOS, "image2video", {"image": image})

    assert parsed.model_dump()["image"] == image
