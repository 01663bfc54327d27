"""A task costs what the official price table (reference §7) charges for it."""

from decimal import Decimal
from typing import Any

import pytest

from kling_gateway.kling.pricing import RATES, SourceVideo, sync_call_cost, unit_cost
from kling_gateway.kling.schemas import ACTIONS, ALL_V1_ACTIONS, Family, parse_create_body

from .schemas import VALID

URL = "https://cdn.example.com/in/cat.png"
VIDEO_URL = "https://cdn.example.com/in/dance.mp4"


def row(action: str, body: dict[str, Any], units: str, id: str) -> Any:
    family = Family.IMAGES if (Family.IMAGES, action) in ACTIONS else Family.VIDEOS
    return pytest.param(family, action, body, Decimal(units), id=id)


def t2v(model: str, mode: str = "std", duration: str = "5", **extra: Any) -> dict[str, Any]:
    return {"model_name": model, "prompt": "a fox", "mode": mode, "duration": duration, **extra}


def i2v(model: str, mode: str = "std", duration: str = "5", **extra: Any) -> dict[str, Any]:
    return {"model_name": model, "image": URL, "mode": mode, "duration": duration, **extra}


def omni(model: str, mode: str, duration: str, **extra: Any) -> dict[str, Any]:
    return {"model_name": model, "prompt": "a fox", "mode": mode, "duration": duration, "aspect_ratio": "1:1", **extra}


FEATURE_VIDEO = [{"video_url": VIDEO_URL, "refer_type": "feature"}]
TWO = [URL, URL]

