"""Which answers a path speaks before any route has run: the OpenAI-shaped surface or Kling's.

The OpenAI videos API (`/v1/videos`, `/v1/videos/{id}`, …), the new-api route (`/v1/video/generations`) and any
`/v1` path outside Kling's families (`/v1/models`, `/v1/chat/completions`) answer in the OpenAI error shape, with
HTTP's own statuses (405 for a wrong method); Kling's paths answer as Kling does, whatever the method.
"""

from __future__ import annotations

import re

from kling_gateway.api.kling_routes import SERVED_ACTIONS
from kling_gateway.kling.schemas import Family
from kling_gateway.tasks.session_calls import RELAYED_CALLS

V1 = "/v1/"
KLING_FAMILIES = frozenset(family.value for family in Family)
# The first segment after /v1/videos/ of every Kling videos path: an action, or a synchronous call.
KLING_VIDEO_SEGMENTS = frozenset(
    name.partition("/")[0]
    for family, name in [*((spec.family, spec.action) for spec in SERVED_ACTIONS.values()), *RELAYED_CALLS]
    if family is Family.VIDEOS
)


def openai_shaped(method: str, path: str) -> bool:
    """Tell whether a request to this path answers in the OpenAI shape, errors included."""
    if not path.startswith(V1):
        return False
    family, _, rest = path.removeprefix(V1).partition("/")
    if family != Family.VIDEOS:
        return family not in KLING_FAMILIES
    first, _, more = rest.partition("/")
    if first in KLING_VIDEO_SEGMENTS:
        return False
    # POST /v1/videos/<name> creates a task of a Kling action: one that does not exist is Kling's to answer.
    return not (method == "POST" and first and not more)


# The creates whose actions take no media: no picture, video or audio, by URL or in Base64, only text and numbers.
TEXT_ONLY_CREATE = re.compile(
    r"(?:/kling)?(?:/v1/videos/(?:text2video|video-extend)|/v1/audio/text-to-audio|/text-to-video/[^/]+)/?"
)


def text_only_create(method: str, path: str) -> bool:
    """Tell whether a request creates a task of an action whose body holds nothing but text and numbers."""
    return method == "POST" and TEXT_ONLY_CREATE.fullmatch(path) is not None
