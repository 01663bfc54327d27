"""Bodies of the synchronous helper calls: the multi-elements selection session and identify-face."""

from collections.abc import Iterator
from typing import Annotated

from pydantic import ConfigDict, Field

from .base import KlingModel, Problem
from .fields import HttpUrl, Identifier, UnitInterval
from .rules import exactly_one


class VideoSource(KlingModel):
    """Point at a video by its Kling id or by URL, exactly one of the two."""

    video_id: Identifier | None = None
    video_url: HttpUrl | None = None

    def problems(self) -> Iterator[Problem]:
        yield from exactly_one({"video_id": self.video_id, "video_url": self.video_url})


class InitSelection(VideoSource):
    """Open a selection session on a video (POST /v1/videos/multi-elements/init-selection)."""

    model_config = ConfigDict(title="multi-elements/init-selection")


class IdentifyFace(VideoSource):
    """Find the faces of a video before an advanced lip-sync (POST /v1/videos/identify-face)."""

    model_config = ConfigDict(title="identify-face")


class SelectionPoint(KlingModel):
    """Mark a point of a frame, as fractions of its width and height from the top-left corner."""

    x: UnitInterval
    y: UnitInterval


class SessionCall(KlingModel):
    """Act on a whole selection session."""

    session_id: Identifier


class ClearSelection(SessionCall):
    """Drop every selected area (POST /v1/videos/multi-elements/clear-selection)."""

    model_config = ConfigDict(title="multi-elements/clear-selection")


class PreviewSelection(SessionCall):
    """Render the tracked selection as a video (POST /v1/videos/multi-elements/preview-selection)."""

    model_config = ConfigDict(title="multi-elements/preview-selection")


class PointsCall(SessionCall):
    """Select or unselect the area under some points of one frame."""

    frame_index: Annotated[int, Field(ge=0)]
    points: list[SelectionPoint] = Field(min_length=1)


class AddSelection(PointsCall):
    """Select the area under the points (POST /v1/videos/multi-elements/add-selection)."""

    model_config = ConfigDict(title="multi-elements/add-selection")


class DeleteSelection(PointsCall):
    """Unselect the area under points given before (POST /v1/videos/multi-elements/delete-selection)."""

    model_config = ConfigDict(title="multi-elements/delete-selection")
