"""The input-count rules of the new omni and motion-control endpoints (reference 2026 §3.5, §3.6)."""

from collections.abc import Iterator, Sequence

from .base import Problem
from .new_parts import Content, Settings
from .rules import counted

MAX_REFS_WITHOUT_VIDEO = 7
MAX_REFS_WITH_VIDEO = 4
MAX_CHARACTERS_WITHOUT_VIDEO = 3
MAX_CHARACTERS_WITH_VIDEO = 1
MAX_ELEMENTS_WITH_FRAMES = 3
MAX_MOTION_ELEMENTS = 1
CLIP_DURATIONS = (5, 10)


def _count(contents: Sequence[Content], kind: str) -> int:
    return sum(item.type == kind for item in contents)


def omni_problems(model: str, contents: Sequence[Content], settings: Settings, duration: float) -> Iterator[Problem]:
    """Check the frames, reference videos, images and elements of an omni body, and the settings they constrain."""
    first, last = _count(contents, "first_frame"), _count(contents, "last_frame")
    refer, elements = _count(contents, "refer_image"), _count(contents, "element")
    features, bases = _count(contents, "feature_video"), _count(contents, "base_video")
    video = "feature_video" if features else "base_video" if bases else None
    for kind, count in (("first_frame", first), ("last_frame", last)):
        if count > 1:
            yield "contents", f'has {count} "{kind}" items; at most 1 is allowed'
    if features + bases > 1:
        yield "contents", f"has {features + bases} videos; at most 1 feature_video or base_video is allowed"
    if last and not first:
        yield "contents", 'a "last_frame" needs a "first_frame" too (last frame only is not supported)'
    if video == "base_video" and (first or last):
        yield "contents", "first_frame and last_frame are not allowed when editing a base_video"
    if settings.audio == "original" and video is None:
        yield (
            "settings.audio",
            '"original" keeps the sound of a reference video; it needs a base_video or feature_video',
        )
    if model == "kling-o1":
        yield from _o1_problems(first, last, refer, elements, video, settings, duration)
    else:
        yield from _v3_omni_problems(first, refer, elements, video, settings)


def _o1_problems(
    first: int, last: int, refer: int, elements: int, video: str | None, settings: Settings, duration: float
) -> Iterator[Problem]:
    if video == "feature_video" and last:
        yield "contents", 'a feature_video allows a "first_frame" but not a "last_frame" on model kling-o1'
    if first and last and (refer or elements):
        yield "contents", "with first and last frames, refer_image and element items are not allowed on model kling-o1"
    limit = MAX_REFS_WITH_VIDEO if video else MAX_REFS_WITHOUT_VIDEO
    if refer + elements > limit:
        case = "with a reference video" if video else "without a reference video"
        yield (
            "contents",
            f"{counted(refer, 'refer_image')} and {counted(elements, 'element')} make {refer + elements}; "
            f"at most {limit} are allowed {case} on model kling-o1",
        )
    only_first = first and not (last or refer or elements or video)
    if only_first and settings.duration is not None and int(duration) not in CLIP_DURATIONS:
        yield (
            "settings.duration",
            f"must be 5 or 10 when animating a first frame alone on model kling-o1 (got {settings.duration})",
        )


def _v3_omni_problems(
    first: int, refer: int, elements: int, video: str | None, settings: Settings
) -> Iterator[Problem]:
    if first and elements > MAX_ELEMENTS_WITH_FRAMES:
        yield (
            "contents",
            f"has {counted(elements, 'element')}; at most {MAX_ELEMENTS_WITH_FRAMES} are allowed with frames",
        )
    # An element's kind (video-character or multi-image) is the library's, not the body's: refuse only counts
    # that no mix of kinds could satisfy, explained as if every element were a multi-image one.
    splits = [_split_problems(refer, characters, elements - characters, video) for characters in range(elements + 1)]
    if all(splits):
        for text in splits[0]:
            yield "contents", text
    if video == "feature_video" and settings.audio not in (None, "off"):
        yield "settings.audio", f'must be "off" with a feature_video on model kling-3.0-omni (got "{settings.audio}")'
    if video == "base_video" and settings.audio == "native":
        yield "settings.audio", '"native" is not allowed when editing a base_video; use "original" or "off"'
    if video == "base_video" and settings.multi_shot:
        yield "settings.multi_shot", "must be false when editing a base_video"


def _split_problems(refer: int, characters: int, images: int, video: str | None) -> list[str]:
    """Say what breaks the 3.0 Omni count table for one mix of video-character and multi-image elements."""
    found: list[str] = []
    if video:
        if characters and images:
            found.append("a reference video cannot go with both video-character and multi-image elements")
        if characters and refer:
            found.append("a reference video cannot go with a video-character element and a refer_image")
        if characters > MAX_CHARACTERS_WITH_VIDEO:
            found.append(
                f"at most {MAX_CHARACTERS_WITH_VIDEO} video-character element is allowed with a reference video"
            )
        limit = MAX_REFS_WITH_VIDEO
    else:
        if characters > MAX_CHARACTERS_WITHOUT_VIDEO:
            found.append(f"at most {MAX_CHARACTERS_WITHOUT_VIDEO} video-character elements are allowed")
        limit = MAX_REFS_WITH_VIDEO if characters else MAX_REFS_WITHOUT_VIDEO
    if refer + images > limit:
        case = "with a reference video" if video else "without a reference video"
        found.append(
            f"{counted(refer, 'refer_image')} and {counted(images, 'multi-image element')} make {refer + images}; "
            f"at most {limit} are allowed {case}"
        )
    return found


def motion_problems(contents: Sequence[Content], settings: Settings) -> Iterator[Problem]:
    """Require one image, one video and the character orientation; allow at most one element."""
    for kind in ("image", "video"):
        count = _count(contents, kind)
        if count != 1:
            yield "contents", f'needs exactly one "{kind}" item (got {count})'
    elements = _count(contents, "element")
    if elements > MAX_MOTION_ELEMENTS:
        yield "contents", f"has {counted(elements, 'element')}; at most {MAX_MOTION_ELEMENTS} is allowed"
    if settings.character_orientation is None:
        yield "settings.character_orientation", 'is required; allowed values are "image", "video"'
