"""The request schemas accept what the Kling reference allows and refuse the rest with a readable message."""

import base64
import io
import wave
from typing import Any

import pytest
from PIL import Image

from kling_gateway.kling.schemas import (
    ACTIONS,
    SYNC_CALLS,
    CreateBody,
    Family,
    InvalidBody,
    PackType,
    parse_body,
    parse_create_body,
)


def picture(width: int, height: int, kind: str = "PNG") -> str:
    """Return a plain picture of the given size and format as raw Base64."""
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), "white").save(buffer, kind)
    return base64.b64encode(buffer.getvalue()).decode()


def silence() -> str:
    """Return a tenth of a second of silent wav as raw Base64."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as track:
        track.setnchannels(1)
        track.setsampwidth(2)
        track.setframerate(8000)
        track.writeframes(b"\0\0" * 800)
    return base64.b64encode(buffer.getvalue()).decode()


URL = "https://cdn.example.com/in/cat.png"
B64 = picture(320, 320)
JPEG_B64 = picture(400, 300, "JPEG")
AUDIO_B64 = silence()
OGG_B64 = base64.b64encode(b"OggS\0\2" + bytes(64)).decode()
VIDEO_URL = "https://cdn.example.com/in/dance.mp4"
AUDIO_URL = "https://cdn.example.com/in/voice.mp3"
COMMON = {
    "callback_url": "https://hooks.example.com/kling?user=7",
    "external_task_id": "order-2024-0001",
    "watermark_info": {"enabled": True},
}
SHOTS = [
    {"index": 1, "prompt": "a fox wakes up", "duration": "4"},
    {"index": 2, "prompt": "the fox runs into the snow", "duration": "6"},
]
FACE_TIMES = {"sound_start_time": 0, "sound_end_time": 3000, "sound_insert_time": 0}
FACE = {"face_id": "0", "audio_id": "audio-1", **FACE_TIMES}

VIDEOS, IMAGES = Family.VIDEOS, Family.IMAGES


def ok(family: Family, action: str, body: dict[str, Any], id: str) -> Any:
    return pytest.param(family, action, body, id=f"{action}:{id}")


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
    ok(VIDEOS, "omni-video", {"prompt": "a fox", "aspect_ratio": "16:9"}, "minimal"),
    ok(
        VIDEOS,
        "omni-video",
        {
            "model_name": "kling-video-o1",
            "prompt": "<<<image_1>>> turns into <<<image_2>>>",
            "image_list": [{"image_url": URL, "type": "first_frame"}, {"image_url": B64, "type": "end_frame"}],
            "element_list": [{"element_id": 831922345719271433}],
            "mode": "std",
            "duration": "10",
            **COMMON,
        },
        "full-frames",
    ),
    ok(
        VIDEOS,
        "omni-video",
        {
            "prompt": "in the style of <<<video_1>>>",
            "image_list": [{"image_url": URL}],
            "video_list": [{"video_url": VIDEO_URL, "refer_type": "feature", "keep_original_sound": "no"}],
            "aspect_ratio": "1:1",
            "duration": "7",
        },
        "feature-video",
    ),
    ok(
        VIDEOS,
        "omni-video",
        {"prompt": "make it snow", "video_list": [{"video_url": VIDEO_URL, "refer_type": "base"}]},
        "base-edit",
    ),
    ok(
        VIDEOS,
        "omni-video",
        {
            "model_name": "kling-v3-omni",
            "multi_shot": True,
            "shot_type": "customize",
            "multi_prompt": SHOTS,
            "duration": "10",
            "sound": "on",
            "aspect_ratio": "9:16",
        },
        "v3-omni-storyboard",
    ),
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
    ok(VIDEOS, "multi-elements", {"session_id": "s-1", "edit_mode": "removal", "prompt": "remove the dog"}, "minimal"),
    ok(
        VIDEOS,
        "multi-elements",
        {
            "model_name": "kling-v1-6",
            "session_id": "s-1",
            "edit_mode": "addition",
            "image_list": [{"image": URL}, {"image": B64}],
            "prompt": "Using the context of <<<video_1>>>, add the hat from <<<image_1>>>",
            "negative_prompt": "blur",
            "mode": "pro",
            "duration": "10",
            **COMMON,
        },
        "full",
    ),
    ok(
        VIDEOS,
        "lip-sync",
        {"input": {"video_id": "vid-1", "mode": "text2video", "text": "hello", "voice_id": "girlfriend_1"}},
        "minimal",
    ),
    ok(
        VIDEOS,
        "lip-sync",
        {
            "input": {
                "video_id": "vid-1",
                "mode": "text2video",
                "text": "你好",
                "voice_id": "girlfriend_1",
                "voice_language": "zh",
                "voice_speed": 1.5,
            },
            **COMMON,
        },
        "full-text",
    ),
    ok(
        VIDEOS,
        "lip-sync",
        {"input": {"video_url": VIDEO_URL, "mode": "audio2video", "audio_type": "url", "audio_url": AUDIO_URL}},
        "audio-url",
    ),
    ok(
        VIDEOS,
        "lip-sync",
        {"input": {"video_id": "vid-1", "mode": "audio2video", "audio_type": "file", "audio_file": AUDIO_B64}},
        "audio-file",
    ),
    ok(VIDEOS, "advanced-lip-sync", {"session_id": "s-1", "face_choose": [FACE]}, "minimal"),
    ok(
        VIDEOS,
        "advanced-lip-sync",
        {
            "session_id": "s-1",
            "face_choose": [
                {
                    "face_id": "0",
                    "sound_file": AUDIO_URL,
                    "sound_start_time": 500,
                    "sound_end_time": 4500,
                    "sound_insert_time": 1000,
                    "sound_volume": 1.5,
                    "original_audio_volume": 0,
                }
            ],
            **COMMON,
        },
        "full",
    ),
    ok(VIDEOS, "video-extend", {"video_id": "vid-1"}, "minimal"),
    ok(
        VIDEOS,
        "video-extend",
        {"video_id": "vid-1", "prompt": "keep walking", "negative_prompt": "blur", "cfg_scale": 1, **COMMON},
        "full",
    ),
    ok(VIDEOS, "effects", {"effect_scene": "bloombloom", "input": {"image": URL, "duration": "5"}}, "minimal"),
    ok(VIDEOS, "effects", {"effect_scene": "hug_pro", "input": {"images": [URL, B64], "duration": "5"}}, "dual"),
    ok(
        VIDEOS,
        "effects",
        {
            "effect_scene": "hug",
            "input": {"images": [URL, B64], "duration": "10", "model_name": "kling-v1-6", "mode": "pro"},
            **COMMON,
        },
        "full-legacy",
    ),
    ok(VIDEOS, "avatar/image2video", {"image": URL, "audio_id": "audio-1"}, "minimal"),
    ok(
        VIDEOS,
        "avatar/image2video",
        {"image": B64, "sound_file": AUDIO_B64, "prompt": "smiles, then nods", "mode": "pro", **COMMON},
        "full",
    ),
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
    ok(IMAGES, "generations", {"prompt": "a red bicycle"}, "minimal"),
    ok(
        IMAGES,
        "generations",
        {
            "model_name": "kling-v1-5",
            "prompt": "the same person in a garden",
            "image": URL,
            "image_reference": "subject",
            "image_fidelity": 0.6,
            "human_fidelity": 0.4,
            "resolution": "1k",
            "n": 4,
            "aspect_ratio": "3:2",
            **COMMON,
        },
        "full-reference",
    ),
    ok(
        IMAGES,
        "generations",
        {
            "model_name": "kling-v2",
            "prompt": "a panorama",
            "negative_prompt": "people",
            "element_list": [{"element_id": 1}],
            "resolution": "2k",
            "n": 9,
            "aspect_ratio": "21:9",
        },
        "text-2k",
    ),
    ok(IMAGES, "omni-image", {"prompt": "a logo"}, "minimal"),
    ok(
        IMAGES,
        "omni-image",
        {
            "model_name": "kling-image-o1",
            "prompt": "<<<image_1>>> wearing <<<image_2>>>",
            "image_list": [{"image": URL}, {"image": B64}],
            "element_list": [{"element_id": 3}],
            "resolution": "2k",
            "n": 2,
            "aspect_ratio": "auto",
            **COMMON,
        },
        "full",
    ),
    ok(IMAGES, "multi-image2image", {"subject_image_list": [{"subject_image": URL}]}, "minimal"),
    ok(
        IMAGES,
        "multi-image2image",
        {
            "model_name": "kling-v2-1",
            "prompt": "two cats in a kitchen",
            "subject_image_list": [{"subject_image": URL}, {"subject_image": B64}],
            "scene_image": URL,
            "style_image": B64,
            "n": 3,
            "aspect_ratio": "4:3",
            **COMMON,
        },
        "full",
    ),
    ok(IMAGES, "kolors-virtual-try-on", {"human_image": URL, "cloth_image": JPEG_B64}, "minimal"),
    ok(
        IMAGES,
        "kolors-virtual-try-on",
        {
            "model_name": "kolors-virtual-try-on-v1-5",
            "human_image": B64,
            "cloth_image": URL,
            **COMMON,
        },
        "full",
    ),
    ok(IMAGES, "editing/expand", {"image": URL, "up_expansion_ratio": 0.5}, "minimal"),
    ok(
        IMAGES,
        "editing/expand",
        {
            "image": B64,
            "up_expansion_ratio": 0.25,
            "down_expansion_ratio": 0.25,
            "left_expansion_ratio": 0.5,
            "right_expansion_ratio": 0,
            "prompt": "more sky",
            "n": 2,
            **COMMON,
        },
        "full",
    ),
]


@pytest.mark.parametrize(("family", "action", "body"), VALID)
def test_valid_body_is_accepted(family: Family, action: str, body: dict[str, Any]) -> None:
    parsed = parse_create_body(family, action, body)

    assert isinstance(parsed, ACTIONS[family, action].schema)


def test_every_action_has_a_minimal_and_a_full_example() -> None:
    ids = {param.id for param in VALID}

    for family, action in ACTIONS:
        assert f"{action}:minimal" in ids, (family, action)
        assert any(i is not None and i.startswith(f"{action}:full") for i in ids), (family, action)


def bad(family: Family, action: str, body: object, *fragments: str, id: str) -> Any:
    return pytest.param(family, action, body, fragments, id=f"{action}:{id}")


LONG = "x" * 2731
INVALID = [
    # text2video
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
    # omni-video
    bad(
        VIDEOS,
        "omni-video",
        {"prompt": "a"},
        'aspect_ratio: is required unless image_list has a "first_frame" image or video_list has a "base" video; '
        'allowed values are "16:9", "9:16", "1:1"',
        id="aspect-required",
    ),
    bad(VIDEOS, "omni-video", {"aspect_ratio": "1:1"}, "prompt: is required", id="prompt-required"),
    bad(
        VIDEOS,
        "omni-video",
        {"prompt": "a", "aspect_ratio": "1:1", "duration": "7"},
        'duration: "7" is not allowed for model kling-video-o1; allowed values are "5", "10"',
        id="pure-text-duration",
    ),
    bad(
        VIDEOS,
        "omni-video",
        {"prompt": "a", "image_list": [{"image_url": URL}], "aspect_ratio": "1:1", "duration": "11"},
        'duration: "11" is not allowed for model kling-video-o1; allowed values are "3" to "10"',
        id="o1-duration",
    ),
    bad(
        VIDEOS,
        "omni-video",
        {"prompt": "a", "image_list": [{"image_url": URL, "type": "end_frame"}], "aspect_ratio": "1:1"},
        'image_list: an "end_frame" image needs a "first_frame" image too',
        id="end-needs-first",
    ),
    bad(
        VIDEOS,
        "omni-video",
        {"prompt": "a", "image_list": [{"image_url": URL, "type": "last_frame"}]},
        'image_list[0].type: "last_frame" is not allowed; allowed values are "first_frame", "end_frame"',
        id="frame-type",
    ),
    bad(
        VIDEOS,
        "omni-video",
        {
            "prompt": "a",
            "image_list": [{"image_url": URL}] * 3,
            "element_list": [{"element_id": 1}] * 2,
            "video_list": [{"video_url": VIDEO_URL, "refer_type": "feature"}],
            "aspect_ratio": "1:1",
        },
        "image_list, element_list: 3 images and 2 elements make 5; at most 4 are allowed with a reference video",
        id="reference-count",
    ),
    bad(
        VIDEOS,
        "omni-video",
        {"prompt": "a", "aspect_ratio": "1:1", "video_list": [{"video_url": VIDEO_URL, "refer_type": "feature"}] * 2},
        "video_list: has 2 items; at most 1 is allowed",
        id="video-count",
    ),
    bad(
        VIDEOS,
        "omni-video",
        {
            "model_name": "kling-v3-omni",
            "prompt": "a",
            "sound": "on",
            "video_list": [{"video_url": VIDEO_URL, "refer_type": "base"}],
        },
        'sound: must be "off" when video_list is given',
        id="sound-with-video",
    ),
    bad(
        VIDEOS,
        "omni-video",
        {"prompt": "a", "aspect_ratio": "1:1", "sound": "on"},
        'sound: "on" is not supported by model kling-video-o1; sound needs model kling-v3-omni',
        id="sound-model",
    ),
    bad(
        VIDEOS,
        "omni-video",
        {
            "prompt": "a",
            "image_list": [{"image_url": URL, "type": "first_frame"}],
            "video_list": [{"video_url": VIDEO_URL, "refer_type": "base"}],
        },
        'image_list: first_frame and end_frame images are not allowed when editing a "base" video',
        id="frames-with-base",
    ),
    bad(
        VIDEOS,
        "omni-video",
        {"prompt": "a", "video_list": [{"video_url": B64, "refer_type": "base"}]},
        "video_list[0].video_url: must be an absolute http:// or https:// URL",
        id="video-url",
    ),
    bad(
        VIDEOS,
        "omni-video",
        {"prompt": "a", "video_list": [{"video_url": VIDEO_URL}]},
        'video_list[0].refer_type: is required; allowed values are "feature", "base"',
        id="refer-type-required",
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
    # multi-elements
    bad(
        VIDEOS,
        "multi-elements",
        {"prompt": "p"},
        "session_id: is required",
        'edit_mode: is required; allowed values are "addition", "swap", "removal"',
        id="required",
    ),
    bad(
        VIDEOS,
        "multi-elements",
        {"session_id": "s", "edit_mode": "add", "prompt": "p"},
        'edit_mode: "add" is not allowed; allowed values are "addition", "swap", "removal"',
        id="enum",
    ),
    bad(
        VIDEOS,
        "multi-elements",
        {"session_id": "s", "edit_mode": "addition", "prompt": "p", "image_list": [{"image": URL}] * 3},
        'image_list: edit_mode "addition" needs 1 to 2 images (got 3)',
        id="addition-count",
    ),
    bad(
        VIDEOS,
        "multi-elements",
        {"session_id": "s", "edit_mode": "swap", "prompt": "p"},
        'image_list: edit_mode "swap" needs exactly 1 image (got 0)',
        id="swap-count",
    ),
    bad(
        VIDEOS,
        "multi-elements",
        {"session_id": "s", "edit_mode": "removal", "prompt": "p", "image_list": [{"image": URL}]},
        'image_list: must be left out when edit_mode is "removal"',
        id="removal-images",
    ),
    # lip-sync
    bad(VIDEOS, "lip-sync", {}, "input: is required", id="required"),
    bad(
        VIDEOS,
        "lip-sync",
        {"input": {"mode": "text2video", "text": "hi", "voice_id": "v"}},
        "input.video_id, input.video_url: give exactly one of these; one is required",
        id="video-required",
    ),
    bad(
        VIDEOS,
        "lip-sync",
        {"input": {"mode": "text2video", "video_id": "x", "video_url": VIDEO_URL, "text": "hi", "voice_id": "v"}},
        "input.video_id, input.video_url: give exactly one of these; only one may be given",
        id="video-exclusive",
    ),
    bad(
        VIDEOS,
        "lip-sync",
        {"input": {"mode": "text2video", "video_id": "x"}},
        'input.text: is required when mode is "text2video"',
        'input.voice_id: is required when mode is "text2video"',
        id="text-mode-fields",
    ),
    bad(
        VIDEOS,
        "lip-sync",
        {"input": {"mode": "text2video", "video_id": "x", "text": "t" * 121, "voice_id": "v"}},
        "input.text: is 121 characters long; at most 120 are allowed",
        id="text-length",
    ),
    bad(
        VIDEOS,
        "lip-sync",
        {"input": {"mode": "text2video", "video_id": "x", "text": "hi", "voice_id": "v", "voice_speed": 2.5}},
        "input.voice_speed: must be between 0.8 and 2 (got 2.5)",
        id="speed-range",
    ),
    bad(
        VIDEOS,
        "lip-sync",
        {"input": {"mode": "text2video", "video_id": "x", "text": "hi", "voice_id": "v", "voice_speed": 1.25}},
        "input.voice_speed: must be a multiple of 0.1 (got 1.25)",
        id="speed-step",
    ),
    bad(
        VIDEOS,
        "lip-sync",
        {"input": {"mode": "audio2video", "video_id": "x"}},
        'input.audio_type: is required when mode is "audio2video"; allowed values are "file", "url"',
        id="audio-type-required",
    ),
    bad(
        VIDEOS,
        "lip-sync",
        {"input": {"mode": "audio2video", "video_id": "x", "audio_type": "file", "audio_url": AUDIO_URL}},
        'input.audio_file: is required when audio_type is "file"',
        'input.audio_url: is only allowed when audio_type is "url"',
        id="audio-source",
    ),
    bad(
        VIDEOS,
        "lip-sync",
        {
            "input": {
                "mode": "audio2video",
                "video_id": "x",
                "audio_type": "file",
                "audio_file": "data:audio/mp3;base64,AAAA",
            }
        },
        'input.audio_file: has a "data:...;base64," prefix; send raw Base64 audio data without it',
        id="data-prefix",
    ),
    bad(
        VIDEOS,
        "lip-sync",
        {"input": {"mode": "audio2video", "video_id": "x", "audio_type": "file", "audio_file": OGG_B64}},
        "input.audio_file: is not audio Kling can read (send mp3, wav, m4a or aac, as raw Base64)",
        id="audio-format",
    ),
    bad(
        VIDEOS,
        "lip-sync",
        {"input": {"mode": "audio2video", "video_id": "x", "audio_type": "url", "audio_url": AUDIO_URL, "text": "hi"}},
        'input.text: is only allowed when mode is "text2video"',
        id="text-in-audio-mode",
    ),
    bad(
        VIDEOS,
        "lip-sync",
        {"input": {"mode": "sing", "video_id": "x"}},
        'input.mode: "sing" is not allowed',
        id="mode-enum",
    ),
    # advanced-lip-sync
    bad(VIDEOS, "advanced-lip-sync", {"face_choose": [FACE]}, "session_id: is required", id="required"),
    bad(
        VIDEOS,
        "advanced-lip-sync",
        {"session_id": "s", "face_choose": [{**FACE, "sound_file": AUDIO_URL}]},
        "face_choose[0].audio_id, face_choose[0].sound_file: give exactly one of these; only one may be given",
        id="audio-exclusive",
    ),
    bad(
        VIDEOS,
        "advanced-lip-sync",
        {"session_id": "s", "face_choose": [{**FACE_TIMES, "face_id": "0", "sound_file": B64}]},
        "face_choose[0].sound_file: is not audio Kling can read (send mp3, wav, m4a or aac, as a URL or raw Base64)",
        id="audio-format",
    ),
    bad(
        VIDEOS,
        "advanced-lip-sync",
        {"session_id": "s", "face_choose": [{**FACE, "sound_volume": 2.5}]},
        "face_choose[0].sound_volume: must be between 0 and 2 (got 2.5)",
        id="volume-range",
    ),
    bad(
        VIDEOS,
        "advanced-lip-sync",
        {"session_id": "s", "face_choose": [{**FACE, "sound_end_time": 0}]},
        "face_choose[0].sound_end_time: must be later than sound_start_time (0 ms)",
        id="times",
    ),
    bad(
        VIDEOS,
        "advanced-lip-sync",
        {"session_id": "s", "face_choose": []},
        "face_choose: must have exactly 1 item (got 0)",
        id="face-count",
    ),
    bad(
        VIDEOS,
        "advanced-lip-sync",
        {"session_id": "s", "face_choose": [{**FACE, "sound_start_time": 1.5}]},
        "face_choose[0].sound_start_time: must be a whole number (got 1.5)",
        id="type",
    ),
    # video-extend
    bad(VIDEOS, "video-extend", {"prompt": "more"}, "video_id: is required", id="required"),
    bad(
        VIDEOS,
        "video-extend",
        {"video_id": "v", "cfg_scale": -0.1},
        "cfg_scale: must be between 0 and 1 (got -0.1)",
        id="range",
    ),
    bad(
        VIDEOS,
        "video-extend",
        {"video_id": "v", "model_name": "kling-v1"},
        "model_name: is not a field of video-extend; allowed fields are: video_id, prompt, negative_prompt, cfg_scale,",
        id="no-model-field",
    ),
    bad(VIDEOS, "video-extend", {"video_id": "v", "prompt": LONG}, "prompt: is 2731 characters long", id="length"),
    # effects
    bad(VIDEOS, "effects", {"input": {"image": URL, "duration": "5"}}, "effect_scene: is required", id="required"),
    bad(
        VIDEOS,
        "effects",
        {"effect_scene": "Pet Lion", "input": {"image": URL, "duration": "5"}},
        'effect_scene: must be a scene name of lowercase letters, digits and underscores (got "Pet Lion")',
        id="scene-name",
    ),
    bad(
        VIDEOS,
        "effects",
        {"effect_scene": "squish", "input": {"images": [URL, URL], "duration": "5"}},
        "input.image: is required for a single-image scene",
        "input.images: is only allowed for the dual-person scenes",
        id="single-needs-image",
    ),
    bad(
        VIDEOS,
        "effects",
        {"effect_scene": "kiss_pro", "input": {"images": [URL], "duration": "5"}},
        "input.images: must have exactly 2 items (got 1)",
        id="dual-count",
    ),
    bad(
        VIDEOS,
        "effects",
        {"effect_scene": "kiss_pro", "input": {"images": [URL, URL], "duration": "10"}},
        'input.duration: "10" is not allowed; allowed values are "5"',
        id="dual-duration",
    ),
    bad(
        VIDEOS,
        "effects",
        {"effect_scene": "fight", "input": {"images": [URL, URL], "duration": "5", "model_name": "kling-v1"}},
        'input.model_name: "kling-v1" is not allowed; allowed values are "kling-v1-6"',
        id="fight-model",
    ),
    bad(
        VIDEOS,
        "effects",
        {"effect_scene": "squish", "input": {"image": URL, "duration": "5", "mode": "pro"}},
        "input.mode: is only allowed for the legacy scenes hug, kiss, heart_gesture and fight",
        id="mode-refused",
    ),
    bad(
        VIDEOS,
        "effects",
        {"effect_scene": "squish", "input": {"image": URL, "duration": 5}},
        'input.duration: must be a string such as "5"',
        id="duration-number",
    ),
    # avatar
    bad(
        VIDEOS,
        "avatar/image2video",
        {"image": URL},
        "audio_id, sound_file: give exactly one of these; one is required",
        id="audio-required",
    ),
    bad(
        VIDEOS,
        "avatar/image2video",
        {"image": URL, "audio_id": "a", "sound_file": AUDIO_URL},
        "audio_id, sound_file: give exactly one of these; only one may be given",
        id="audio-exclusive",
    ),
    bad(
        VIDEOS,
        "avatar/image2video",
        {"image": URL, "sound_file": OGG_B64},
        "sound_file: is not audio Kling can read (send mp3, wav, m4a or aac, as a URL or raw Base64)",
        id="audio-format",
    ),
    bad(VIDEOS, "avatar/image2video", {"audio_id": "a"}, "image: is required", id="image-required"),
    bad(
        VIDEOS,
        "avatar/image2video",
        {"image": URL, "audio_id": "a", "mode": "ultra"},
        'mode: "ultra" is not allowed; allowed values are "std", "pro"',
        id="mode-enum",
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
    # generations
    bad(IMAGES, "generations", {}, "prompt: is required", id="required"),
    bad(IMAGES, "generations", {"prompt": "p", "n": 10}, "n: must be between 1 and 9 (got 10)", id="n-range"),
    bad(IMAGES, "generations", {"prompt": "p", "n": 2.0}, "n: must be a whole number (got 2.0)", id="n-type"),
    bad(
        IMAGES,
        "generations",
        {"prompt": "p", "image": URL, "negative_prompt": "blur"},
        "negative_prompt: is not allowed together with image",
        id="negative-with-image",
    ),
    bad(
        IMAGES,
        "generations",
        {"prompt": "p", "model_name": "kling-v1-5", "image_reference": "face"},
        "image: is required when image_reference is given",
        id="reference-needs-image",
    ),
    bad(
        IMAGES,
        "generations",
        {"prompt": "p", "image": URL, "image_reference": "face", "human_fidelity": 0.5, "model_name": "kling-v1-5"},
        'human_fidelity: is only allowed when image_reference is "subject"',
        id="human-fidelity",
    ),
    bad(
        IMAGES,
        "generations",
        {"prompt": "p", "image": URL, "image_reference": "subject"},
        "image_reference: is not supported by model kling-v1; it needs model kling-v1-5 or kling-v2-1",
        id="reference-model",
    ),
    bad(
        IMAGES,
        "generations",
        {"prompt": "p", "aspect_ratio": "21:9"},
        'aspect_ratio: "21:9" is not supported by model kling-v1',
        id="aspect-v1",
    ),
    bad(
        IMAGES,
        "generations",
        {"prompt": "p", "aspect_ratio": "5:4"},
        'aspect_ratio: "5:4" is not allowed; allowed values are "16:9", "9:16", "1:1", "4:3", "3:4", "3:2", '
        '"2:3", "21:9"',
        id="aspect-enum",
    ),
    bad(
        IMAGES,
        "generations",
        {"prompt": "p", "image_fidelity": 1.2, "image": URL},
        "image_fidelity: must be between 0 and 1 (got 1.2)",
        id="fidelity-range",
    ),
    bad(
        IMAGES,
        "generations",
        {"prompt": "p", "resolution": "2k"},
        'resolution: "2k" is not supported by model kling-v1; send "1k"',
        id="2k-model",
    ),
    bad(
        IMAGES,
        "generations",
        {"prompt": "p", "image": URL, "element_list": [{"element_id": i} for i in range(1, 11)]},
        "image, element_list: 1 image and 10 elements make 11; at most 10 are allowed",
        id="reference-count",
    ),
    bad(
        IMAGES,
        "generations",
        {"prompt": "p", "image": "data:image/png;base64," + B64},
        'image: has a "data:...;base64," prefix; send an http(s) URL or raw Base64 image data without it',
        id="data-prefix",
    ),
    bad(
        IMAGES,
        "generations",
        {"prompt": "p", "model_name": "kling-v2-new"},
        "image: is required by model kling-v2-new, which only restyles an image",
        id="restyle-needs-image",
    ),
    # omni-image
    bad(IMAGES, "omni-image", {"image_list": [{"image": URL}]}, "prompt: is required", id="required"),
    bad(
        IMAGES,
        "omni-image",
        {"prompt": "p", "image_list": [{"image": URL}] * 6, "element_list": [{"element_id": 1}] * 5},
        "image_list, element_list: 6 images and 5 elements make 11; at most 10 are allowed",
        id="reference-count",
    ),
    bad(
        IMAGES,
        "omni-image",
        {"prompt": "p", "model_name": "kling-v2"},
        'model_name: "kling-v2" is not allowed; allowed values are "kling-image-o1"',
        id="model-enum",
    ),
    bad(IMAGES, "omni-image", {"prompt": "p", "n": 0}, "n: must be between 1 and 9 (got 0)", id="n-range"),
    # multi-image2image
    bad(IMAGES, "multi-image2image", {"prompt": "p"}, "subject_image_list: is required", id="required"),
    bad(
        IMAGES,
        "multi-image2image",
        {"subject_image_list": [{"subject_image": URL}] * 5},
        "subject_image_list: has 5 items; at most 4 are allowed",
        id="subject-count",
    ),
    bad(
        IMAGES,
        "multi-image2image",
        {"subject_image_list": []},
        "subject_image_list: must have at least 1 item (got 0)",
        id="subject-empty",
    ),
    bad(
        IMAGES,
        "multi-image2image",
        {"subject_image_list": [{"image": URL}]},
        "subject_image_list[0].image: is not a field of subject_image_list[0]; allowed fields are: subject_image",
        "subject_image_list[0].subject_image: is required",
        id="item-field",
    ),
    # kolors-virtual-try-on
    bad(IMAGES, "kolors-virtual-try-on", {"human_image": URL}, "cloth_image: is required", id="required"),
    bad(
        IMAGES,
        "kolors-virtual-try-on",
        {"human_image": URL, "cloth_image": URL, "n": 2},
        "n: is not a field of kolors-virtual-try-on",
        id="no-n",
    ),
    bad(
        IMAGES,
        "kolors-virtual-try-on",
        {"human_image": URL, "cloth_image": "", "model_name": "kolors-virtual-try-on-v2"},
        "cloth_image: must not be empty; send an http(s) URL or raw Base64 image data",
        'model_name: "kolors-virtual-try-on-v2" is not allowed',
        id="empty-and-enum",
    ),
    # editing/expand
    bad(IMAGES, "editing/expand", {"up_expansion_ratio": 1}, "image: is required", id="required"),
    bad(
        IMAGES,
        "editing/expand",
        {"image": URL, "left_expansion_ratio": 2.5},
        "left_expansion_ratio: must be between 0 and 2 (got 2.5)",
        id="ratio-range",
    ),
    bad(
        IMAGES,
        "editing/expand",
        {"image": URL},
        "up_expansion_ratio, down_expansion_ratio, left_expansion_ratio, right_expansion_ratio: "
        "at least one must be greater than 0",
        id="no-expansion",
    ),
    bad(
        IMAGES,
        "editing/expand",
        {"image": URL, "up_expansion_ratio": 1, "left_expansion_ratio": 1},
        "the expanded image would be 4 times the original area; at most 3 is allowed",
        id="area",
    ),
]


@pytest.mark.parametrize(("family", "action", "body", "fragments"), INVALID)
def test_invalid_body_is_refused_with_a_message_naming_the_field(
    family: Family, action: str, body: object, fragments: tuple[str, ...]
) -> None:
    with pytest.raises(InvalidBody) as caught:
        parse_create_body(family, action, body)

    message = caught.value.message
    for fragment in fragments:
        assert fragment in message
    assert str(caught.value) == message
    for leak in ("pydantic", "literal_error", "Input should", "Value error", "type="):
        assert leak not in message


def test_every_action_has_refusals() -> None:
    refused = {param.values[1] for param in INVALID}

    assert refused == {action for _family, action in ACTIONS}


@pytest.mark.parametrize("body", [None, [], "text2video", 5], ids=["null", "array", "string", "number"])
def test_a_body_that_is_not_an_object_is_refused(body: object) -> None:
    with pytest.raises(InvalidBody, match=r"^request body must be a JSON object$"):
        parse_create_body("videos", "text2video", body)


def test_several_problems_are_joined_in_one_message() -> None:
    with pytest.raises(InvalidBody) as caught:
        parse_create_body("images", "generations", {"n": 12, "aspect_ratio": "5:4"})

    assert caught.value.message == (
        "n: must be between 1 and 9 (got 12); "
        "prompt: is required; "
        'aspect_ratio: "5:4" is not allowed; allowed values are "16:9", "9:16", "1:1", "4:3", "3:4", "3:2", '
        '"2:3", "21:9"'
    )


def test_a_long_received_value_is_shortened() -> None:
    with pytest.raises(InvalidBody) as caught:
        parse_create_body("videos", "text2video", {"prompt": "a", "mode": "p" * 500})

    quoted = caught.value.message.split(" is not allowed")[0].removeprefix("mode: ")
    assert len(quoted) <= 60
    assert quoted.endswith('..."')


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


@pytest.mark.parametrize(
    "head",
    [b"ID3\x04\x00", b"\xff\xfb\x90\x64", b"\xff\xf1\x50\x80", b"\0\0\0\x20ftypM4A ", b"RIFF\0\0\0\0WAVEfmt "],
    ids=["mp3-id3", "mp3-frame", "aac-adts", "m4a", "wav"],
)
def test_audio_in_a_format_kling_reads_is_accepted(head: bytes) -> None:
    sound = base64.b64encode(head + bytes(64)).decode()

    parsed = parse_create_body(VIDEOS, "avatar/image2video", {"image": URL, "sound_file": sound})

    assert parsed.model_dump()["sound_file"] == sound


@pytest.mark.parametrize(
    ("family", "action"),
    [("music", "text2video"), ("videos", "text2music"), ("images", "text2video")],
    ids=["family", "action", "wrong-family"],
)
def test_an_unknown_endpoint_is_a_key_error(family: str, action: str) -> None:
    with pytest.raises(KeyError):
        parse_create_body(family, action, {})


def test_the_registry_names_every_action_once() -> None:
    assert {(str(f), a) for f, a in ACTIONS} == {
        ("videos", a)
        for a in (
            "text2video",
            "image2video",
            "omni-video",
            "multi-image2video",
            "multi-elements",
            "lip-sync",
            "advanced-lip-sync",
            "video-extend",
            "effects",
            "avatar/image2video",
            "motion-control",
        )
    } | {
        ("images", a)
        for a in ("generations", "omni-image", "multi-image2image", "kolors-virtual-try-on", "editing/expand")
    }
    for (family, action), spec in ACTIONS.items():
        assert (spec.family, spec.action) == (family, action)
        assert issubclass(spec.schema, CreateBody)


def answer(family: Family, action: str, body: dict[str, Any], slots: tuple[PackType, int], *facts: Any) -> Any:
    model, mode, duration, sound = facts
    return pytest.param(family, action, body, slots, model, mode, duration, sound, id=f"{action}:{model}")


VIDEO_SLOT, IMAGE_SLOT = (PackType.VIDEO, 1), (PackType.IMAGE, 1)
ANSWERS = [
    answer(VIDEOS, "text2video", {"prompt": "a"}, VIDEO_SLOT, "kling-v1", "std", 5.0, False),
    answer(VIDEOS, "text2video", {"model": "kling-v1-6", "prompt": "a"}, VIDEO_SLOT, "kling-v1-6", "std", 5.0, False),
    answer(
        VIDEOS,
        "text2video",
        {"model_name": "kling-v3", "prompt": "a", "duration": "12", "sound": "on", "mode": "pro"},
        VIDEO_SLOT,
        "kling-v3",
        "pro",
        12.0,
        True,
    ),
    answer(
        VIDEOS,
        "image2video",
        {"model_name": "kling-v2-6", "image": URL, "sound": "on", "voice_list": [{"voice_id": "v"}], "mode": "pro"},
        VIDEO_SLOT,
        "kling-v2-6",
        "pro",
        5.0,
        True,
    ),
    answer(
        VIDEOS, "omni-video", {"prompt": "a", "aspect_ratio": "1:1"}, VIDEO_SLOT, "kling-video-o1", "pro", 5.0, False
    ),
    answer(
        VIDEOS,
        "omni-video",
        {"model_name": "kling-v3-omni", "prompt": "a", "video_list": [{"video_url": VIDEO_URL, "refer_type": "base"}]},
        VIDEO_SLOT,
        "kling-v3-omni",
        "pro",
        None,
        False,
    ),
    answer(
        VIDEOS,
        "multi-image2video",
        {"image_list": [{"image": URL}], "prompt": "p", "duration": "10"},
        VIDEO_SLOT,
        "kling-v1-6",
        "std",
        10.0,
        False,
    ),
    answer(
        VIDEOS,
        "multi-elements",
        {"session_id": "s", "edit_mode": "removal", "prompt": "p", "mode": "pro"},
        VIDEO_SLOT,
        "kling-v1-6",
        "pro",
        5.0,
        False,
    ),
    answer(
        VIDEOS,
        "lip-sync",
        {"input": {"video_id": "v", "mode": "text2video", "text": "hi", "voice_id": "x"}},
        VIDEO_SLOT,
        "kling-lip-sync",
        None,
        None,
        False,
    ),
    answer(
        VIDEOS,
        "advanced-lip-sync",
        {"session_id": "s", "face_choose": [FACE]},
        VIDEO_SLOT,
        "kling-advanced-lip-sync",
        None,
        None,
        False,
    ),
    answer(VIDEOS, "video-extend", {"video_id": "v"}, VIDEO_SLOT, "kling-video-extend", None, 5.0, False),
    answer(
        VIDEOS,
        "effects",
        {"effect_scene": "pet_lion", "input": {"image": URL, "duration": "10"}},
        VIDEO_SLOT,
        "kling-effects",
        None,
        10.0,
        False,
    ),
    answer(
        VIDEOS,
        "effects",
        {"effect_scene": "kiss", "input": {"images": [URL, URL], "duration": "5", "model_name": "kling-v1-5"}},
        VIDEO_SLOT,
        "kling-v1-5",
        "std",
        5.0,
        False,
    ),
    answer(
        VIDEOS, "avatar/image2video", {"image": URL, "audio_id": "a"}, VIDEO_SLOT, "kling-avatar", "std", None, False
    ),
    answer(
        VIDEOS,
        "motion-control",
        {"image_url": URL, "video_url": VIDEO_URL, "character_orientation": "video", "mode": "pro"},
        VIDEO_SLOT,
        "kling-v2-6",
        "pro",
        None,
        False,
    ),
    answer(IMAGES, "generations", {"prompt": "p", "n": 4}, (PackType.IMAGE, 4), "kling-v1", None, None, False),
    answer(IMAGES, "omni-image", {"prompt": "p", "n": 9}, (PackType.IMAGE, 9), "kling-image-o1", None, None, False),
    answer(
        IMAGES,
        "multi-image2image",
        {"subject_image_list": [{"subject_image": URL}]},
        IMAGE_SLOT,
        "kling-v2",
        None,
        None,
        False,
    ),
    answer(
        IMAGES,
        "kolors-virtual-try-on",
        {"human_image": URL, "cloth_image": URL},
        (PackType.TRY_ON, 1),
        "kolors-virtual-try-on-v1",
        None,
        None,
        False,
    ),
    answer(
        IMAGES,
        "editing/expand",
        {"image": URL, "up_expansion_ratio": 1, "n": 2},
        (PackType.IMAGE, 2),
        "kling-expand",
        None,
        None,
        False,
    ),
]


@pytest.mark.parametrize(("family", "action", "body", "slots", "model", "mode", "duration", "sound"), ANSWERS)
def test_a_body_answers_what_its_task_needs(
    family: Family,
    action: str,
    body: dict[str, Any],
    slots: tuple[PackType, int],
    model: str,
    mode: str | None,
    duration: float | None,
    sound: bool,
) -> None:
    parsed = parse_create_body(family, action, body)

    assert (parsed.slots(), parsed.model(), parsed.mode(), parsed.duration_s(), parsed.with_sound()) == (
        slots,
        model,
        mode,
        duration,
        sound,
    )


def test_the_mode_field_round_trips_under_its_wire_name() -> None:
    parsed = parse_create_body("videos", "text2video", {"prompt": "a", "mode": "pro", "model": "kling-v1"})

    assert parsed.model_dump(exclude_unset=True) == {"prompt": "a", "mode": "pro", "model": "kling-v1"}


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
