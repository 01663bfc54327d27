"""The reference video of a new-generation motion-control task, whose length its output and its bill follow."""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from urllib.parse import urlsplit

from kling_gateway.kling.codes import KlingCode
from kling_gateway.kling.schemas.new_video import MotionControl
from kling_gateway.sandbox.errors import SandboxError
from kling_gateway.sandbox.media import CLIP_SECONDS
from kling_gateway.sandbox.sessions import SourceClip
from kling_gateway.sandbox.store import TaskStore

MIN_MOTION_S = 3  # §3.6: at least 3 s of usable motion is needed
_OWN_VIDEO_PATH = re.compile(r"/files/videos/(?P<id>[0-9]+)\.mp4")


def motion_reference(
    body: MotionControl, tasks: TaskStore, rng: random.Random, new_id: Callable[[], str], now_ms: int
) -> SourceClip:
    """Find the length of the reference video: exact for one of this sandbox's videos, else drawn in range."""
    index, url = next((i, item.url) for i, item in enumerate(body.contents) if item.type == "video")
    assert url is not None  # the schema requires the url of a video item
    longest = body.longest_output_s()
    found = _OWN_VIDEO_PATH.fullmatch(urlsplit(url).path)
    record = tasks.video_by_id(found["id"]) if found else None
    if record is not None and record.ready_at(now_ms):
        if record.duration_s > longest:
            raise SandboxError(
                KlingCode.ILLEGAL_VALUE,
                f"contents[{index}].url: video {record.video_id} is {record.duration_s:.1f} s long; with this "
                f"character_orientation the reference video may be at most {longest} s",
            )
        return SourceClip(video_id=record.video_id, url=url, duration_s=record.duration_s, known=True)
    # A video elsewhere is not fetched: its usable motion is drawn, in whole seconds the shipped clips cover.
    seconds = rng.randint(MIN_MOTION_S, min(longest, max(CLIP_SECONDS)))
    return SourceClip(video_id=new_id(), url=url, duration_s=float(seconds), known=False)
