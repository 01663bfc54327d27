"""Create bodies of the image endpoints: generations, omni-image, multi-image2image, try-on and expand."""

from collections.abc import Iterator
from decimal import Decimal
from typing import ClassVar, Literal

from pydantic import ConfigDict, Field

from .base import CreateBody, ElementRef, ImageBody, KlingModel, ModelledImageBody, PackType, Problem
from .catalog import (
    FOUR_K_IMAGE_MODELS,
    IMAGE_2K_UNSUPPORTED,
    IMAGE_REFERENCE_MODELS,
    RESTYLE_ONLY_MODELS,
    SERIES_AMOUNTS,
    SERIES_IMAGE_MODELS,
    ImageGenerationModel,
    MultiImage2ImageModel,
    OmniImageModel,
    TryOnModel,
)
from .fields import (
    ExpansionRatio,
    ImageAspectRatio,
    ImageInput,
    ImageResolution,
    OmniImageResolution,
    Prompt,
    RequiredPrompt,
    UnitInterval,
    shown,
)
from .rules import counted, either
from .videos import ImageRef

MAX_IMAGE_REFERENCES = 10
MAX_SUBJECT_IMAGES = 4
MAX_EXPANDED_AREA = Decimal(3)
DEFAULT_SERIES_AMOUNT = 4

OmniImageAspectRatio = Literal["16:9", "9:16", "1:1", "4:3", "3:4", "3:2", "2:3", "21:9", "auto"]


def _too_many_references(images: int, elements: int) -> Iterator[Problem]:
    if images + elements > MAX_IMAGE_REFERENCES:
        yield (
            "image, element_list" if images <= 1 else "image_list, element_list",
            f"{counted(images, 'image')} and {counted(elements, 'element')} make {images + elements}; "
            f"at most {MAX_IMAGE_REFERENCES} are allowed",
        )


class ImageGeneration(ModelledImageBody):
    """Generate images from text, optionally guided by an image (POST /v1/images/generations)."""

    model_config = ConfigDict(title="generations")
    default_model: ClassVar[str] = "kling-v3"  # §4.8: the 2026 default (kling-v1 is gone from the enum)

    model_name: ImageGenerationModel | None = None
    prompt: RequiredPrompt
    negative_prompt: Prompt | None = None
    image: ImageInput | None = None
    image_reference: Literal["subject", "face"] | None = None
    image_fidelity: UnitInterval | None = None
    human_fidelity: UnitInterval | None = None
    element_list: list[ElementRef] | None = None
    resolution: ImageResolution | None = None
    aspect_ratio: ImageAspectRatio | None = None

    def variant(self) -> str:
        return "image-to-image" if self.image else "text-to-image"

    def problems(self) -> Iterator[Problem]:
        yield from super().problems()
        model = self.model()
        if self.negative_prompt is not None and self.image is not None:
            yield "negative_prompt", "is not allowed together with image"
        if self.image is None:
            for name in ("image_reference", "image_fidelity"):
                if getattr(self, name) is not None:
                    yield "image", f"is required when {name} is given"
            if model in RESTYLE_ONLY_MODELS:
                yield "image", f"is required by model {model}, which only restyles an image"
        if self.image_reference is not None and model not in IMAGE_REFERENCE_MODELS:
            yield (
                "image_reference",
                f"is not supported by model {model}; it needs model {either(IMAGE_REFERENCE_MODELS)}",
            )
        if self.human_fidelity is not None and self.image_reference != "subject":
            yield "human_fidelity", 'is only allowed when image_reference is "subject"'
        if self.aspect_ratio == "21:9" and model == "kling-v1":
            yield "aspect_ratio", '"21:9" is not supported by model kling-v1'
        if self.resolution == "2k" and model in IMAGE_2K_UNSUPPORTED:
            yield "resolution", f'"2k" is not supported by model {model}; send "1k"'
        yield from _too_many_references(int(self.image is not None), len(self.element_list or []))


