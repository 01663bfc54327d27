"""How long Kling typically takes to run a task, from the field reports in reference §6.1.

The official API publishes no SLA; these medians come from live captures and aggregator reports. The sandbox
draws its lifecycle around them and the gateway uses them to estimate progress.
"""

from __future__ import annotations

from dataclasses import dataclass

from kling_gateway.kling.schemas import ActionSpec, CreateBody, Family

# Median seconds from submit to the end of processing for a 5 s clip, by model and mode.
_VIDEO_5S_MEDIAN_S: dict[tuple[str, str | None], float] = {
    ("kling-v2-5-turbo", "std"): 40.0,
    ("kling-v2-5-turbo", "pro"): 45.0,
    ("kling-v2-1", "std"): 75.0,
    ("kling-v2-1", "pro"): 90.0,
    ("kling-v3", "pro"): 210.0,
    ("kling-v3-omni", "pro"): 210.0,
}
_VIDEO_STD_5S_S = 120.0  # "submitted 0-30 s; processing 30-120 s std"
_VIDEO_PRO_5S_S = 200.0  # "60-300 s pro"; a live I2V capture took 237 s
_ACTION_MEDIAN_S: dict[str, float] = {
    "lip-sync": 180.0,  # "≈3 min"
    "advanced-lip-sync": 180.0,
    "avatar/image2video": 180.0,
    "kolors-virtual-try-on": 10.0,
}
_IMAGE_MEDIAN_S = 8.0  # an image task example went from created to updated in 7.9 s
_TEN_SECONDS_FACTOR = 1.6  # "10 s ≈ ×1.5-2"
_QUEUE_SHARE = 0.1  # the part of the total a task spends `submitted` before `processing`


@dataclass(frozen=True, slots=True)
class TypicalTiming:
    """Typical seconds a task spends queued (`submitted`) and in total until it finishes."""

    queued_s: float
    total_s: float


def typical_timing(spec: ActionSpec, body: CreateBody) -> TypicalTiming:
    """Estimate the typical queue wait and total run time of one task."""
    total = _median_total_s(spec, body)
    return TypicalTiming(queued_s=min(total * _QUEUE_SHARE, 20.0), total_s=total)


def _median_total_s(spec: ActionSpec, body: CreateBody) -> float:
    if spec.action in _ACTION_MEDIAN_S:
        return _ACTION_MEDIAN_S[spec.action]
    if spec.family is Family.IMAGES:
        return _IMAGE_MEDIAN_S
    mode = body.mode()
    base = _VIDEO_5S_MEDIAN_S.get((body.model(), mode))
    if base is None:
        base = _VIDEO_PRO_5S_S if mode == "pro" else _VIDEO_STD_5S_S
    seconds = body.duration_s() or 5.0
    return base * (1.0 + (_TEN_SECONDS_FACTOR - 1.0) * max(seconds - 5.0, 0.0) / 5.0)
