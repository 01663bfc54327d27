"""What holds for every endpoint: the tables cover each action, messages are plain, and bodies answer for their task."""

from typing import Any

import pytest

from kling_gateway.kling.schemas import (
    ACTIONS,
    ALL_V1_ACTIONS,
    CreateBody,
    Family,
    InvalidBody,
    PackType,
    parse_create_body,
)

from . import INVALID, VALID
from .cases import FACE, IMAGES, URL, VIDEO_URL, VIDEOS


def test_every_action_has_a_minimal_and_a_full_example() -> None:
    ids = {param.id for param in VALID}

    for family, action in ALL_V1_ACTIONS:
        assert f"{action}:minimal" in ids, (family, action)
        assert any(i is not None and i.startswith(f"{action}:full") for i in ids), (family, action)


def test_every_action_has_refusals() -> None:
    refused = {param.values[1] for param in INVALID}

    assert refused == {action for _family, action in ALL_V1_ACTIONS}


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
        {"effect_scene": "pet_lion_pro", "input": {"image": URL, "duration": "10"}},
        VIDEO_SLOT,
        "kling-effects",
        None,
        10.0,
        False,
    ),
    answer(
        VIDEOS,
        "effects",
        {"effect_scene": "heart_gesture", "input": {"images": [URL, URL], "duration": "5", "model_name": "kling-v1-5"}},
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
    answer(IMAGES, "generations", {"prompt": "p", "n": 4}, (PackType.IMAGE, 4), "kling-v3", None, None, False),
    answer(IMAGES, "omni-image", {"prompt": "p", "n": 9}, (PackType.IMAGE, 9), "kling-image-o1", None, None, False),
    answer(
        IMAGES,
        "multi-image2image",
        {"subject_image_list": [{"subject_image": URL}]},
        IMAGE_SLOT,
        "kling-v2-1",
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
