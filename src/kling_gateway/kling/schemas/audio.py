"""Bodies of the audio endpoints (2026 reference §4.2): text-to-audio, video-to-audio and synchronous TTS."""

from collections.abc import Iterator
from typing import Annotated, ClassVar, Literal

from pydantic import AfterValidator, ConfigDict, Field, StringConstraints

from .base import KlingModel, Package, Problem, VideoBody
from .fields import HttpUrl, Identifier, field_error, shown
from .rules import exactly_one

SOUND_PROMPT_MAX_CHARS = 200
TTS_TEXT_MAX_CHARS = 1000
AUDIO_SECONDS = (3.0, 10.0)
VOICE_SPEED_RANGE = (0.8, 2.0)


def _not_blank(value: str) -> str:
    if not value.strip():
        raise field_error("must not be empty or only spaces")
    return value


SoundPrompt = Annotated[str, StringConstraints(max_length=SOUND_PROMPT_MAX_CHARS)]
RequiredSoundPrompt = Annotated[
    str, StringConstraints(min_length=1, max_length=SOUND_PROMPT_MAX_CHARS), AfterValidator(_not_blank)
]


def _clamped_speed(value: float) -> float:
    # §4.2: a speed outside [0.8, 2.0] is brought into range by the server rather than refused; one decimal.
    low, high = VOICE_SPEED_RANGE
    return round(min(max(value, low), high), 1)


class AudioBody(VideoBody):
    """Describe an audio task: drawn from the audio pack, holding one slot of its own model's concurrency.

    The concurrency page names only video and image packs; an audio task counts as one video-type slot, under its
    own model version, so it never competes with video models.
    """

    def package(self) -> Package:
        return Package.AUDIO

    def with_sound(self) -> bool:
        return True

    def variant(self) -> str:
        return "audio"

    def problems(self) -> Iterator[Problem]:
        yield from super().problems()
        if self.watermark_info is not None:
            yield "watermark_info", "is not a field of the audio endpoints; leave it out"


class TextToAudio(AudioBody):
    """Make a sound effect or music from a description (POST /v1/audio/text-to-audio)."""

    model_config = ConfigDict(title="text-to-audio")
    default_model: ClassVar[str] = "kling-text-to-audio"

    prompt: RequiredSoundPrompt
    duration: Annotated[float, Field(ge=AUDIO_SECONDS[0], le=AUDIO_SECONDS[1])]

    def duration_s(self) -> float:
        return self.duration

    def problems(self) -> Iterator[Problem]:
        yield from super().problems()
        if round(self.duration, 1) != self.duration:
            yield "duration", f"must have at most one decimal, such as 5.5 (got {shown(self.duration)})"


class VideoToAudio(AudioBody):
    """Add sound effects and music to a video (POST /v1/audio/video-to-audio)."""

    model_config = ConfigDict(title="video-to-audio")
    default_model: ClassVar[str] = "kling-video-to-audio"

    video_id: Identifier | None = None
    video_url: HttpUrl | None = None
    sound_effect_prompt: SoundPrompt | None = None
    bgm_prompt: SoundPrompt | None = None
    asmr_mode: bool = False

    def problems(self) -> Iterator[Problem]:
        yield from super().problems()
        yield from exactly_one({"video_id": self.video_id, "video_url": self.video_url})


class TextToSpeech(KlingModel):
    """Read a text aloud in one of the TTS voices, answered at once (POST /v1/audio/tts)."""

    model_config = ConfigDict(title="tts")

    text: Annotated[str, StringConstraints(min_length=1, max_length=TTS_TEXT_MAX_CHARS), AfterValidator(_not_blank)]
    voice_id: Identifier
    # Marked required yet given a default of "zh" (Appendix A #33): the default is applied.
    voice_language: Literal["zh", "en"] = "zh"
    voice_speed: Annotated[float, AfterValidator(_clamped_speed)] = 1.0
