"""Which schema validates the body of each Kling endpoint."""

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from pydantic import BaseModel

from .audio import TextToAudio, TextToSpeech, VideoToAudio
from .base import CreateBody, Family, Generation, Package
from .edits import Avatar, Effects, MultiElements, VideoExtend
from .errors import parse_body
from .images import ImageExpand, ImageGeneration, MultiImage2Image, OmniImage, VirtualTryOn
from .library import AiMultiShot, CustomElement, CustomVoice, DeleteElement, DeleteVoice
from .lipsync import AdvancedLipSync, LipSync
from .new_video import ENDPOINTS
from .omni import OmniVideo
from .recognition import ImageRecognize
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

NEW_ACTIONS: Mapping[str, ActionSpec] = MappingProxyType(
    {schema.action(): ActionSpec(Family.VIDEOS, schema.action(), schema, Generation.NEW) for schema in ENDPOINTS}
)
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
"""The synchronous session helpers under /v1/videos/ the gateway relays, by path after /v1/videos/ (all the
synchronous calls, with their families and billing, are in SYNC_SPECS)."""


V1_ADDITIONS: Mapping[tuple[Family, str], ActionSpec] = MappingProxyType(
    _specs(Family.AUDIO, {"text-to-audio": TextToAudio, "video-to-audio": VideoToAudio})
    | _specs(
        Family.GENERAL,
        {
            "advanced-custom-elements": CustomElement,
            "custom-voices": CustomVoice,
            "ai-multi-shot": AiMultiShot,
        },
    )
)
"""The asynchronous `/v1` create endpoints added in 2026 (audio, elements, voices, angle completion).

They are kept out of ACTIONS, which the gateway serves route by route (each with its documented example), until
the gateway relays them; the sandbox serves ALL_V1_ACTIONS.
"""

ALL_V1_ACTIONS: Mapping[tuple[Family, str], ActionSpec] = MappingProxyType(dict(ACTIONS) | dict(V1_ADDITIONS))
"""Every asynchronous create endpoint of the legacy generation, the 2026 additions included."""


@dataclass(frozen=True)
class SyncSpec:
    """Name one synchronous `/v1` call: where it lives, the schema of its body and the pack it bills, if any."""

    family: Family
    call: str  # the path after /v1/<family>/
    schema: type[BaseModel]
    package: Package | None = None  # None: the call deducts nothing (its price, if any, is in kling.pricing)

    @property
    def path(self) -> str:
        """The path of the call."""
        return f"/v1/{self.family.value}/{self.call}"


def _sync(family: Family, call: str, schema: type[BaseModel], package: Package | None = None) -> SyncSpec:
    return SyncSpec(family, call, schema, package)


SYNC_SPECS: Mapping[tuple[Family, str], SyncSpec] = MappingProxyType(
    {
        (spec.family, spec.call): spec
        for spec in (
            *(_sync(Family.VIDEOS, call, schema) for call, schema in SYNC_CALLS.items() if call != "identify-face"),
            # §4.0: TTS, face and image recognition bill at once, from the video pack (§8.4 [obs] for TTS).
            _sync(Family.VIDEOS, "identify-face", IdentifyFace, Package.VIDEO),
            _sync(Family.VIDEOS, "image-recognize", ImageRecognize, Package.VIDEO),
            _sync(Family.AUDIO, "tts", TextToSpeech, Package.VIDEO),
            # Deleting from a library answers at once and is not priced; both element delete paths are documented.
            _sync(Family.GENERAL, "delete-advanced-elements", DeleteElement),
            _sync(Family.GENERAL, "delete-elements", DeleteElement),
            _sync(Family.GENERAL, "delete-voices", DeleteVoice),
        )
    }
)
"""Every synchronous `/v1` call, by (family, path after /v1/<family>/): SYNC_CALLS and the 2026 additions."""


# The pack a legacy deduction is drawn from, where it is not the video pack (elements and voices draw on it too).
_LEGACY_PACKAGES: Mapping[tuple[Family, str | None], Package] = MappingProxyType(
    {
        (Family.IMAGES, None): Package.IMAGE,
        (Family.AUDIO, None): Package.AUDIO,
        (Family.GENERAL, "ai-multi-shot"): Package.IMAGE,  # angle views are images
    }
)


def legacy_package(family: str | Family, action: str) -> Package:
    """Name the pack a legacy task's `final_unit_deduction` is drawn from, by its endpoint."""
    key = Family(family)
    return _LEGACY_PACKAGES.get((key, action)) or _LEGACY_PACKAGES.get((key, None), Package.VIDEO)


def new_models(product: str) -> list[str]:
    """Return the path models of one new-generation product (empty when there is no such product)."""
    return [action.partition("/")[2] for action in NEW_ACTIONS if action.partition("/")[0] == product]


def parse_create_body(family: str | Family, action: str, body: object) -> CreateBody:
    """Validate the body of a create request; KeyError when no such endpoint exists."""
    try:
        key = (Family(family), action)
    except ValueError:
        raise KeyError((family, action)) from None
    return parse_body(ALL_V1_ACTIONS[key].schema, body)
