"""Units (积分) the official price table charges for a task that succeeds (reference §7).

Prices are looked up by (model, mode, variant), the three answers a create body gives about itself; the
variant is the column of the table ("silent", "audio", "voice", "video-in", "edit", ...). A task that works on
an existing video may be priced by that video instead, when the caller knows it (see SourceVideo).
"""

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal
from typing import Literal

from kling_gateway.kling.schemas import ActionSpec, CreateBody
from kling_gateway.kling.schemas.new_video import MotionControl as NewMotionControl

Per = Literal["5 seconds", "second", "image", "task"]
PriceKey = tuple[str, str | None, str]

# Where the output length is not known in advance (lip-sync, avatar, motion control, editing a base video),
# the task is priced at the shortest billed length, unless the source video tells it.
ASSUMED_SECONDS = Decimal(5)
CENT = Decimal("0.01")
# Tasks whose output is as long as their source video.
AS_LONG_AS_SOURCE = frozenset({"kling-lip-sync", "kling-advanced-lip-sync"})
# Tasks priced at the row of their source video's model and mode, in the given variant column.
PRICED_BY_SOURCE: Mapping[str, str] = {"kling-video-extend": "extend"}

# Units per started 5 s of output: 10 s clips cost twice the 5 s price, as every row of §7 shows.
_PER_FIVE_SECONDS: Mapping[PriceKey, str] = {
    ("kling-v1", "std", "silent"): "1",
    ("kling-v1", "pro", "silent"): "3.5",
    ("kling-v1-5", "std", "silent"): "2",
    ("kling-v1-5", "pro", "silent"): "3.5",
    ("kling-v1-6", "std", "silent"): "2",
    ("kling-v1-6", "pro", "silent"): "3.5",
    ("kling-v1-6", "std", "edit"): "3",  # multi-elements
    ("kling-v1-6", "pro", "edit"): "5",
    ("kling-v2-master", "std", "silent"): "10",
    ("kling-v2-1-master", "std", "silent"): "10",
    ("kling-v2-1", "std", "silent"): "2",
    ("kling-v2-1", "pro", "silent"): "3.5",
    ("kling-v2-5-turbo", "std", "silent"): "1.5",
    ("kling-v2-5-turbo", "pro", "silent"): "2.5",
    ("kling-v2-6", "std", "silent"): "1.5",
    ("kling-v2-6", "pro", "silent"): "2.5",
    ("kling-v2-6", "pro", "audio"): "5",
    ("kling-v2-6", "pro", "voice"): "6",
    ("kling-lip-sync", None, "silent"): "0.5",
    # advanced-lip-sync has no price of its own in §7; it is charged like the classic lip-sync.
    ("kling-advanced-lip-sync", None, "silent"): "0.5",
    # §7: "video effects vary per template". Single-image templates are priced as a kling-v1-6 std clip and the
    # dual-person *_pro templates as a kling-v1-6 pro clip; legacy dual scenes use their named model's row.
    ("kling-effects", None, "single"): "2",
    ("kling-effects", None, "dual"): "3.5",
}

_PER_SECOND: Mapping[PriceKey, str] = {
    ("kling-video-o1", "std", "silent"): "0.6",
    ("kling-video-o1", "std", "video-in"): "0.9",
    ("kling-video-o1", "pro", "silent"): "0.8",
    ("kling-video-o1", "pro", "video-in"): "1.2",
    ("kling-v3", "std", "silent"): "0.6",
    ("kling-v3", "std", "audio"): "0.9",
    ("kling-v3", "std", "voice"): "0.9",  # voices are part of the audio track on 3.0: no separate rate
    ("kling-v3", "pro", "silent"): "0.8",
    ("kling-v3", "pro", "audio"): "1.2",
    ("kling-v3", "pro", "voice"): "1.2",
    # kling-v3-omni follows kling-v3; with a reference video (always silent) it takes the O1 video-input rate.
    ("kling-v3-omni", "std", "silent"): "0.6",
    ("kling-v3-omni", "std", "audio"): "0.9",
    ("kling-v3-omni", "std", "video-in"): "0.9",
    ("kling-v3-omni", "pro", "silent"): "0.8",
    ("kling-v3-omni", "pro", "audio"): "1.2",
    ("kling-v3-omni", "pro", "video-in"): "1.2",
    ("kling-avatar", "std", "silent"): "0.4",
    ("kling-avatar", "pro", "silent"): "0.8",
}

