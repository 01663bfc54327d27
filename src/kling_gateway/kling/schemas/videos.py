"""Create bodies of the classic video endpoints: text2video, image2video, multi-image2video, motion-control."""

from collections.abc import Iterator
from typing import Annotated, ClassVar, Literal

from pydantic import ConfigDict, Field

from .base import ElementRef, KlingModel, ModelledVideoBody, Problem
from .catalog import (
    CLIP_SOUND_MODELS,
    FOUR_K_MODELS,
    I2V_CAMERA_CONTROL,
    IMAGE_TAIL,
    MOTION_BRUSH,
    MOTION_ELEMENT_MODELS,
    T2V_CAMERA_CONTROL,
    Image2VideoModel,
    MotionControlModel,
    MultiImage2VideoModel,
    Text2VideoModel,
)
from .clips import CameraControl, MultiShotFields
from .fields import (
    ClipDuration,
    DurationText,
    HttpUrl,
    Identifier,
    ImageInput,
    OnOff,
    Prompt,
    RequiredPrompt,
    Tier,
    UnitInterval,
    VideoAspectRatio,
    YesNo,
)
from .rules import (
    check_cfg_scale,
    check_duration,
    check_four_k,
    check_single_tier,
    check_sound,
    check_support,
    either,
    model_durations,
    only_one_group,
)

MAX_VOICES = 2
MAX_DYNAMIC_MASKS = 6
MIN_TRAJECTORY_POINTS = 2
MAX_TRAJECTORY_POINTS = 77
MAX_REFERENCE_IMAGES = 4


class ClassicVideo(ModelledVideoBody):
    """Carry what text2video and image2video share, including the legacy `model` field."""

    default_model: ClassVar[str] = "kling-v1"

    # The legacy field name `model` still means model_name; it is kept apart so that `model()` stays a method.
    legacy_model: str | None = Field(default=None, alias="model")
    negative_prompt: Prompt | None = None
    sound: OnOff | None = None
    cfg_scale: UnitInterval | None = None
    camera_control: CameraControl | None = None
    duration: DurationText | None = None

    def model(self) -> str:
        return self.model_name or self.legacy_model or self.default_model

    def duration_s(self) -> float:
        return float(self.duration or "5")

    def with_sound(self) -> bool:
        return self.sound == "on"

    def problems(self) -> Iterator[Problem]:
        yield from super().problems()
        if self.model_name is not None and self.legacy_model is not None:
            yield "model, model_name", "give only one of these (model is the legacy name of model_name)"
        model, mode = self.model(), self.mode()
        yield from check_single_tier(model, mode)
        yield from check_four_k(model, mode, FOUR_K_MODELS[:1])
        yield from check_cfg_scale(model, self.cfg_scale)
        yield from check_sound(model, mode, self.sound, CLIP_SOUND_MODELS)
        yield from check_duration(self.duration, model_durations(model), model)


class Text2Video(ClassicVideo, MultiShotFields):
    """Generate a video from a text prompt (POST /v1/videos/text2video)."""

    model_config = ConfigDict(title="text2video")

    model_name: Text2VideoModel | None = None
    legacy_model: Text2VideoModel | None = Field(default=None, alias="model")
    aspect_ratio: VideoAspectRatio | None = None

    def problems(self) -> Iterator[Problem]:
        yield from super().problems()
        model = self.model()
        yield from self.shot_problems(model, self.duration or "5")
        if self.camera_control is not None:
            yield from check_support("camera_control", T2V_CAMERA_CONTROL, model, self.mode(), self.duration)


class VoiceRef(KlingModel):
    """Name a voice the prompt refers to as <<<voice_N>>>."""

    voice_id: Identifier


class TrajectoryPoint(KlingModel):
    """Give one point of a motion path, in pixels from the bottom-left corner of the image."""

    # The reference gives no bounds; negative pixel coordinates cannot be on the image, so they are refused.
    x: Annotated[int, Field(ge=0)]
    y: Annotated[int, Field(ge=0)]


class DynamicMask(KlingModel):
    """Move the masked area of the first frame along a path (motion brush)."""

    mask: ImageInput
    trajectories: list[TrajectoryPoint] = Field(min_length=MIN_TRAJECTORY_POINTS, max_length=MAX_TRAJECTORY_POINTS)


