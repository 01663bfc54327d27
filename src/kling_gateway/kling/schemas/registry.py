"""Which schema validates the body of each Kling endpoint."""

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from pydantic import BaseModel

from .base import CreateBody, Family, Generation
from .edits import Avatar, Effects, MultiElements, VideoExtend
from .errors import parse_body
from .images import ImageExpand, ImageGeneration, MultiImage2Image, OmniImage, VirtualTryOn
from .lipsync import AdvancedLipSync, LipSync
from .omni import OmniVideo
from .selection import (
    AddSelection,
    ClearSelection,
    DeleteSelection,
    IdentifyFace,
    InitSelection,
    PreviewSelection,
)
from .videos import Image2Video, MotionControl, MultiImage2Video, Text2Video


@dataclass(frozen=True)
class ActionSpec:
    """Name one asynchronous create endpoint and the schema of its body."""

    family: Family
    action: str  # legacy: the path after /v1/<family>/; new: `<product>/<model>`, the whole path
    schema: type[CreateBody]
    generation: Generation = Generation.LEGACY

    @property
    def path(self) -> str:
        """The create path of the endpoint."""
        if self.generation is Generation.NEW:
            return f"/{self.action}"
        return f"/v1/{self.family.value}/{self.action}"


def _specs(family: Family, schemas: Mapping[str, type[CreateBody]]) -> dict[tuple[Family, str], ActionSpec]:
    return {(family, action): ActionSpec(family, action, schema) for action, schema in schemas.items()}


ACTIONS: Mapping[tuple[Family, str], ActionSpec] = MappingProxyType(
    _specs(
        Family.VIDEOS,
        {
            "text2video": Text2Video,
            "image2video": Image2Video,
            "omni-video": OmniVideo,
            "multi-image2video": MultiImage2Video,
            "multi-elements": MultiElements,
            "lip-sync": LipSync,
            "advanced-lip-sync": AdvancedLipSync,
            "video-extend": VideoExtend,
            "effects": Effects,
            "avatar/image2video": Avatar,
            "motion-control": MotionControl,
        },
    )
    | _specs(
        Family.IMAGES,
        {
            "generations": ImageGeneration,
            "omni-image": OmniImage,
            "multi-image2image": MultiImage2Image,
            "kolors-virtual-try-on": VirtualTryOn,
            "editing/expand": ImageExpand,
        },
    )
)
"""Every asynchronous create endpoint of the legacy generation, by (family, action path after /v1/<family>/)."""

NEW_ACTIONS: Mapping[str, ActionSpec] = MappingProxyType({})
"""Every create endpoint of the new generation, by its path `<product>/<model>` (`text-to-video/kling-3.0-turbo`)."""

SYNC_CALLS: Mapping[str, type[BaseModel]] = MappingProxyType(
    {
        "multi-elements/init-selection": InitSelection,
        "multi-elements/add-selection": AddSelection,
        "multi-elements/delete-selection": DeleteSelection,
        "multi-elements/clear-selection": ClearSelection,
        "multi-elements/preview-selection": PreviewSelection,
        "identify-face": IdentifyFace,
    }
)
"""The synchronous helper calls under /v1/videos/, by path after /v1/videos/."""


def parse_create_body(family: str | Family, action: str, body: object) -> CreateBody:
    """Validate the body of a create request; KeyError when no such endpoint exists."""
    try:
        key = (Family(family), action)
    except ValueError:
        raise KeyError((family, action)) from None
    return parse_body(ACTIONS[key].schema, body)
