"""The gateway's own task ids: `video_<ULID>`, `image_<ULID>`, `audio_<ULID>` and `general_<ULID>`."""

from __future__ import annotations

import re

from ulid import ULID

from kling_gateway.kling.schemas import Family

_PREFIXES = {Family.VIDEOS: "video_", Family.IMAGES: "image_", Family.AUDIO: "audio_", Family.GENERAL: "general_"}
_PLATFORM_ID = re.compile(r"(video|image|audio|general)_[0-9A-HJKMNP-TV-Z]{26}")


def new_platform_id(family: Family) -> str:
    """Make the id a new task keeps for life; ULIDs sort by creation time."""
    return f"{_PREFIXES[family]}{ULID()}"


def is_platform_id(reference: str) -> bool:
    """Tell whether a reference has the form of a platform id (and so is looked up only as one)."""
    return _PLATFORM_ID.fullmatch(reference) is not None
