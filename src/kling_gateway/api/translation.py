"""Read OpenAI-style and new-api-style video requests as Kling text2video / image2video bodies.

Both APIs name a frame by its size; Kling by an aspect ratio and a mode (std = 720p, pro = 1080p). A size maps
to exactly one of those, or is refused with the list of sizes that do.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from math import gcd
from typing import Any

from kling_gateway.errors import InvalidRequest
from kling_gateway.kling.schemas import ACTIONS, ActionSpec, Family

TEXT2VIDEO = ACTIONS[(Family.VIDEOS, "text2video")]
IMAGE2VIDEO = ACTIONS[(Family.VIDEOS, "image2video")]
_ASPECTS = {(16, 9): "16:9", (9, 16): "9:16", (1, 1): "1:1"}
_MODE_BY_SHORT_SIDE = {720: "std", 1080: "pro"}
SIZES = tuple(
    f"{short * across // min(across, down)}x{short * down // min(across, down)}"
    for short in _MODE_BY_SHORT_SIDE
    for across, down in _ASPECTS
)
MAX_REFERENCE_BYTES = 10 * 1024 * 1024  # Kling takes pictures up to 10 MB
REFERENCE_TYPES = frozenset({"image/jpeg", "image/jpg", "image/png"})


@dataclass(frozen=True, slots=True)
class Frame:
    """A Kling aspect ratio and mode."""

    aspect_ratio: str
    mode: str


def frame_of(width: int, height: int, *, param: str) -> Frame:
    """Map a frame size to Kling's aspect ratio and mode, or say which sizes Kling makes."""
    divisor = gcd(width, height) or 1
    aspect = _ASPECTS.get((width // divisor, height // divisor))
    mode = _MODE_BY_SHORT_SIDE.get(min(width, height))
    if aspect is None or mode is None:
        raise InvalidRequest(
            f"{param}: Kling makes no {width}x{height} video; use one of {', '.join(SIZES)} "
            "(720p is mode std, 1080p is mode pro)",
            param=param,
        )
    return Frame(aspect, mode)


def parse_size(raw: Any, *, param: str = "size") -> Frame:
    """Read a `WIDTHxHEIGHT` size."""
    width, sep, height = str(raw).lower().partition("x")
    if not sep or not width.isascii() or not width.isdigit() or not height.isascii() or not height.isdigit():
        raise InvalidRequest(
            f"{param}: {raw!r} is not a size like 1280x720; use one of {', '.join(SIZES)}", param=param
        )
    return frame_of(int(width), int(height), param=param)


def seconds_text(raw: Any, *, param: str) -> str:
    """Read a clip length in whole seconds, as Kling's `duration` takes it ("5")."""
    text = str(raw).strip()
    if isinstance(raw, bool) or not text.replace(".", "", 1).isdigit() or float(text) != int(float(text)):
        raise InvalidRequest(f"{param}: {raw!r} is not a whole number of seconds (Kling makes 5 or 10)", param=param)
    return str(int(float(text)))


def image_reference(content: bytes, content_type: str | None, *, param: str) -> str:
    """Turn an uploaded picture into the base64 text Kling's `image` field takes."""
    if (content_type or "").split(";")[0].strip().lower() not in REFERENCE_TYPES:
        raise InvalidRequest(f"{param}: the file must be a JPEG or PNG picture (got {content_type!r})", param=param)
    if not content:
        raise InvalidRequest(f"{param}: the file is empty", param=param)
    if len(content) > MAX_REFERENCE_BYTES:
        raise InvalidRequest(f"{param}: the picture is larger than Kling's 10 MB", param=param)
    return base64.b64encode(content).decode()


def without_data_prefix(image: str) -> str:
    """Kling takes a URL or bare base64: drop the `data:image/png;base64,` of a data URL."""
    if image.startswith("data:") and "," in image:
        return image.partition(",")[2]
    return image


def video_body(
    *,
    prompt: Any,
    model: Any = None,
    seconds: str | None = None,
    frame: Frame | None = None,
    image: str | None = None,
    image_tail: Any = None,
    extra: dict[str, Any] | None = None,
) -> tuple[ActionSpec, dict[str, Any]]:
    """Build the Kling body: image2video when a picture is given, text2video otherwise."""
    spec = IMAGE2VIDEO if image is not None else TEXT2VIDEO
    body: dict[str, Any] = {}
    if prompt is not None:
        body["prompt"] = prompt
    if model is not None:
        body["model_name"] = model
    if seconds is not None:
        body["duration"] = seconds
    if frame is not None:
        body["mode"] = frame.mode
        if spec is TEXT2VIDEO:  # an image2video clip takes its orientation from the picture
            body["aspect_ratio"] = frame.aspect_ratio
    if image is not None:
        body["image"] = image
    if image_tail is not None:
        body["image_tail"] = image_tail
    body.update(extra or {})
    return spec, body


def reject_unknown(fields: dict[str, Any], allowed: frozenset[str], *, what: str) -> None:
    """Refuse fields an API does not have, naming the ones it does."""
    unknown = sorted(set(fields) - allowed)
    if unknown:
        raise InvalidRequest(
            f"{', '.join(unknown)}: not a field of {what}; the fields are {', '.join(sorted(allowed))}",
            param=unknown[0],
        )