# Image-pack units per generated image.
_PER_IMAGE: Mapping[PriceKey, str] = {
    ("kling-v1", None, "text-to-image"): "1",
    # §7 gives Kolors v1 a single figure; with no image-to-image surcharge documented it applies to both.
    ("kling-v1", None, "image-to-image"): "1",
    ("kling-v1-5", None, "text-to-image"): "4",
    ("kling-v1-5", None, "image-to-image"): "8",
    ("kling-v2", None, "text-to-image"): "4",
    ("kling-v2", None, "image-to-image"): "8",
    ("kling-v2-new", None, "image-to-image"): "8",
    ("kling-v2-1", None, "text-to-image"): "4",
    ("kling-v2-1", None, "image-to-image"): "8",
    # kling-v3 image generation: 8 per image, text or image to image (2026 reference §8.3).
    ("kling-v3", None, "text-to-image"): "8",
    ("kling-v3", None, "image-to-image"): "8",
    ("kling-image-o1", None, "image"): "8",
    ("kling-v2", None, "image"): "16",  # multi-image2image
    ("kling-v2-1", None, "image"): "16",
    ("kling-expand", None, "image"): "8",
}

_PER_TASK: Mapping[PriceKey, str] = {
    # video-extend names no model: it reuses the source video's, whose row below prices each call. Without the
    # source the call is priced at the cheapest of those rows, kling-v1 std.
    ("kling-video-extend", None, "silent"): "1",
    ("kling-v1", "std", "extend"): "1",
    ("kling-v1", "pro", "extend"): "3.5",
    ("kling-v1-5", "std", "extend"): "2",
    ("kling-v1-5", "pro", "extend"): "3.5",
    ("kling-v1-6", "std", "extend"): "2",
    ("kling-v1-6", "pro", "extend"): "3.5",
    # Try-on draws on its own pack (≈$0.07 a task): one unit of that pack per task.
    ("kolors-virtual-try-on-v1", None, "image"): "1",
    ("kolors-virtual-try-on-v1-5", None, "image"): "1",
}


# The `/v1` additions of 2026 (reference 2026 §8.1-8.3), kept apart from the tables above.
_PER_SECOND_2026: Mapping[PriceKey, str] = {
    # Motion control, billed on the output length (which only the finished task knows).
    ("kling-v2-6", "std", "motion"): "0.5",
    ("kling-v2-6", "pro", "motion"): "0.8",
    ("kling-v3", "std", "motion"): "0.9",
    ("kling-v3", "pro", "motion"): "1.2",
}
_PER_IMAGE_2026: Mapping[PriceKey, str] = {
    ("kling-v3-omni", None, "image"): "8",
    ("kling-v3-omni", None, "image-4k"): "16",
}
_PER_TASK_2026: Mapping[PriceKey, str] = {
    ("kling-text-to-audio", None, "audio"): "0.25",  # audio pack
    ("kling-video-to-audio", None, "audio"): "0.25",
    ("kling-custom-voice", None, "voice"): "0.05",  # video pack
    ("kling-element", None, "element"): "0",  # not listed; [obs] 0 units
    # The image price list's 20 image units a call; the changelog's 0.5 (video) units is the same $0.07.
    ("kling-ai-multi-shot", None, "image"): "20",
}
# Native 4K on the legacy kling-v3 and kling-v3-omni (`mode: "4k"`): a flat 3.0 a second, sound or not (§8.1).
_PER_SECOND_4K: Mapping[PriceKey, str] = {
    (model, "4k", variant): "3"
    for model, variants in (
        ("kling-v3", ("silent", "audio", "voice")),
        ("kling-v3-omni", ("silent", "audio", "video-in")),
    )
    for variant in variants
}


def _by_resolution(
    model: str, variant: str, units_720p: str | None, units_1080p: str, units_4k: str | None = None
) -> dict[PriceKey, str]:
    columns = (("720p", units_720p), ("1080p", units_1080p), ("4k", units_4k))
    return {(model, resolution, variant): units for resolution, units in columns if units is not None}


