"""Prices, frames and typical times of the new generation: every row of 2026 §8.1 and the §8.4 observations."""

from decimal import Decimal
from typing import Any

import pytest

from kling_gateway.kling.output import expected_output
from kling_gateway.kling.pricing import SourceVideo, unit_cost
from kling_gateway.kling.schemas import ACTIONS, NEW_ACTIONS, Family, parse_body
from kling_gateway.kling.timing import typical_timing

URL = "https://cdn.example.com/in/cat.png"
VIDEO_URL = "https://cdn.example.com/in/dance.mp4"
FIRST = {"type": "first_frame", "url": URL}
VOICE = {"type": "voice", "voice_id": "8914", "id": "1"}
FEATURE = {"type": "feature_video", "url": VIDEO_URL}
MOTION = [{"type": "image", "url": URL}, {"type": "video", "url": VIDEO_URL}]


def _body(action: str, resolution: str, audio: str | None, extra: list[dict[str, str]] | None = None) -> dict[str, Any]:
    settings: dict[str, Any] = {"resolution": resolution}
    if audio is not None:
        settings["audio"] = audio
    product = action.partition("/")[0]
    if product == "text-to-video":
        return {"prompt": "a fox", "settings": settings | {"duration": 10}}
    if product == "motion-control":
        return {"contents": MOTION, "settings": settings | {"character_orientation": "image"}}
    first = [FIRST] if product == "image-to-video" else [{"type": "prompt", "text": "a fox"}]
    return {"contents": first + (extra or []), "settings": settings | {"duration": 10}}


def row(action: str, resolution: str, audio: str | None, per_second: str, extra: Any = None) -> Any:
    return pytest.param(action, resolution, audio, extra, Decimal(per_second), id=f"{action}:{resolution}:{audio}")


# Per-second rates of §8.1; each body asks for 10 s (motion control: the longest orientation-"image" output, 10 s).
ROWS = [
    *(
        row(f"{p}/kling-3.0-turbo", r, None, u)
        for p in ("text-to-video", "image-to-video")
        for r, u in (("720p", "0.8"), ("1080p", "1.0"))
    ),
    *(
        row(f"{p}/kling-3.0", r, a, u)
        for p in ("text-to-video", "image-to-video")
        for r, a, u in (
            ("720p", "off", "0.6"),
            ("1080p", "off", "0.8"),
            ("4k", "off", "3"),
            ("720p", "native", "0.9"),
            ("1080p", "native", "1.2"),
            ("4k", "native", "3"),
        )
    ),
    row("motion-control/kling-3.0", "720p", "original", "0.9"),
    row("motion-control/kling-3.0", "1080p", "off", "1.2"),
    row("omni-video/kling-3.0-omni", "720p", "off", "0.6"),
    row("omni-video/kling-3.0-omni", "1080p", "off", "0.8"),
    row("omni-video/kling-3.0-omni", "4k", "off", "3"),
    row("omni-video/kling-3.0-omni", "720p", "native", "0.8"),
    row("omni-video/kling-3.0-omni", "1080p", "native", "1.0"),
    row("omni-video/kling-3.0-omni", "4k", "native", "3"),
    row("omni-video/kling-3.0-omni", "720p", "off", "0.9", [FEATURE]),
    row("omni-video/kling-3.0-omni", "1080p", "off", "1.2", [FEATURE]),
    row("omni-video/kling-3.0-omni", "4k", "off", "3", [FEATURE]),
    row("omni-video/kling-o1", "720p", "off", "0.6"),
    row("omni-video/kling-o1", "1080p", "off", "0.8"),
    row("omni-video/kling-o1", "720p", "original", "0.9", [FEATURE]),
    row("omni-video/kling-o1", "1080p", "off", "1.2", [FEATURE]),
    *(
        row(f"{p}/kling-2.6", r, "off", u)
        for p in ("text-to-video", "image-to-video")
        for r, u in (("720p", "0.3"), ("1080p", "0.5"))
    ),
    row("text-to-video/kling-2.6", "1080p", "native", "1.0"),
    row("image-to-video/kling-2.6", "1080p", "native", "1.0"),
    row("image-to-video/kling-2.6", "1080p", "native", "1.2", [VOICE]),
    row("motion-control/kling-2.6", "720p", "original", "0.5"),
    row("motion-control/kling-2.6", "1080p", "off", "0.8"),
    *(
        row(f"{p}/kling-2.5-turbo", r, None, u)
        for p in ("text-to-video", "image-to-video")
        for r, u in (("720p", "0.3"), ("1080p", "0.5"))
    ),
]


