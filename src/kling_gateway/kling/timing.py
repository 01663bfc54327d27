"""How long Kling typically takes to run a task, from the field reports in reference §6.1.

The official API publishes no SLA; these medians come from live captures and aggregator reports. The sandbox
draws its lifecycle around them and the gateway uses them to estimate progress.
"""

from __future__ import annotations

from dataclasses import dataclass

from kling_gateway.kling.schemas import ActionSpec, CreateBody, Family, Generation

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
_QUEUE_SHARE = 0.1
# 2026 §8.4 [obs]: seconds from submit to succeeded, and the clip length they were measured on.
_NEW_OBSERVED_S: dict[str, tuple[float, float]] = {"kling-3.0-turbo": (28.0, 3.0), "kling-3.0-omni": (83.0, 3.0)}
# The other path models run like their legacy names; their resolution reads as the legacy mode.
_LEGACY_NAME = {
    "kling-3.0": "kling-v3",
    "kling-o1": "kling-video-o1",
    "kling-2.6": "kling-v2-6",
    "kling-2.5-turbo": "kling-v2-5-turbo",
}
_LEGACY_MODE = {
    "720p": "std",
    "1080p": "pro",
    "4k": "pro",
}  # the part of the total a task spends `submitted` before `processing`


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
    if spec.generation is Generation.NEW:
        return _new_total_s(body)
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


def _new_total_s(body: CreateBody) -> float:
    """Estimate a new-generation task: the observed times where there are any, else its legacy twin's."""
    seconds = body.duration_s() or 5.0
    observed = _NEW_OBSERVED_S.get(body.model())
    if observed is not None:
        total, measured_on = observed
        return total * _longer(seconds, measured_on)
    mode = _LEGACY_MODE.get(body.mode() or "720p", "std")
    base = _VIDEO_5S_MEDIAN_S.get((_LEGACY_NAME.get(body.model(), body.model()), mode))
    if base is None:
        base = _VIDEO_PRO_5S_S if mode == "pro" else _VIDEO_STD_5S_S
    return base * _longer(seconds, 5.0)


def _longer(seconds: float, measured_on: float) -> float:
    """Scale a time measured on a clip of one length to a longer clip ("10 s ≈ ×1.5-2")."""
    return 1.0 + (_TEN_SECONDS_FACTOR - 1.0) * max(seconds - measured_on, 0.0) / 5.0
