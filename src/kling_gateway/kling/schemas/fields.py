"""Field types shared by the request schemas: media inputs, URLs, prompts, durations and ranges."""

import base64
import binascii
import json
import re
import unicodedata
from collections.abc import Callable
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, BeforeValidator, Field, StringConstraints
from pydantic_core import PydanticCustomError

from .media import audio_problem, image_problem

PROMPT_MAX_CHARS = 2500
SHOT_PROMPT_MAX_CHARS = 512
LIP_SYNC_TEXT_MAX_CHARS = 120
CALLBACK_URL_MAX_CHARS = 2048
EXTERNAL_TASK_ID_MAX_CHARS = 128
IMAGE_MAX_BYTES = 10 * 1024 * 1024
LARGE_IMAGE_MAX_BYTES = 50 * 1024 * 1024  # the new-generation endpoints take images up to 50 MB
AUDIO_MAX_BYTES = 5 * 1024 * 1024
SHOWN_MAX_CHARS = 60
# ASCII digits only, and few enough that int() never refuses them.
WHOLE_NUMBER = re.compile(r"[0-9]{1,9}")

Inspector = Callable[[bytes, str], str | None]
"""Say why Kling would refuse some decoded media (or None), given how the caller may send it instead."""


def shown(value: object) -> str:
    """Render a received value for an error message, short enough to read."""
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str) and len(value) > SHOWN_MAX_CHARS - 5:
        return json.dumps(value[: SHOWN_MAX_CHARS - 5] + "...", ensure_ascii=False)
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= SHOWN_MAX_CHARS else text[: SHOWN_MAX_CHARS - 3] + "..."


def field_error(text: str) -> PydanticCustomError:
    """Build a field-level error whose text the formatter shows as written."""
    # The text goes through ctx, not the template, so braces in user values are never interpreted.
    return PydanticCustomError("kling_value", "{text}", {"text": text})


def _is_http_url(value: str) -> bool:
    parts = urlsplit(value)
    try:
        parts.port  # noqa: B018 - reading it is the check: a port that is not a number raises
    except ValueError:
        return False
    return parts.scheme in {"http", "https"} and bool(parts.hostname) and not any(c.isspace() for c in value)


def _http_url(value: str) -> str:
    if not _is_http_url(value):
        raise field_error(f"must be an absolute http:// or https:// URL (got {shown(value)})")
    return value


def _base64_bytes(value: str) -> bytes | None:
    """Decode strict standard Base64, or return None when the value is not Base64."""
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None


def _media(kind: str, max_bytes: int, inspect: Inspector, *, urls: bool = True) -> AfterValidator:
    limit_mb = max_bytes // (1024 * 1024)
    either = f"an http(s) URL or raw Base64 {kind} data" if urls else f"raw Base64 {kind} data"
    sent_as = "as a URL or raw Base64" if urls else "as raw Base64"

    def check(value: str) -> str:
        # A URL is not fetched here: whether it is reachable and what it holds is Kling's to find out.
        if urls and _is_http_url(value):
            return value
        if value.startswith("data:"):
            raise field_error(f'has a "data:...;base64," prefix; send {either} without it')
        if not value.strip():
            raise field_error(f"must not be empty; send {either}")
        data = _base64_bytes(value)
        if not data:
            raise field_error(f"must be {either} (got {shown(value)})")
        if len(data) > max_bytes:
            raise field_error(f"is {len(data) / (1024 * 1024):.1f} MB of {kind} data; at most {limit_mb} MB is allowed")
        problem = inspect(data, sent_as)
        if problem:
            raise field_error(problem)
        return value

    return AfterValidator(check)


def whole_number(text: str) -> int | None:
    """Read a string of ASCII digits, or return None when it is anything else."""
    # str.isdigit() also takes "²" (which int() refuses) and "５" (which int() reads); Kling means ASCII digits.
    return int(text) if WHOLE_NUMBER.fullmatch(text) else None


def _not_blank(value: str) -> str:
    if not value.strip():
        raise field_error("must not be empty or only spaces")
    return value


def _no_control_chars(value: str) -> str:
    if any(unicodedata.category(c) == "Cc" for c in value):
        raise field_error("must not contain control characters (such as newlines or tabs)")
    return value