class OmniImage(ModelledImageBody):
    """Generate images from text, reference images and elements (POST /v1/images/omni-image)."""

    model_config = ConfigDict(title="omni-image")
    default_model: ClassVar[str] = "kling-image-o1"

    model_name: OmniImageModel | None = None
    prompt: RequiredPrompt
    image_list: list[ImageRef] | None = None
    element_list: list[ElementRef] | None = None
    resolution: OmniImageResolution | None = None
    aspect_ratio: OmniImageAspectRatio | None = None
    result_type: Literal["single", "series"] | None = None
    # An int 2-9 or the string "auto" (Appendix A #19); checked in problems() to name both forms in one message.
    series_amount: int | str | None = None

    def series_count(self) -> int | Literal["auto"] | None:
        """Return how many images a series makes ("auto": the model decides), or None for single images."""
        if self.result_type != "series":
            return None
        amount = DEFAULT_SERIES_AMOUNT if self.series_amount is None else self.series_amount
        return "auto" if amount == "auto" else int(amount)

    def slots(self) -> tuple[PackType, int]:
        # A series ignores `n`; "auto" holds as many slots as images come out, known only to whoever runs it, so
        # the request itself asks for the fewest a series can make.
        count = self.series_count()
        if count is None:
            return super().slots()
        return PackType.IMAGE, min(SERIES_AMOUNTS) if count == "auto" else count

    def variant(self) -> str:
        return "image-4k" if self.resolution == "4k" else "image"

    def problems(self) -> Iterator[Problem]:
        yield from super().problems()
        model = self.model()
        yield from _too_many_references(len(self.image_list or []), len(self.element_list or []))
        if self.resolution == "4k" and model not in FOUR_K_IMAGE_MODELS:
            yield "resolution", f'"4k" is not supported by model {model}; it needs model {either(FOUR_K_IMAGE_MODELS)}'
        if self.result_type == "series" and model not in SERIES_IMAGE_MODELS:
            yield (
                "result_type",
                f'"series" is not supported by model {model}; it needs model {either(SERIES_IMAGE_MODELS)}',
            )
        amount = self.series_amount
        if amount is not None and amount != "auto" and not (isinstance(amount, int) and amount in SERIES_AMOUNTS):
            low, high = min(SERIES_AMOUNTS), max(SERIES_AMOUNTS)
            yield "series_amount", f'must be a whole number from {low} to {high} or "auto" (got {shown(amount)})'


class SubjectImage(KlingModel):
    """Give one subject to place in the picture."""

    subject_image: ImageInput


class MultiImage2Image(ModelledImageBody):
    """Compose images from subject, scene and style pictures (POST /v1/images/multi-image2image)."""

    model_config = ConfigDict(title="multi-image2image")
    default_model: ClassVar[str] = "kling-v2-1"  # §4.8: the 2026 default and only documented value

    model_name: MultiImage2ImageModel | None = None
    prompt: Prompt | None = None
    subject_image_list: list[SubjectImage] = Field(min_length=1, max_length=MAX_SUBJECT_IMAGES)
    scene_image: ImageInput | None = None
    style_image: ImageInput | None = None
    aspect_ratio: ImageAspectRatio | None = None


class VirtualTryOn(CreateBody):
    """Dress the person of one image in the garment of another (POST /v1/images/kolors-virtual-try-on)."""

    model_config = ConfigDict(title="kolors-virtual-try-on")
    default_model: ClassVar[str] = "kolors-virtual-try-on-v1"

    model_name: TryOnModel | None = None
    human_image: ImageInput
    cloth_image: ImageInput

    def slots(self) -> tuple[PackType, int]:
        return PackType.TRY_ON, 1

    def model(self) -> str:
        return self.model_name or self.default_model

    def variant(self) -> str:
        return "image"


class ImageExpand(ImageBody):
    """Extend an image beyond its borders (POST /v1/images/editing/expand)."""

    model_config = ConfigDict(title="editing/expand")
    default_model: ClassVar[str] = "kling-expand"

    image: ImageInput
    up_expansion_ratio: ExpansionRatio = 0
    down_expansion_ratio: ExpansionRatio = 0
    left_expansion_ratio: ExpansionRatio = 0
    right_expansion_ratio: ExpansionRatio = 0
    prompt: Prompt | None = None

    def problems(self) -> Iterator[Problem]:
        yield from super().problems()
        ratios = ", ".join(f"{side}_expansion_ratio" for side in ("up", "down", "left", "right"))
        up, down, left, right = (
            Decimal(str(r))
            for r in (
                self.up_expansion_ratio,
                self.down_expansion_ratio,
                self.left_expansion_ratio,
                self.right_expansion_ratio,
            )
        )
        area = (1 + up + down) * (1 + left + right)
        if area == 1:
            # Expanding by nothing would just copy the image; the stricter reading asks for some expansion.
            yield ratios, "at least one must be greater than 0"
        elif area > MAX_EXPANDED_AREA:
            yield (
                ratios,
                f"the expanded image would be {area.normalize():f} times the original area; at most 3 is allowed",
            )