@pytest.mark.parametrize(("action", "resolution", "audio", "extra", "per_second"), ROWS)
def test_every_row_of_the_price_table_is_charged_per_second(
    action: str, resolution: str, audio: str | None, extra: Any, per_second: Decimal
) -> None:
    spec = NEW_ACTIONS[action]
    body = parse_body(spec.schema, _body(action, resolution, audio, extra))
    assert unit_cost(spec, body) == per_second * 10


def test_the_observed_deductions_are_reproduced() -> None:
    turbo = NEW_ACTIONS["text-to-video/kling-3.0-turbo"]
    assert unit_cost(turbo, parse_body(turbo.schema, {"prompt": "a fox", "settings": {"duration": 3}})) == Decimal(
        "2.4"
    )
    omni = NEW_ACTIONS["omni-video/kling-3.0-omni"]
    body = parse_body(omni.schema, {"contents": [FIRST], "settings": {"duration": 3, "audio": "off"}})
    assert unit_cost(omni, body) == Decimal("1.8")


def test_motion_control_is_priced_on_its_reference_or_the_longest_output_allowed() -> None:
    spec = NEW_ACTIONS["motion-control/kling-3.0"]
    by_video = parse_body(spec.schema, {"contents": MOTION, "settings": {"character_orientation": "video"}})
    assert unit_cost(spec, by_video) == Decimal("0.9") * 30
    assert unit_cost(spec, by_video, source=SourceVideo("kling-3.0", None, 7.5)) == Decimal("0.9") * 8
    assert unit_cost(spec, by_video, source=SourceVideo("kling-3.0", None, 7.4)) == Decimal("0.9") * 7


@pytest.mark.parametrize(("action", "model"), [("text2video", "kling-v3"), ("omni-video", "kling-v3-omni")])
def test_legacy_4k_mode_is_a_flat_three_units_a_second(action: str, model: str) -> None:
    spec = ACTIONS[Family.VIDEOS, action]
    body = {"model_name": model, "mode": "4k", "prompt": "a fox", "duration": "5", "aspect_ratio": "16:9"}
    assert unit_cost(spec, parse_body(spec.schema, body)) == Decimal(15)


@pytest.mark.parametrize(
    ("action", "body", "frame"),
    [
        ("text-to-video/kling-3.0-turbo", {"prompt": "a"}, (1280, 720)),
        (
            "text-to-video/kling-3.0",
            {"prompt": "a", "settings": {"resolution": "4k", "aspect_ratio": "9:16"}},
            (2160, 3840),
        ),
        (
            "omni-video/kling-o1",
            {"contents": [{"type": "prompt", "text": "a"}], "settings": {"resolution": "1080p"}},
            (1920, 1080),
        ),
        ("omni-video/kling-3.0-omni", {"contents": [FIRST]}, (None, None)),
        ("image-to-video/kling-2.6", {"contents": [FIRST]}, (None, None)),
    ],
)
def test_the_frame_follows_resolution_and_aspect_ratio(
    action: str, body: dict[str, Any], frame: tuple[int | None, int | None]
) -> None:
    spec = NEW_ACTIONS[action]
    output = expected_output(spec, parse_body(spec.schema, body))
    assert (output.width, output.height) == frame
    assert output.fps == 24


def test_typical_times_follow_the_observed_runs_scaled_by_length() -> None:
    turbo = NEW_ACTIONS["text-to-video/kling-3.0-turbo"]
    omni = NEW_ACTIONS["omni-video/kling-3.0-omni"]
    short = typical_timing(turbo, parse_body(turbo.schema, {"prompt": "a", "settings": {"duration": 3}})).total_s
    longer = typical_timing(turbo, parse_body(turbo.schema, {"prompt": "a", "settings": {"duration": 8}})).total_s
    assert 25 <= short <= 35 < longer
    body = parse_body(omni.schema, {"contents": [FIRST], "settings": {"duration": 3}})
    assert 75 <= typical_timing(omni, body).total_s <= 90