# The new generation (§8.1), by (path model, resolution, variant). 3.0 Turbo has only the with-audio row, and
# always makes sound; 4K is a flat 3.0 a second; motion control is billed on its output length.
_PER_SECOND_NEW: Mapping[PriceKey, str] = {
    **_by_resolution("kling-3.0-turbo", "audio", "0.8", "1.0"),
    **_by_resolution("kling-3.0", "silent", "0.6", "0.8", "3"),
    **_by_resolution("kling-3.0", "audio", "0.9", "1.2", "3"),
    **_by_resolution("kling-3.0", "motion", "0.9", "1.2"),
    **_by_resolution("kling-3.0-omni", "silent", "0.6", "0.8", "3"),
    **_by_resolution("kling-3.0-omni", "audio", "0.8", "1.0", "3"),
    **_by_resolution("kling-3.0-omni", "video-in", "0.9", "1.2", "3"),
    **_by_resolution("kling-o1", "silent", "0.6", "0.8"),
    **_by_resolution("kling-o1", "video-in", "0.9", "1.2"),
    **_by_resolution("kling-2.6", "silent", "0.3", "0.5"),
    **_by_resolution("kling-2.6", "audio", None, "1.0"),
    **_by_resolution("kling-2.6", "voice", None, "1.2"),
    **_by_resolution("kling-2.6", "motion", "0.5", "0.8"),
    **_by_resolution("kling-2.5-turbo", "silent", "0.3", "0.5"),
}
# Synchronous calls, by (family, path after /v1/<family>/): billed at once, from the video pack (§8.2, §8.4).
SYNC_CALL_UNITS: Mapping[tuple[str, str], Decimal] = {
    ("audio", "tts"): Decimal("0.05"),
    ("videos", "identify-face"): Decimal("0.05"),
    ("videos", "image-recognize"): Decimal("0.1"),
}


@dataclass(frozen=True)
class Rate:
    """A price: so many units per unit of output."""

    units: Decimal
    per: Per


_TABLES: tuple[tuple[Per, Mapping[PriceKey, str]], ...] = (
    ("5 seconds", _PER_FIVE_SECONDS),
    ("second", _PER_SECOND),
    ("image", _PER_IMAGE),
    ("task", _PER_TASK),
    ("second", _PER_SECOND_2026),
    ("image", _PER_IMAGE_2026),
    ("task", _PER_TASK_2026),
    ("second", _PER_SECOND_4K),
    ("second", _PER_SECOND_NEW),
)
RATES: Mapping[PriceKey, Rate] = {
    key: Rate(Decimal(units), per) for per, table in _TABLES for key, units in table.items()
}


@dataclass(frozen=True)
class SourceVideo:
    """The video a task works on, when the caller knows it: its model, mode and length."""

    model: str
    mode: str | None
    duration_s: float


def unit_cost(
    spec: ActionSpec,
    body: CreateBody,
    *,
    source: SourceVideo | None = None,
    images_made: int | None = None,
    output_s: float | None = None,
) -> Decimal:
    """Return the units Kling charges for this task when it succeeds, knowing its source video, how many images
    it made (a series of "auto" length) or how long its output is (motion control) when given."""
    key, duration = _priced_as(body, source)
    if key not in RATES:
        raise KeyError(f"no price for {spec.family}/{spec.action} with model, mode, variant {key}")
    rate = RATES[key]
    if output_s is not None:
        duration = round(output_s)  # log 2025-12-22: motion control bills whole seconds, rounded
    seconds = ASSUMED_SECONDS if duration is None else Decimal(str(duration))
    quantity = {
        "5 seconds": (seconds / 5).to_integral_value(rounding=ROUND_CEILING),
        "second": seconds,
        "image": Decimal(body.slots()[1] if images_made is None else images_made),
        "task": Decimal(1),
    }[rate.per]
    return _tidy(rate.units * quantity)


def _priced_as(body: CreateBody, source: SourceVideo | None) -> tuple[PriceKey, float | None]:
    """Return the row of the table the task falls in and the output length it is charged for."""
    model, duration = body.model(), body.duration_s()
    if isinstance(body, NewMotionControl):
        # Billed on the output, as long as the motion taken from the reference video: its real length when it
        # is known, else the longest the request allows, so that a hold made from this is never short.
        known = None if source is None else whole_seconds(source.duration_s)
        return (model, body.mode(), body.variant()), known or body.longest_output_s()
    if source is not None and model in PRICED_BY_SOURCE:
        # A source video without a mode was made in the default one, std.
        return (source.model, source.mode or "std", PRICED_BY_SOURCE[model]), duration
    if source is not None and model in AS_LONG_AS_SOURCE:
        duration = source.duration_s
    return (model, body.mode(), body.variant()), duration


def whole_seconds(seconds: float) -> int:
    """Round a length to the whole seconds Kling bills (log 2025-12-22: to the nearest, halves up)."""
    return int(Decimal(str(seconds)).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def sync_call_cost(family: str, call: str) -> Decimal:
    """Return the units a synchronous call deducts at once (0 for the calls with no price)."""
    return SYNC_CALL_UNITS.get((family, call), Decimal(0))


def _tidy(units: Decimal) -> Decimal:
    """Round to cents without trailing zeros, so that str() reads like final_unit_deduction ("5", "3.5")."""
    cents = units.quantize(CENT)
    whole = cents.to_integral_value()
    return whole if cents == whole else cents.normalize()