def _no_slash(value: str) -> str:
    if "/" in value:
        raise field_error(
            f'must not contain "/", because the id is used in query paths (GET .../{{id}}) where "/" would split it'
            f" (got {shown(value)})"
        )
    return value


def _text_not_number(value: object) -> object:
    # Kling takes durations as strings; a JSON number is the commonest client mistake, so name it.
    if isinstance(value, str):
        return value
    kind = "the number" if isinstance(value, int | float) and not isinstance(value, bool) else "the value"
    raise field_error(f'must be a string such as "5", not a JSON number or other type (got {kind} {shown(value)})')


ImageInput = Annotated[str, _media("image", IMAGE_MAX_BYTES, image_problem)]
"""An image or mask: an http(s) URL or raw Base64 of a JPEG or PNG (≤10 MB, sides ≥300 px, 1:2.5 to 2.5:1)."""
LargeImageInput = Annotated[str, _media("image", LARGE_IMAGE_MAX_BYTES, image_problem)]
"""An image of a new-generation body: as ImageInput, up to 50 MB."""
AudioFile = Annotated[str, _media("audio", AUDIO_MAX_BYTES, audio_problem, urls=False)]
"""An audio file sent inline: raw Base64 of mp3, wav, m4a or aac (≤5 MB)."""
AudioInput = Annotated[str, _media("audio", AUDIO_MAX_BYTES, audio_problem)]
"""An audio file: an http(s) URL or raw Base64 of mp3, wav, m4a or aac (≤5 MB)."""
HttpUrl = Annotated[str, AfterValidator(_http_url)]
CallbackUrl = Annotated[str, StringConstraints(max_length=CALLBACK_URL_MAX_CHARS), AfterValidator(_http_url)]
ExternalTaskId = Annotated[
    str,
    StringConstraints(min_length=1, max_length=EXTERNAL_TASK_ID_MAX_CHARS),
    AfterValidator(_no_control_chars),
    AfterValidator(_no_slash),
]
Identifier = Annotated[str, StringConstraints(min_length=1), AfterValidator(_not_blank)]
"""An id issued by Kling (video_id, session_id, voice_id, face_id, audio_id)."""

Prompt = Annotated[str, StringConstraints(max_length=PROMPT_MAX_CHARS)]
RequiredPrompt = Annotated[
    str, StringConstraints(min_length=1, max_length=PROMPT_MAX_CHARS), AfterValidator(_not_blank)
]
ShotPrompt = Annotated[
    str, StringConstraints(min_length=1, max_length=SHOT_PROMPT_MAX_CHARS), AfterValidator(_not_blank)
]
LipSyncText = Annotated[
    str, StringConstraints(min_length=1, max_length=LIP_SYNC_TEXT_MAX_CHARS), AfterValidator(_not_blank)
]

DurationText = Annotated[str, BeforeValidator(_text_not_number)]
"""A duration in whole seconds written as a string; which values are allowed depends on the model."""
ClipDuration = Annotated[Literal["5", "10"], BeforeValidator(_text_not_number)]

Tier = Literal["std", "pro"]
VideoTier = Literal["std", "pro", "4k"]
"""The mode of the models that also render native 4K (since 2026-04-23): kling-v3 and kling-v3-omni."""
OnOff = Literal["on", "off"]
YesNo = Literal["yes", "no"]
VideoAspectRatio = Literal["16:9", "9:16", "1:1"]
ImageAspectRatio = Literal["16:9", "9:16", "1:1", "4:3", "3:4", "3:2", "2:3", "21:9"]
ImageResolution = Literal["1k", "2k"]
OmniImageResolution = Literal["1k", "2k", "4k"]

UnitInterval = Annotated[float, Field(ge=0, le=1)]
Volume = Annotated[float, Field(ge=0, le=2)]
ExpansionRatio = Annotated[float, Field(ge=0, le=2)]
CameraAxis = Annotated[float, Field(ge=-10, le=10)]
VoiceSpeed = Annotated[float, Field(ge=0.8, le=2.0)]
ImageCount = Annotated[int, Field(ge=1, le=9)]
Milliseconds = Annotated[int, Field(ge=0)]
