"""The parts of a new-generation body (reference 2026 §3.1): options, settings, contents and multi-shot prompts."""

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import AfterValidator, StringConstraints, TypeAdapter, ValidationError

from .base import KlingModel, Problem, WatermarkInfo
from .fields import (
    EXTERNAL_TASK_ID_MAX_CHARS,
    CallbackUrl,
    ExternalTaskId,
    HttpUrl,
    LargeImageInput,
    VideoAspectRatio,
    field_error,
    shown,
)
from .rules import quoted

MAX_SHOTS = 6
SHOT_WORDS_MAX_CHARS = 512
# `shot n, m, words;` with ASCII separators (§3.1); words may hold commas, never the `;` that ends a shot.
_SHOT = re.compile(r"\s*shot\s+(\d+)\s*,\s*(\d+)\s*,\s*(.*)", re.IGNORECASE | re.DOTALL)
_LOOKS_LIKE_SHOTS = re.compile(r"\s*shot\s+\d", re.IGNORECASE)
_ELEMENT_ID = re.compile(r"[0-9]{1,30}")

Resolution = Literal["720p", "1080p", "4k"]
Audio = Literal["native", "original", "off"]
Orientation = Literal["image", "video"]

IMAGE_TYPES = frozenset({"first_frame", "last_frame", "refer_image", "image"})
VIDEO_TYPES = frozenset({"feature_video", "base_video", "video"})
CONTENT_FIELDS = ("text", "url", "id", "element_id", "voice_id")


def _content_id(value: str) -> str:
    # The id is written `@<id>` in the prompt: a space or an "@" inside it could never be referred to.
    if not value or any(c.isspace() or c == "@" for c in value):
        raise field_error(f'must be a non-empty name without spaces or "@", such as "image_1" (got {shown(value)})')
    return value


def _element_id(value: str) -> str:
    if not _ELEMENT_ID.fullmatch(value):
        raise field_error(
            f'must be an element id: a string of digits such as "829833149733515340" (got {shown(value)})'
        )
    return value


ContentId = Annotated[str, AfterValidator(_content_id)]
ElementId = Annotated[str, AfterValidator(_element_id)]
VoiceId = Annotated[str, StringConstraints(min_length=1)]
# The vendor's own example sends `"external_task_id": ""`: an empty id means none.
OptionalExternalTaskId = Annotated[str, StringConstraints(max_length=EXTERNAL_TASK_ID_MAX_CHARS)]

_EXTERNAL_ID: TypeAdapter[str] = TypeAdapter(ExternalTaskId)
_IMAGE: TypeAdapter[str] = TypeAdapter(LargeImageInput)
_VIDEO_URL: TypeAdapter[str] = TypeAdapter(HttpUrl)


def _refusal(adapter: TypeAdapter[str], value: str) -> str | None:
    """Say why a value fails one of the field types, in that type's own words, or None when it passes."""
    try:
        adapter.validate_python(value)
    except ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        return str(error.get("ctx", {}).get("text", error["msg"]))
    return None


class Options(KlingModel):
    """Carry what every new-style create shares: where to call back, the caller's own id, the watermark."""

    callback_url: CallbackUrl | None = None
    external_task_id: OptionalExternalTaskId | None = None
    watermark_info: WatermarkInfo | None = None

    def problems(self) -> Iterator[Problem]:
        if self.external_task_id:
            problem = _refusal(_EXTERNAL_ID, self.external_task_id)
            if problem:
                yield "external_task_id", problem


class Settings(KlingModel):
    """Say how to render: every setting any new-style endpoint takes; each endpoint checks which it allows."""

    multi_shot: bool | None = None
    audio: Audio | None = None
    resolution: Resolution | None = None
    aspect_ratio: VideoAspectRatio | None = None
    duration: int | None = None
    character_orientation: Orientation | None = None
    # Appendix A #11: the changelog asks for it with feature-video multi-shot, no page defines it; taken, ignored.
    shot_type: Literal["intelligence", "customize"] | None = None

    def given(self) -> list[str]:
        """Name the settings the request sets."""
        return [name for name in type(self).model_fields if getattr(self, name) is not None]


class Content(KlingModel):
    """Give one input: a prompt, a frame, a reference image or video, an element or a voice."""

    type: str
    text: str | None = None
    url: str | None = None
    id: ContentId | None = None
    element_id: ElementId | None = None
    voice_id: VoiceId | None = None

    def given(self) -> set[str]:
        """Name the fields the item sets, its type apart."""
        return {name for name in CONTENT_FIELDS if getattr(self, name) is not None}


@dataclass(frozen=True)
class ContentRule:
    """Which fields an item of one type needs and which it may have."""

    needs: frozenset[str]
    may: frozenset[str] = frozenset()