class Image2Video(ClassicVideo, MultiShotFields):
    """Animate a first frame, an end frame, or both (POST /v1/videos/image2video)."""

    model_config = ConfigDict(title="image2video")
    # Since 2026-05-07 a kling-v3 storyboard may start from (and end on) the given frames.
    prompt_required: ClassVar[bool] = False

    model_name: Image2VideoModel | None = None
    legacy_model: Image2VideoModel | None = Field(default=None, alias="model")
    prompt: Prompt | None = None
    image: ImageInput | None = None
    image_tail: ImageInput | None = None
    voice_list: list[VoiceRef] | None = Field(default=None, min_length=1, max_length=MAX_VOICES)
    static_mask: ImageInput | None = None
    dynamic_masks: list[DynamicMask] | None = Field(default=None, min_length=1, max_length=MAX_DYNAMIC_MASKS)

    def with_sound(self) -> bool:
        return self.sound == "on" or bool(self.voice_list)

    def variant(self) -> str:
        return "voice" if self.voice_list else super().variant()

    def problems(self) -> Iterator[Problem]:
        yield from super().problems()
        model, mode, duration = self.model(), self.mode(), self.duration
        brush = self.static_mask is not None or self.dynamic_masks is not None
        if self.image is None and self.image_tail is None:
            yield "image", "is required (unless image_tail is given)"
        yield from self.shot_problems(model, duration or "5")
        # §2.4: first+end frames, the motion brush and camera control are three alternatives.
        yield from only_one_group(
            {
                "image, image_tail": self.image_tail is not None,
                "static_mask, dynamic_masks": brush,
                "camera_control": self.camera_control is not None,
            }
        )
        if self.image_tail is not None:
            yield from check_support("image_tail", IMAGE_TAIL, model, mode, duration)
            if model == "kling-v2-6" and self.sound == "on":
                yield "image_tail", 'needs sound "off" on model kling-v2-6 (its end frame is silent only)'
        if brush:
            yield from check_support("static_mask, dynamic_masks", MOTION_BRUSH, model, mode, duration)
            if self.image is None:
                yield "image", "is required with static_mask or dynamic_masks (the masks apply to it)"
        if self.camera_control is not None:
            yield from check_support("camera_control", I2V_CAMERA_CONTROL, model, mode, duration)
            if self.camera_control.type != "simple":
                yield "camera_control.type", 'must be "simple" for image2video'
        if self.voice_list is not None and model not in CLIP_SOUND_MODELS:
            yield (
                "voice_list",
                f"is not supported by model {model}; it needs model {either(CLIP_SOUND_MODELS)}",
            )
        elif self.voice_list is not None and self.sound != "on":
            yield "voice_list", 'is only allowed with sound "on"'


class ImageRef(KlingModel):
    """Give one reference image."""

    image: ImageInput


class MultiImage2Video(ModelledVideoBody):
    """Generate a video from up to four reference images (POST /v1/videos/multi-image2video)."""

    model_config = ConfigDict(title="multi-image2video")
    default_model: ClassVar[str] = "kling-v1-6"

    model_name: MultiImage2VideoModel | None = None
    tier: Tier | None = Field(default=None, alias="mode")
    image_list: list[ImageRef] = Field(min_length=1, max_length=MAX_REFERENCE_IMAGES)
    prompt: RequiredPrompt
    negative_prompt: Prompt | None = None
    duration: ClipDuration | None = None
    aspect_ratio: VideoAspectRatio | None = None

    def duration_s(self) -> float:
        return float(self.duration or "5")


class MotionControl(ModelledVideoBody):
    """Make the character of an image perform the motion of a reference video (POST /v1/videos/motion-control)."""

    model_config = ConfigDict(title="motion-control")
    default_model: ClassVar[str] = "kling-v2-6"

    model_name: MotionControlModel | None = None
    tier: Tier = Field(alias="mode")
    prompt: Prompt | None = None
    image_url: ImageInput
    video_url: HttpUrl
    element_list: list[ElementRef] | None = Field(default=None, max_length=1)
    keep_original_sound: YesNo | None = None
    character_orientation: Literal["image", "video"]

    def variant(self) -> str:
        return "motion"

    def problems(self) -> Iterator[Problem]:
        yield from super().problems()
        model = self.model()
        if self.element_list and model not in MOTION_ELEMENT_MODELS:
            yield (
                "element_list",
                f"is not supported by model {model}; element binding needs model {either(MOTION_ELEMENT_MODELS)}",
            )
