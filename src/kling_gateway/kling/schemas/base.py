"""Base classes of every request schema and the answers each create body gives about its task."""

import re
from abc import abstractmethod
from collections.abc import Iterator
from enum import StrEnum
from typing import Annotated, ClassVar, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from .fields import CallbackUrl, ExternalTaskId, ImageCount, VideoTier

Problem = tuple[str, str]
"""A broken rule: where (field names relative to the object, comma-separated) and what is wrong."""


class Family(StrEnum):
    """The first path segment after /v1; a task of the new generation is a video task."""

    VIDEOS = "videos"
    IMAGES = "images"
    AUDIO = "audio"
    GENERAL = "general"  # elements, voices and element angle completion


class Generation(StrEnum):
    """Which Kling API a task speaks: `/v1/{family}/{action}` or the model-in-path `/{product}/{model}`."""

    LEGACY = "legacy"
    NEW = "new"


class Package(StrEnum):
    """The resource pack a deduction is drawn from, as `billing[].package_type` names it: what a credit costs."""

    VIDEO = "video"
    IMAGE = "image"
    AUDIO = "audio"


class PackType(StrEnum):
    """The resource-pack type whose concurrency a task occupies."""

    VIDEO = "video"
    IMAGE = "image"
    TRY_ON = "try_on"


_FIELD_PATH = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\[\d+\]|\.[A-Za-z_][A-Za-z0-9_]*)*")


class InvalidBody(ValueError):
    """The request body is not a valid request for this endpoint."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message

    @property
    def field(self) -> str | None:
        """The dotted path of the first field at fault, when the message starts with one (see `describe`)."""
        where = self.message.partition(":")[0]
        return where if _FIELD_PATH.fullmatch(where) else None


class KlingModel(BaseModel):
    """Refuse unknown fields and coercions, then check the rules that span several fields."""

    # strict: Kling takes "5" for a duration and 0.5 for cfg_scale; silently coercing the other would hide
    # client bugs that the real service rejects.
    model_config = ConfigDict(extra="forbid", strict=True, serialize_by_alias=True)

    def problems(self) -> Iterator[Problem]:
        """Yield every rule across fields that this object breaks."""
        return iter(())

    @model_validator(mode="after")
    def check_rules(self) -> Self:
        """Reject the object with all its broken rules at once."""
        found = list(self.problems())
        if found:
            summary = "; ".join(f"{where}: {text}" if where else text for where, text in found)
            raise PydanticCustomError(
                "kling_rule", "{summary}", {"summary": summary, "problems": [list(p) for p in found]}
            )
        return self


class WatermarkInfo(KlingModel):
    """Ask for a watermarked copy of the result next to the clean one."""

    enabled: bool


class ElementRef(KlingModel):
    """Point at a subject saved in the Kling element library."""

    element_id: Annotated[int, Field(ge=1)]


class CreateBody(KlingModel):
    """Describe one asynchronous task: the fields every create endpoint shares and what the task needs."""

    callback_url: CallbackUrl | None = None
    external_task_id: ExternalTaskId | None = None
    watermark_info: WatermarkInfo | None = None

    @abstractmethod
    def slots(self) -> tuple[PackType, int]:
        """Return the pack type whose concurrency the task occupies and how many slots it takes."""

    @abstractmethod
    def model(self) -> str:
        """Return the effective model name, the endpoint default applied."""

    def mode(self) -> str | None:
        """Return "std" or "pro" where the action has a mode, the default applied."""
        return None

    def duration_s(self) -> float | None:
        """Return the requested output length in seconds, or None where it is not known in advance."""
        return None

    def with_sound(self) -> bool:
        """Tell whether the task generates sound (or voices)."""
        return False

    def package(self) -> Package:
        """Return the resource pack a success is deducted from: the video pack unless the task makes images."""
        return Package.VIDEO if self.slots()[0] is PackType.VIDEO else Package.IMAGE

    def wants_watermark(self) -> bool:
        """Tell whether the results should come with watermarked copies too."""
        return self.watermark_info is not None and self.watermark_info.enabled

    def variant(self) -> str:
        """Name the row of the price table this task falls in, next to its model and mode."""
        return "audio" if self.with_sound() else "silent"


class VideoBody(CreateBody):
    """Describe a video task: one video-pack slot."""

    default_model: ClassVar[str]

    def slots(self) -> tuple[PackType, int]:
        return PackType.VIDEO, 1

    def model(self) -> str:
        return self.default_model


class ModelledVideoBody(VideoBody):
    """Describe a video task whose request names its model and mode."""

    default_mode: ClassVar[str] = "std"

    model_name: str | None = None
    # "4k" only where a schema keeps it (kling-v3, kling-v3-omni); the others narrow this to std and pro.
    tier: VideoTier | None = Field(default=None, alias="mode")

    def model(self) -> str:
        return self.model_name or self.default_model

    def mode(self) -> str | None:
        return self.tier or self.default_mode


class ImageBody(CreateBody):
    """Describe an image task: n image-pack slots, one per requested image."""

    default_model: ClassVar[str]

    n: ImageCount = 1

    def slots(self) -> tuple[PackType, int]:
        return PackType.IMAGE, self.n

    def model(self) -> str:
        return self.default_model

    def variant(self) -> str:
        return "image"


class ModelledImageBody(ImageBody):
    """Describe an image task whose request names its model."""

    model_name: str | None = None

    def model(self) -> str:
        return self.model_name or self.default_model
