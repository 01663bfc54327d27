"""Create bodies of the video endpoints that edit, extend or animate: multi-elements, video-extend,
effects and avatar."""

import re
from collections.abc import Iterator
from typing import Annotated, ClassVar, Literal

from pydantic import AfterValidator, ConfigDict, Field

from .base import KlingModel, ModelledVideoBody, Problem, VideoBody
from .catalog import (
    DUAL_EFFECTS,
    LEGACY_DUAL_EFFECTS,
    LEGACY_EFFECT_MODELS,
    RETIRED_EFFECTS,
    LegacyEffectsModel,
    MultiElementsModel,
    values,
)
from .fields import (
    AudioInput,
    ClipDuration,
    DurationText,
    Identifier,
    ImageInput,
    Prompt,
    RequiredPrompt,
    Tier,
    UnitInterval,
    field_error,
    shown,
)
from .rules import check_duration, exactly_one, not_allowed, quoted, refused, required
from .videos import ImageRef

# edit_mode -> (fewest, most) images in image_list
EDIT_MODE_IMAGES = {"addition": (1, 2), "swap": (1, 1), "removal": (0, 0)}
SCENE_NAME = re.compile(r"[a-z0-9_]+")
DUAL_IMAGES = 2


class MultiElements(ModelledVideoBody):
    """Add, swap or remove a selected subject in a video (POST /v1/videos/multi-elements)."""

    model_config = ConfigDict(title="multi-elements")
    default_model: ClassVar[str] = "kling-v1-6"

    model_name: MultiElementsModel | None = None
    tier: Tier | None = Field(default=None, alias="mode")
    session_id: Identifier
    edit_mode: Literal["addition", "swap", "removal"]
    image_list: list[ImageRef] | None = None
    prompt: RequiredPrompt
    negative_prompt: Prompt | None = None
    duration: ClipDuration | None = None

    def duration_s(self) -> float:
        return float(self.duration or "5")

    def variant(self) -> str:
        return "edit"

    def problems(self) -> Iterator[Problem]:
        yield from super().problems()
        fewest, most = EDIT_MODE_IMAGES[self.edit_mode]
        count = len(self.image_list or [])
        if most == 0 and self.image_list is not None:
            yield "image_list", f'must be left out when edit_mode is "{self.edit_mode}"'
        elif not fewest <= count <= most:
            wanted = f"exactly {most} image" if fewest == most else f"{fewest} to {most} images"
            yield "image_list", f'edit_mode "{self.edit_mode}" needs {wanted} (got {count})'


class VideoExtend(VideoBody):
    """Continue a generated video by about five seconds (POST /v1/videos/video-extend)."""

    model_config = ConfigDict(title="video-extend")
    default_model: ClassVar[str] = "kling-video-extend"
    # Each call adds 4-5 s to the source video; the new part is what is generated.
    added_seconds: ClassVar[float] = 5.0

    video_id: Identifier
    prompt: Prompt | None = None
    negative_prompt: Prompt | None = None
    cfg_scale: UnitInterval | None = None

    def duration_s(self) -> float:
        return self.added_seconds


def _scene_name(value: str) -> str:
    if not SCENE_NAME.fullmatch(value):
        raise field_error(f"must be a scene name of lowercase letters, digits and underscores (got {shown(value)})")
    return value


class EffectsInput(KlingModel):
    """Give the images of an effect scene and, for the legacy dual scenes, the model and mode."""

    image: ImageInput | None = None
    images: list[ImageInput] | None = Field(default=None, min_length=DUAL_IMAGES, max_length=DUAL_IMAGES)
    duration: DurationText
    model_name: LegacyEffectsModel | None = None
    mode: Tier | None = None


class Effects(VideoBody):
    """Apply a preset effect scene to one or two pictures (POST /v1/videos/effects)."""

    model_config = ConfigDict(title="effects")
    default_model: ClassVar[str] = "kling-effects"

    effect_scene: Annotated[str, AfterValidator(_scene_name)]
    input: EffectsInput

    def scene_kind(self) -> Literal["single", "dual", "legacy"]:
        """Tell which family of scenes the effect belongs to, which decides the input it takes."""
        if self.effect_scene in LEGACY_DUAL_EFFECTS:
            return "legacy"
        return "dual" if self.effect_scene in DUAL_EFFECTS else "single"

    def model(self) -> str:
        return self.input.model_name or self.default_model

    def mode(self) -> str | None:
        return (self.input.mode or "std") if self.scene_kind() == "legacy" else None

    def duration_s(self) -> float:
        return float(self.input.duration)

    def variant(self) -> str:
        # Legacy dual scenes run on a named model and are priced as that model's clip.
        kind = self.scene_kind()
        return "silent" if kind == "legacy" else kind

    def problems(self) -> Iterator[Problem]:
        yield from super().problems()
        kind, given = self.scene_kind(), self.input
        if self.effect_scene in RETIRED_EFFECTS:
            yield (
                "effect_scene",
                f'"{self.effect_scene}" has been retired and is no longer available; pick a current scene',
            )
            return
        if kind != "legacy":
            named = {"input.model_name": given.model_name, "input.mode": given.mode}
            yield from refused(named, "for the legacy scenes hug, kiss, heart_gesture and fight")
        if kind == "single":
            yield from required({"input.image": given.image}, "for a single-image scene")
            yield from refused({"input.images": given.images}, "for the dual-person scenes")
            yield from check_duration(given.duration, ("5", "10"), where="input.duration")
            return
        yield from required({"input.images": given.images}, "for a dual-person scene (exactly 2 images)")
        yield from refused({"input.image": given.image}, "for the single-image scenes")
        if kind == "dual":
            yield from check_duration(given.duration, ("5",), where="input.duration")
        else:
            yield from self._legacy_problems(given)

    def _legacy_problems(self, given: EffectsInput) -> Iterator[Problem]:
        models = LEGACY_EFFECT_MODELS.get(self.effect_scene, values(LegacyEffectsModel))
        if given.model_name is None:
            yield (
                "input.model_name",
                f'is required for scene "{self.effect_scene}"; allowed values are {quoted(models)}',
            )
        elif given.model_name not in models:
            yield not_allowed("input.model_name", given.model_name, models)
        # The reference gives "5" for dual scenes; a live example shows the legacy ones also take "10", as their
        # models do for ordinary clips.
        yield from check_duration(given.duration, ("5", "10"), where="input.duration")


class Avatar(VideoBody):
    """Make the person in an image speak or sing an audio track (POST /v1/videos/avatar/image2video)."""

    model_config = ConfigDict(title="avatar/image2video")
    default_model: ClassVar[str] = "kling-avatar"

    image: ImageInput
    audio_id: Identifier | None = None
    sound_file: AudioInput | None = None
    prompt: Prompt | None = None
    tier: Tier | None = Field(default=None, alias="mode")

    def mode(self) -> str:
        return self.tier or "std"

    def problems(self) -> Iterator[Problem]:
        yield from super().problems()
        yield from exactly_one({"audio_id": self.audio_id, "sound_file": self.sound_file})
