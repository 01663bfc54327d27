"""Create body of the omni video endpoint (Kling O1 and 3.0 Omni)."""

from collections.abc import Iterator, Sequence
from typing import ClassVar, Literal

from pydantic import ConfigDict, Field

from .base import ElementRef, KlingModel, ModelledVideoBody, Problem
from .catalog import CLIP_DURATIONS, FOUR_K_MODELS, O1_DURATIONS, OMNI_SOUND_MODELS, V3_DURATIONS, OmniVideoModel
from .clips import MultiShotFields
from .fields import DurationText, HttpUrl, ImageInput, OnOff, VideoAspectRatio, YesNo
from .rules import check_duration, check_four_k, check_sound, counted

MAX_REFS_WITH_VIDEO = 4
MAX_REFS_WITHOUT_VIDEO = 7
MAX_V3_OMNI_ELEMENTS = 3


class FrameImage(KlingModel):
    """Give a reference image, or the first or end frame of the video."""

    image_url: ImageInput
    type: Literal["first_frame", "end_frame"] | None = None


class VideoRef(KlingModel):
    """Give a video to take features from, or a base video to edit."""

    video_url: HttpUrl
    # The reference lists no default for refer_type; the stricter reading makes the caller say which it means.
    refer_type: Literal["feature", "base"]
    keep_original_sound: YesNo | None = None


class OmniVideo(ModelledVideoBody, MultiShotFields):
    """Generate or edit a video from any mix of text, images, elements and a video (POST /v1/videos/omni-video)."""

    model_config = ConfigDict(title="omni-video")
    default_model: ClassVar[str] = "kling-video-o1"
    default_mode: ClassVar[str] = "pro"

    model_name: OmniVideoModel | None = None
    image_list: list[FrameImage] | None = None
    element_list: list[ElementRef] | None = None
    video_list: list[VideoRef] | None = Field(default=None, max_length=1)
    sound: OnOff | None = None
    aspect_ratio: VideoAspectRatio | None = None
    duration: DurationText | None = None

    def edits_base_video(self) -> bool:
        """Tell whether the task edits the given video (its output is as long as the input)."""
        return any(video.refer_type == "base" for video in self.video_list or [])

    def duration_s(self) -> float | None:
        return None if self.edits_base_video() else float(self.duration or "5")

    def with_sound(self) -> bool:
        return self.sound == "on"

    def variant(self) -> str:
        return "video-in" if self.video_list else super().variant()

    def problems(self) -> Iterator[Problem]:
        yield from super().problems()
        model, frames = self.model(), [image.type for image in self.image_list or [] if image.type]
        has_first = "first_frame" in frames
        yield from self._frame_problems(frames)
        yield from self._reference_count_problems(model)
        yield from check_sound(model, self.mode(), self.sound, OMNI_SOUND_MODELS)
        yield from check_four_k(model, self.mode(), FOUR_K_MODELS[1:])
        if self.video_list and self.sound == "on":
            yield "sound", 'must be "off" when video_list is given'
        if self.aspect_ratio is None and not (has_first or self.edits_base_video()):
            yield (
                "aspect_ratio",
                'is required unless image_list has a "first_frame" image or video_list has a "base" video; '
                'allowed values are "16:9", "9:16", "1:1"',
            )
        yield from check_duration(self.duration, self._durations(model, has_first), model)
        yield from self.shot_problems(model, self.duration or "5")

    def _durations(self, model: str, has_first: bool) -> tuple[str, ...]:
        if model == "kling-v3-omni":
            return V3_DURATIONS
        # O1 takes 3-10 s, except pure text-to-video and first-frame animation, which take 5 or 10.
        pure_text = not (self.image_list or self.element_list or self.video_list)
        return CLIP_DURATIONS if pure_text or has_first else O1_DURATIONS

    def _frame_problems(self, frames: Sequence[str]) -> Iterator[Problem]:
        for frame in ("first_frame", "end_frame"):
            if frames.count(frame) > 1:
                yield "image_list", f'at most one image may have type "{frame}"'
        if "end_frame" in frames and "first_frame" not in frames:
            yield "image_list", 'an "end_frame" image needs a "first_frame" image too'
        if frames and self.edits_base_video():
            yield "image_list", 'first_frame and end_frame images are not allowed when editing a "base" video'

    def _reference_count_problems(self, model: str) -> Iterator[Problem]:
        images, elements = len(self.image_list or []), len(self.element_list or [])
        limit, case = (
            (MAX_REFS_WITH_VIDEO, "with a reference video")
            if self.video_list
            else (MAX_REFS_WITHOUT_VIDEO, "without a reference video")
        )
        if images + elements > limit:
            yield (
                "image_list, element_list",
                f"{counted(images, 'image')} and {counted(elements, 'element')} make {images + elements}; "
                f"at most {limit} are allowed {case}",
            )
        if model == "kling-v3-omni" and elements > MAX_V3_OMNI_ELEMENTS:
            yield (
                "element_list",
                f"has {elements} items; at most {MAX_V3_OMNI_ELEMENTS} are allowed on model {model}",
            )