PRICE_ROWS = [
    # kling-v1: 1 / 2 / 3.5 / 7
    row("text2video", t2v("kling-v1"), "1", "v1-std-5s"),
    row("text2video", t2v("kling-v1", duration="10"), "2", "v1-std-10s"),
    row("text2video", t2v("kling-v1", "pro"), "3.5", "v1-pro-5s"),
    row("image2video", i2v("kling-v1", "pro", "10"), "7", "v1-pro-10s"),
    # kling-v1-5 and kling-v1-6: 2 / 4 / 3.5 / 7
    row("image2video", i2v("kling-v1-5"), "2", "v1-5-std-5s"),
    row("image2video", i2v("kling-v1-5", "pro", "10"), "7", "v1-5-pro-10s"),
    row("text2video", t2v("kling-v1-6", duration="10"), "4", "v1-6-std-10s"),
    row("image2video", i2v("kling-v1-6", "pro"), "3.5", "v1-6-pro-5s"),
    row("multi-image2video", {"image_list": [{"image": URL}], "prompt": "p"}, "2", "multi-image-std-5s"),
    row(
        "multi-image2video",
        {"image_list": [{"image": URL}], "prompt": "p", "mode": "pro", "duration": "10"},
        "7",
        "multi-image-pro-10s",
    ),
    # multi-elements: 3 / 6 / 5 / 10
    row("multi-elements", {"session_id": "s", "edit_mode": "removal", "prompt": "p"}, "3", "elements-std-5s"),
    row(
        "multi-elements",
        {"session_id": "s", "edit_mode": "removal", "prompt": "p", "duration": "10"},
        "6",
        "elements-std-10s",
    ),
    row(
        "multi-elements",
        {"session_id": "s", "edit_mode": "removal", "prompt": "p", "mode": "pro"},
        "5",
        "elements-pro-5s",
    ),
    row(
        "multi-elements",
        {"session_id": "s", "edit_mode": "removal", "prompt": "p", "mode": "pro", "duration": "10"},
        "10",
        "elements-pro-10s",
    ),
    # masters: 10 / 20
    row("text2video", t2v("kling-v2-master"), "10", "v2-master-5s"),
    row("image2video", i2v("kling-v2-1-master", duration="10"), "20", "v2-1-master-10s"),
    # kling-v2-1: 2 / 4 / 3.5 / 7
    row("image2video", i2v("kling-v2-1"), "2", "v2-1-std-5s"),
    row("image2video", i2v("kling-v2-1", "pro", "10"), "7", "v2-1-pro-10s"),
    # kling-v2-5-turbo: 1.5 / 3 / 2.5 / 5
    row("text2video", t2v("kling-v2-5-turbo"), "1.5", "v2-5-std-5s"),
    row("text2video", t2v("kling-v2-5-turbo", duration="10"), "3", "v2-5-std-10s"),
    row("image2video", i2v("kling-v2-5-turbo", "pro", "10"), "5", "v2-5-pro-10s"),
    # kling-v2-6: silent as 2.5 turbo; pro with audio 5 / 10, with voice 6 / 12
    row("text2video", t2v("kling-v2-6"), "1.5", "v2-6-std-silent-5s"),
    row("text2video", t2v("kling-v2-6", "pro"), "2.5", "v2-6-pro-silent-5s"),
    row("text2video", t2v("kling-v2-6", "pro", sound="on"), "5", "v2-6-pro-audio-5s"),
    row("image2video", i2v("kling-v2-6", "pro", "10", sound="on"), "10", "v2-6-pro-audio-10s"),
    row(
        "image2video",
        i2v("kling-v2-6", "pro", sound="on", voice_list=[{"voice_id": "v"}]),
        "6",
        "v2-6-pro-voice-5s",
    ),
    row(
        "image2video",
        i2v("kling-v2-6", "pro", "10", sound="on", voice_list=[{"voice_id": "v"}]),
        "12",
        "v2-6-pro-voice-10s",
    ),
    # kling-v3 per second: std 0.6 silent / 0.9 audio, pro 0.8 / 1.2
    row("text2video", t2v("kling-v3", duration="7"), "4.2", "v3-std-silent-7s"),
    row("text2video", t2v("kling-v3", duration="3", sound="on"), "2.7", "v3-std-audio-3s"),
    row("text2video", t2v("kling-v3", "pro", "15", sound="on"), "18", "v3-pro-audio-15s"),
    row("image2video", i2v("kling-v3", "pro", "5"), "4", "v3-pro-silent-5s"),
    # kling-video-o1 per second: 0.6 / 0.9 with video in; pro 0.8 / 1.2
    row("omni-video", omni("kling-video-o1", "std", "5"), "3", "o1-std-5s"),
    row("omni-video", omni("kling-video-o1", "pro", "10"), "8", "o1-pro-10s"),
    row("omni-video", omni("kling-video-o1", "std", "7", video_list=FEATURE_VIDEO), "6.3", "o1-std-video-7s"),
    row("omni-video", omni("kling-video-o1", "pro", "5", video_list=FEATURE_VIDEO), "6", "o1-pro-video-5s"),
    row("omni-video", omni("kling-v3-omni", "pro", "15", sound="on"), "18", "v3-omni-pro-audio-15s"),
    # lip-sync: 0.5 per 5 s, the length unknown at submit so 5 s is assumed
    row(
        "lip-sync",
        {"input": {"video_id": "v", "mode": "text2video", "text": "hi", "voice_id": "x"}},
        "0.5",
        "lip-sync",
    ),
    # avatar: std 0.4/s, pro 0.8/s, 5 s assumed
    row("avatar/image2video", {"image": URL, "audio_id": "a"}, "2", "avatar-std"),
    row("avatar/image2video", {"image": URL, "audio_id": "a", "mode": "pro"}, "4", "avatar-pro"),
    # video-extend: kling-v1 std
    row("video-extend", {"video_id": "v"}, "1", "extend"),
    # effects: single-image as a kling-v1-6 std clip, dual as kling-v1-6 pro, legacy dual as its model
    row("effects", {"effect_scene": "bloombloom", "input": {"image": URL, "duration": "5"}}, "2", "effect-5s"),
    row("effects", {"effect_scene": "bloombloom", "input": {"image": URL, "duration": "10"}}, "4", "effect-10s"),
    row("effects", {"effect_scene": "hug_pro", "input": {"images": TWO, "duration": "5"}}, "3.5", "effect-dual"),
    row(
        "effects",
        {"effect_scene": "heart_gesture", "input": {"images": TWO, "duration": "5", "model_name": "kling-v1"}},
        "1",
        "effect-legacy-v1-std",
    ),
    # images, per image × n: Kolors v1 1; v1.5/v2/v2.1 4, with an image 8; multi-image 16; expand 8; O1 8
    row("generations", {"prompt": "p", "model_name": "kling-v1"}, "1", "v1-t2i"),
    row("generations", {"prompt": "p", "model_name": "kling-v1", "n": 9}, "9", "v1-t2i-n9"),
    row("generations", {"prompt": "p", "model_name": "kling-v1-5", "n": 2}, "8", "v1-5-t2i-n2"),
    row("generations", {"prompt": "p", "model_name": "kling-v2", "image": URL, "n": 3}, "24", "v2-i2i-n3"),
    row("generations", {"prompt": "p", "model_name": "kling-v2-1"}, "4", "v2-1-t2i"),
    row("generations", {"prompt": "p", "model_name": "kling-v2-new", "image": URL}, "8", "v2-new-restyle"),
    row("omni-image", {"prompt": "p", "n": 2}, "16", "o1-image-n2"),
    row("multi-image2image", {"subject_image_list": [{"subject_image": URL}]}, "16", "multi-image"),
    row("multi-image2image", {"subject_image_list": [{"subject_image": URL}], "n": 2}, "32", "multi-image-n2"),
    row("editing/expand", {"image": URL, "up_expansion_ratio": 1, "n": 3}, "24", "expand-n3"),
    row("kolors-virtual-try-on", {"human_image": URL, "cloth_image": URL}, "1", "try-on"),
]


