"""Bodies of the element and voice libraries and of element angle completion (2026 reference §4.8-4.10)."""

from collections.abc import Iterator
from typing import Annotated, ClassVar, Literal

from pydantic import ConfigDict, Field, StringConstraints

from .base import CreateBody, KlingModel, PackType, Problem, VideoBody
from .fields import HttpUrl, Identifier, ImageInput
from .rules import exactly_one, refused, required

ELEMENT_NAME_MAX_CHARS = 20
ELEMENT_DESCRIPTION_MAX_CHARS = 100
VOICE_NAME_MAX_CHARS = 20
MAX_REFER_IMAGES = 3

TagId = Literal["o_101", "o_102", "o_103", "o_104", "o_105", "o_106", "o_107", "o_108"]


class LibraryBody(VideoBody):
    """Describe a task that adds to a library of the account: one video-type slot under its own model name, billed
    to the video pack (§8.4 [obs]: element and voice tasks were charged to it)."""


class ReferImage(KlingModel):
    """Give one more view of an element's subject."""

    image_url: ImageInput


class ElementImages(KlingModel):
    """Show a multi-image element: a frontal view and one to three others."""

    frontal_image: ImageInput
    refer_images: list[ReferImage] = Field(min_length=1, max_length=MAX_REFER_IMAGES)


class ReferVideo(KlingModel):
    """Give the video a video-character element is made from."""

    video_url: HttpUrl


class ElementVideos(KlingModel):
    """Show a video-character element: one clip of 3-8 s, 1080p, 16:9 or 9:16."""

    refer_videos: list[ReferVideo] = Field(min_length=1, max_length=1)


class ElementTag(KlingModel):
    """File an element under one of the official tags."""

    tag_id: TagId


class CustomElement(LibraryBody):
    """Save a subject as an element, from images or a video (POST /v1/general/advanced-custom-elements)."""

    model_config = ConfigDict(title="advanced-custom-elements")
    default_model: ClassVar[str] = "kling-element"

    element_name: Annotated[str, StringConstraints(min_length=1, max_length=ELEMENT_NAME_MAX_CHARS)]
    element_description: Annotated[str, StringConstraints(min_length=1, max_length=ELEMENT_DESCRIPTION_MAX_CHARS)]
    reference_type: Literal["image_refer", "video_refer"]
    element_image_list: ElementImages | None = None
    element_video_list: ElementVideos | None = None
    element_voice_id: Identifier | None = None
    tag_list: list[ElementTag] | None = None

    def variant(self) -> str:
        return "element"

    def problems(self) -> Iterator[Problem]:
        yield from super().problems()
        images = {"element_image_list": self.element_image_list}
        videos = {"element_video_list": self.element_video_list}
        if self.reference_type == "image_refer":
            yield from required(images, 'when reference_type is "image_refer"')
            yield from refused(videos, 'when reference_type is "video_refer"')
        else:
            yield from required(videos, 'when reference_type is "video_refer"')
            yield from refused(images, 'when reference_type is "image_refer"')


class CustomVoice(LibraryBody):
    """Save a voice from a clean recording or a Kling video with speech (POST /v1/general/custom-voices)."""

    model_config = ConfigDict(title="custom-voices")
    default_model: ClassVar[str] = "kling-custom-voice"

    voice_name: Annotated[str, StringConstraints(min_length=1, max_length=VOICE_NAME_MAX_CHARS)]
    voice_url: HttpUrl | None = None
    # The vendor sample sends `"video_id": ""` beside a voice_url: an empty id means none.
    video_id: str | None = None

    def variant(self) -> str:
        return "voice"

    def source_video_id(self) -> str | None:
        """Return the video the voice is taken from, if one is named."""
        return self.video_id or None

    def problems(self) -> Iterator[Problem]:
        yield from super().problems()
        yield from exactly_one({"voice_url": self.voice_url, "video_id": self.source_video_id()})


class AiMultiShot(CreateBody):
    """Draw three sets of three more angles of an element from its frontal image (POST /v1/general/ai-multi-shot)."""

    model_config = ConfigDict(title="ai-multi-shot")
    default_model: ClassVar[str] = "kling-ai-multi-shot"

    element_frontal_image: ImageInput

    def slots(self) -> tuple[PackType, int]:
        return PackType.IMAGE, 1

    def model(self) -> str:
        return self.default_model

    def variant(self) -> str:
        return "image"


class DeleteElement(KlingModel):
    """Delete a custom element (POST /v1/general/delete-advanced-elements or /v1/general/delete-elements)."""

    model_config = ConfigDict(title="delete-advanced-elements")

    element_id: Identifier


class DeleteVoice(KlingModel):
    """Delete a custom voice (POST /v1/general/delete-voices)."""

    model_config = ConfigDict(title="delete-voices")

    voice_id: Identifier
