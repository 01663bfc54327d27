"""Create bodies of the two lip-sync endpoints."""

from collections.abc import Iterator
from decimal import Decimal
from typing import ClassVar, Literal

from pydantic import ConfigDict, Field

from .base import KlingModel, Problem, VideoBody
from .fields import (
    AudioFile,
    AudioInput,
    HttpUrl,
    Identifier,
    LipSyncText,
    Milliseconds,
    VoiceSpeed,
    Volume,
    shown,
)
from .rules import exactly_one, refused, required

VOICE_SPEED_STEP = Decimal("0.1")
# The reference shows face_choose as an array but describes one face per task; the stricter reading takes one.
MAX_FACES = 1


class LipSyncInput(KlingModel):
    """Give the video to re-voice and either a text to speak or an audio track to follow."""

    video_id: Identifier | None = None
    video_url: HttpUrl | None = None
    mode: Literal["text2video", "audio2video"]
    text: LipSyncText | None = None
    voice_id: Identifier | None = None
    voice_language: Literal["zh", "en"] | None = None
    voice_speed: VoiceSpeed | None = None
    audio_type: Literal["file", "url"] | None = None
    audio_file: AudioFile | None = None
    audio_url: HttpUrl | None = None

    def problems(self) -> Iterator[Problem]:
        yield from exactly_one({"video_id": self.video_id, "video_url": self.video_url})
        speech: dict[str, object] = {"text": self.text, "voice_id": self.voice_id}
        voice: dict[str, object] = {"voice_language": self.voice_language, "voice_speed": self.voice_speed}
        audio: dict[str, object] = {
            "audio_type": self.audio_type,
            "audio_file": self.audio_file,
            "audio_url": self.audio_url,
        }
        if self.mode == "text2video":
            yield from required(speech, 'when mode is "text2video"')
            yield from refused(audio, 'when mode is "audio2video"')
        else:
            yield from refused(speech | voice, 'when mode is "text2video"')
            yield from self._audio_problems()
        if self.voice_speed is not None and Decimal(str(self.voice_speed)) % VOICE_SPEED_STEP:
            yield "voice_speed", f"must be a multiple of 0.1 (got {shown(self.voice_speed)})"

    def _audio_problems(self) -> Iterator[Problem]:
        if self.audio_type is None:
            yield "audio_type", 'is required when mode is "audio2video"; allowed values are "file", "url"'
            return
        chosen, other = ("audio_file", "audio_url") if self.audio_type == "file" else ("audio_url", "audio_file")
        yield from required({chosen: getattr(self, chosen)}, f'when audio_type is "{self.audio_type}"')
        yield from refused({other: getattr(self, other)}, f'when audio_type is "{other.removeprefix("audio_")}"')


class LipSync(VideoBody):
    """Re-voice the person in a video from a text or an audio track (POST /v1/videos/lip-sync)."""

    model_config = ConfigDict(title="lip-sync")
    default_model: ClassVar[str] = "kling-lip-sync"

    input: LipSyncInput


class FaceChoice(KlingModel):
    """Say which detected face speaks which audio, when and how loud."""

    face_id: Identifier
    audio_id: Identifier | None = None
    sound_file: AudioInput | None = None
    sound_start_time: Milliseconds
    sound_end_time: Milliseconds
    sound_insert_time: Milliseconds
    sound_volume: Volume | None = None
    original_audio_volume: Volume | None = None

    def problems(self) -> Iterator[Problem]:
        yield from exactly_one({"audio_id": self.audio_id, "sound_file": self.sound_file})
        if self.sound_end_time <= self.sound_start_time:
            yield "sound_end_time", f"must be later than sound_start_time ({self.sound_start_time} ms)"


class AdvancedLipSync(VideoBody):
    """Lip-sync a face found by identify-face (POST /v1/videos/advanced-lip-sync)."""

    model_config = ConfigDict(title="advanced-lip-sync")
    default_model: ClassVar[str] = "kling-advanced-lip-sync"

    session_id: Identifier
    face_choose: list[FaceChoice] = Field(min_length=1, max_length=MAX_FACES)