@pytest.mark.parametrize(("family", "action", "body", "units"), PRICE_ROWS)
def test_a_task_costs_its_row_of_the_price_table(
    family: Family, action: str, body: dict[str, Any], units: Decimal
) -> None:
    spec = ACTIONS[family, action]

    assert unit_cost(spec, parse_create_body(family, action, body)) == units


EXTEND = {"video_id": "v"}
LIP_SYNC = {"input": {"video_id": "v", "mode": "text2video", "text": "hi", "voice_id": "x"}}
ADVANCED_LIP_SYNC = {
    "session_id": "s",
    "face_choose": [
        {"face_id": "0", "audio_id": "a", "sound_start_time": 0, "sound_end_time": 3000, "sound_insert_time": 0}
    ],
}


def on(action: str, body: dict[str, Any], source: SourceVideo, units: str, id: str) -> Any:
    return pytest.param(action, body, source, Decimal(units), id=id)


SOURCE_ROWS = [
    # video-extend, per call at the source's row: v1 / v1-5 / v1-6 std 1 / 2 / 2, pro 3.5
    on("video-extend", EXTEND, SourceVideo("kling-v1", "std", 5), "1", "extend-v1-std"),
    on("video-extend", EXTEND, SourceVideo("kling-v1-5", "std", 10), "2", "extend-v1-5-std"),
    on("video-extend", EXTEND, SourceVideo("kling-v1-6", "std", 5), "2", "extend-v1-6-std"),
    on("video-extend", EXTEND, SourceVideo("kling-v1", "pro", 5), "3.5", "extend-v1-pro"),
    on("video-extend", EXTEND, SourceVideo("kling-v1-6", "pro", 14.5), "3.5", "extend-v1-6-pro"),
    on("video-extend", EXTEND, SourceVideo("kling-v1-5", None, 5), "2", "extend-default-mode-is-std"),
    # lip-sync: 0.5 per started 5 s of the source
    on("lip-sync", LIP_SYNC, SourceVideo("kling-v1-6", "std", 2), "0.5", "lip-sync-2s"),
    on("lip-sync", LIP_SYNC, SourceVideo("kling-v1-6", "std", 10), "1", "lip-sync-10s"),
    on("lip-sync", LIP_SYNC, SourceVideo("kling-v1-6", "pro", 12), "1.5", "lip-sync-12s"),
    on("lip-sync", LIP_SYNC, SourceVideo("kling-v2-master", None, 10.04), "1.5", "lip-sync-just-over-10s"),
    on("advanced-lip-sync", ADVANCED_LIP_SYNC, SourceVideo("kling-v1", "std", 12), "1.5", "advanced-12s"),
    on("advanced-lip-sync", ADVANCED_LIP_SYNC, SourceVideo("kling-v3", "pro", 60), "6", "advanced-60s"),
    # a task whose price does not depend on a source ignores it
    on("text2video", t2v("kling-v1", "pro"), SourceVideo("kling-v1-6", "std", 60), "3.5", "t2v-ignores-source"),
]


@pytest.mark.parametrize(("action", "body", "source", "units"), SOURCE_ROWS)
def test_a_task_on_a_known_video_is_priced_by_that_video(
    action: str, body: dict[str, Any], source: SourceVideo, units: Decimal
) -> None:
    spec = ACTIONS[Family.VIDEOS, action]

    assert unit_cost(spec, parse_create_body(Family.VIDEOS, action, body), source=source) == units


def test_extending_a_video_of_a_model_without_an_extend_price_is_a_key_error() -> None:
    spec = ACTIONS[Family.VIDEOS, "video-extend"]
    body = parse_create_body(Family.VIDEOS, "video-extend", EXTEND)

    with pytest.raises(KeyError, match="kling-v2-6"):
        unit_cost(spec, body, source=SourceVideo("kling-v2-6", "pro", 5))


FREE_ACTIONS = {"advanced-custom-elements"}  # element creation is not priced, and [obs] took 0 units


@pytest.mark.parametrize(("family", "action", "body"), VALID)
def test_every_valid_body_has_a_price(family: Family, action: str, body: dict[str, Any]) -> None:
    cost = unit_cost(ALL_V1_ACTIONS[family, action], parse_create_body(family, action, body))

    assert cost > 0 or action in FREE_ACTIONS
    assert cost == cost.quantize(Decimal("0.01"))


