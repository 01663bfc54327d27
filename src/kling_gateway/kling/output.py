"""What a task's output will be, as far as its request tells: the capability map of reference §2.16.

Only what follows from the request is said. An image2video clip takes its orientation from the input picture,
so its width and height are unknown (None); a lip-sync keeps its source's frame, so it says nothing at all.
"""

from __future__ import annotations

from dataclasses import dataclass

from kling_gateway.kling.schemas import ActionSpec, CreateBody, Family
from kling_gateway.kling.schemas.new_video import NewVideoBody
from kling_gateway.kling.schemas.new_video import OmniVideo as NewOmniVideo
from kling_gateway.kling.timing import typical_timing

# The short side of the frame by model and mode; models not named here give 720p in std and 1080p in pro.
_SINGLE_TIER_SHORT_SIDE = {"kling-v1": 720, "kling-v2-master": 720, "kling-v2-1-master": 1080}
_SHORT_SIDE_BY_MODE = {"std": 720, "pro": 1080}
_SHORT_SIDE_BY_RESOLUTION = {"720p": 720, "1080p": 1080, "4k": 2160}
_THIRTY_FPS_MODELS = frozenset({"kling-v1", "kling-v1-5"})
_DEFAULT_FPS = 24
# Actions whose frame is drawn from the model and mode (others follow a source video or picture).
_GENERATED = frozenset({"text2video", "image2video", "multi-image2video", "omni-video"})
# The official default aspect ratio where the request may leave it out and no picture sets it.
_DEFAULT_ASPECT = {"text2video": "16:9", "multi-image2video": "16:9"}
_ASPECTS = {"16:9": (16, 9), "9:16": (9, 16), "1:1": (1, 1)}


@dataclass(frozen=True, slots=True)
class ExpectedOutput:
    """The model, requested length and frame of a task's output, and how long such a task typically takes."""

    model: str
    seconds: int | None
    width: int | None
    height: int | None
    fps: int | None
    typical_ms: int


def expected_output(spec: ActionSpec, body: CreateBody) -> ExpectedOutput:
    """Say what a valid create body will produce."""
    model = body.model()
    duration = body.duration_s()
    width = height = fps = None
    if isinstance(body, NewVideoBody):
        fps = _DEFAULT_FPS
        aspect = _new_aspect(body)
        if aspect is not None:
            width, height = _frame(_SHORT_SIDE_BY_RESOLUTION[body.mode()], _ASPECTS[aspect])
    elif spec.family is Family.VIDEOS and spec.action in _GENERATED:
        fps = _fps(model, spec.action)
        aspect = getattr(body, "aspect_ratio", None) or _DEFAULT_ASPECT.get(spec.action)
        if aspect in _ASPECTS:
            width, height = _frame(_short_side(model, body.mode()), _ASPECTS[aspect])
    return ExpectedOutput(
        model=model,
        seconds=None if duration is None else round(duration),
        width=width,
        height=height,
        fps=fps,
        typical_ms=round(typical_timing(spec, body).total_s * 1000),
    )


def _new_aspect(body: NewVideoBody) -> str | None:
    """Return the aspect ratio of a new-generation output where the request decides it (text and omni)."""
    if body.product == "text-to-video":
        return body.chosen().aspect_ratio or "16:9"
    if isinstance(body, NewOmniVideo):
        # A first frame or a reference video sets the frame unless the request names one (Appendix A #12).
        follows_input = body.items("first_frame") or body.reference_video()
        return body.chosen().aspect_ratio or (None if follows_input else "16:9")
    return None  # image-to-video and motion control follow their picture or video


def _short_side(model: str, mode: str | None) -> int:
    if model in _SINGLE_TIER_SHORT_SIDE:
        return _SINGLE_TIER_SHORT_SIDE[model]
    return _SHORT_SIDE_BY_MODE.get(mode or "std", 720)


def _fps(model: str, action: str) -> int:
    if model in _THIRTY_FPS_MODELS or (model == "kling-v1-6" and action == "image2video"):
        return 30
    return _DEFAULT_FPS


def _frame(short_side: int, aspect: tuple[int, int]) -> tuple[int, int]:
    across, down = aspect
    if across >= down:
        return short_side * across // down, short_side
    return short_side, short_side * down // across