def content_rules(*, frame_ids: bool) -> dict[str, ContentRule]:
    """Return the field rules of every item type; frames take an `id` only on the omni endpoints."""
    frame = ContentRule(frozenset({"url"}), frozenset({"id"}) if frame_ids else frozenset())
    return {
        "prompt": ContentRule(frozenset({"text"})),
        "first_frame": frame,
        "last_frame": frame,
        "refer_image": ContentRule(frozenset({"url"}), frozenset({"id"})),
        "feature_video": ContentRule(frozenset({"url"}), frozenset({"id"})),
        "base_video": ContentRule(frozenset({"url"}), frozenset({"id"})),
        "element": ContentRule(frozenset({"element_id", "id"})),
        "voice": ContentRule(frozenset({"voice_id", "id"})),
        "image": ContentRule(frozenset({"url"})),
        "video": ContentRule(frozenset({"url"})),
    }


def content_problems(
    contents: Sequence[Content], allowed: Sequence[str], where: str, *, frame_ids: bool = False
) -> Iterator[Problem]:
    """Check each item's type against the endpoint, its fields against its type, and its media."""
    rules = content_rules(frame_ids=frame_ids)
    for index, item in enumerate(contents):
        at = f"contents[{index}]"
        if item.type not in allowed:
            yield f"{at}.type", f"{shown(item.type)} is not allowed on {where}; allowed values are {quoted(allowed)}"
            continue
        rule, given = rules[item.type], item.given()
        for name in sorted(rule.needs - given):
            yield f"{at}.{name}", f'is required in a "{item.type}" item'
        for name in sorted(given - rule.needs - rule.may):
            yield f"{at}.{name}", f'is not a field of a "{item.type}" item on {where}; leave it out'
        if item.type == "prompt" and item.text is not None and not item.text.strip():
            yield f"{at}.text", "must not be empty or only spaces"
        if item.url is not None and item.type in IMAGE_TYPES:
            problem = _refusal(_IMAGE, item.url)
            if problem:
                yield f"{at}.url", problem
        if item.url is not None and item.type in VIDEO_TYPES:
            problem = _refusal(_VIDEO_URL, item.url)
            if problem:
                yield f"{at}.url", f"{problem}; videos are taken by URL only, never as Base64"
    yield from _id_problems(contents)


def _id_problems(contents: Sequence[Content]) -> Iterator[Problem]:
    """Refuse ids a prompt could not tell apart: the same id twice, or one id inside another (`@a`, `@ab`)."""
    seen: dict[str, int] = {}
    for index, item in enumerate(contents):
        if item.id is None:
            continue
        if item.id in seen:
            yield f"contents[{index}].id", f"{shown(item.id)} is already the id of contents[{seen[item.id]}]"
            continue
        for other, at in seen.items():
            if other in item.id or item.id in other:
                yield (
                    f"contents[{index}].id",
                    f"{shown(item.id)} and {shown(other)} (contents[{at}]) contain one another, "
                    f'so "@{min(other, item.id, key=len)}" in the prompt would be ambiguous',
                )
        seen[item.id] = index


def shot_problems(prompt: str, duration: int, where: str) -> Iterator[Problem]:
    """Check a multi-shot prompt `shot n, m, words; ...`: shots 1..6 in order, m ≥ 1 s each, Σm = duration."""
    if not _LOOKS_LIKE_SHOTS.match(prompt):
        return  # a plain prompt: the model cuts the shots itself
    parts = [part for part in prompt.split(";") if part.strip()]
    total, numbers = 0, []
    for position, part in enumerate(parts, start=1):
        shot = _SHOT.fullmatch(part)
        if shot is None:
            yield where, f"shot {position} must read `shot <n>, <seconds>, <words>;` (got {shown(part.strip())})"
            return
        number, seconds, words = int(shot[1]), int(shot[2]), shot[3].strip()
        numbers.append(number)
        total += seconds
        if seconds < 1:
            yield where, f"shot {number} lasts {seconds} s; every shot must last at least 1 s"
        if not words:
            yield where, f"shot {number} has no words"
        elif len(words) > SHOT_WORDS_MAX_CHARS:
            yield (
                where,
                f"shot {number} has {len(words)} characters of words; at most {SHOT_WORDS_MAX_CHARS} are allowed",
            )
    if len(numbers) > MAX_SHOTS:
        yield where, f"has {len(numbers)} shots; at most {MAX_SHOTS} are allowed"
    elif numbers != list(range(1, len(numbers) + 1)):
        yield where, f"shots must be numbered 1, 2, ... in order (got {shown(numbers)})"
    if total != duration:
        yield where, f"shot lengths add up to {total} s but settings.duration is {duration}; they must add up to it"