def test_costs_read_like_final_unit_deduction() -> None:
    spec = ACTIONS[Family.VIDEOS, "text2video"]

    costs = [
        str(unit_cost(spec, parse_create_body(Family.VIDEOS, "text2video", body)))
        for body in (t2v("kling-v1"), t2v("kling-v1", "pro"), t2v("kling-v3", duration="7"))
    ]

    assert costs == ["1", "3.5", "4.2"]


def test_the_table_holds_whole_cents() -> None:
    for rate in RATES.values():
        assert rate.units == rate.units.quantize(Decimal("0.01"))


def added(family: Family, action: str, body: dict[str, Any], units: str, id: str) -> Any:
    return pytest.param(family, action, body, Decimal(units), id=id)


MOTION = {"image_url": URL, "video_url": VIDEO_URL, "character_orientation": "video"}
OMNI_V3 = {"prompt": "p", "model_name": "kling-v3-omni"}
PRICE_ROWS_2026 = [
    # §8.2: per call
    added(Family.AUDIO, "text-to-audio", {"prompt": "rain", "duration": 10}, "0.25", "text-to-audio"),
    added(Family.AUDIO, "video-to-audio", {"video_url": VIDEO_URL}, "0.25", "video-to-audio"),
    added(Family.GENERAL, "custom-voices", {"voice_name": "n", "voice_url": VIDEO_URL}, "0.05", "custom-voice"),
    added(
        Family.GENERAL,
        "advanced-custom-elements",
        {
            "element_name": "n",
            "element_description": "d",
            "reference_type": "video_refer",
            "element_video_list": {"refer_videos": [{"video_url": VIDEO_URL}]},
        },
        "0",
        "element",
    ),
    added(Family.GENERAL, "ai-multi-shot", {"element_frontal_image": URL}, "20", "ai-multi-shot"),
    # §8.1: motion control per second (5 s assumed until the output is known): 2.6 std 0.5 pro 0.8, 3.0 0.9 / 1.2
    added(Family.VIDEOS, "motion-control", MOTION | {"mode": "std"}, "2.5", "motion-2-6-std"),
    added(Family.VIDEOS, "motion-control", MOTION | {"mode": "pro"}, "4", "motion-2-6-pro"),
    added(Family.VIDEOS, "motion-control", MOTION | {"mode": "std", "model_name": "kling-v3"}, "4.5", "motion-3-std"),
    added(Family.VIDEOS, "motion-control", MOTION | {"mode": "pro", "model_name": "kling-v3"}, "6", "motion-3-pro"),
    # §8.3: per image
    added(Family.IMAGES, "generations", {"prompt": "p"}, "8", "image-3-default"),
    added(Family.IMAGES, "generations", {"prompt": "p", "image": URL, "n": 2}, "16", "image-3-i2i-n2"),
    added(Family.IMAGES, "omni-image", OMNI_V3 | {"n": 3}, "24", "image-3-omni-n3"),
    added(Family.IMAGES, "omni-image", OMNI_V3 | {"resolution": "4k"}, "16", "image-3-omni-4k"),
    added(Family.IMAGES, "omni-image", OMNI_V3 | {"result_type": "series", "series_amount": 5}, "40", "series-5"),
    added(Family.IMAGES, "multi-image2image", {"subject_image_list": [{"subject_image": URL}]}, "16", "multi-2-1"),
]


@pytest.mark.parametrize(("family", "action", "body", "units"), PRICE_ROWS_2026)
def test_a_2026_task_costs_its_row(family: Family, action: str, body: dict[str, Any], units: Decimal) -> None:
    assert unit_cost(ALL_V1_ACTIONS[family, action], parse_create_body(family, action, body)) == units


def test_an_auto_series_and_motion_control_are_priced_by_what_they_made() -> None:
    series = OMNI_V3 | {"result_type": "series", "series_amount": "auto"}
    omni = ALL_V1_ACTIONS[Family.IMAGES, "omni-image"]
    assert unit_cost(omni, parse_create_body(Family.IMAGES, "omni-image", series), images_made=7) == Decimal(56)
    motion = ALL_V1_ACTIONS[Family.VIDEOS, "motion-control"]
    body = parse_create_body(Family.VIDEOS, "motion-control", MOTION | {"mode": "pro", "model_name": "kling-v3"})
    assert unit_cost(motion, body, output_s=7.4) == Decimal("8.4")  # seconds rounded to the nearest whole one


@pytest.mark.parametrize(
    ("family", "call", "units"),
    [
        pytest.param("audio", "tts", "0.05", id="tts"),
        pytest.param("videos", "identify-face", "0.05", id="identify-face"),
        pytest.param("videos", "image-recognize", "0.1", id="image-recognize"),
        pytest.param("general", "delete-voices", "0", id="delete-free"),
    ],
)
def test_a_synchronous_call_costs_its_row(family: str, call: str, units: str) -> None:
    assert sync_call_cost(family, call) == Decimal(units)
