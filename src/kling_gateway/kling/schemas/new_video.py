"""Create bodies of the new generation: `POST /{text-to-video|image-to-video|omni-video|motion-control}/{model}`.

Each endpoint is one class naming its product, its path model and what that model can do (reference 2026 §3.2);
the rules of §3.3-3.6 are checked against those capabilities, and every message names the field at fault.
"""

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, ClassVar, Self

from pydantic import ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from .base import Problem, VideoBody, WatermarkInfo
from .fields import CallbackUrl, ExternalTaskId, shown
from .new_parts import Content, Options, Settings, content_problems, shot_problems
from .new_rules import motion_problems, omni_problems
from .rules import counted, quoted

OPTION_FIELDS = ("callback_url", "external_task_id", "watermark_info")
DEFAULT_RESOLUTION = "720p"
DEFAULT_DURATION_S = 5
LONG_PROMPT_MAX_CHARS = 3072
PROMPT_MAX_CHARS = 2500
V3_DURATIONS = tuple(range(3, 16))
O1_DURATIONS = tuple(range(3, 11))
CLIP_DURATIONS = (5, 10)
HD = ("720p", "1080p")
HD_4K = ("720p", "1080p", "4k")
MAX_V3_ELEMENTS = 3
MAX_VOICES = 2


@dataclass(frozen=True)
class Caps:
    """What one path model offers on one product: the settings it takes, their values and its prompt length."""

    settings: frozenset[str]
    resolutions: tuple[str, ...] = HD
    durations: tuple[int, ...] = ()
    audios: tuple[str, ...] = ()
    default_audio: str = "off"
    always_audio: bool = False  # kling-3.0-turbo: no audio setting, every video has sound (Appendix A #4)
    prompt_max_chars: int = PROMPT_MAX_CHARS
    types: tuple[str, ...] = ()  # the contents[].type values the endpoint takes


def _caps(*settings: str, **given: Any) -> Caps:
    return Caps(settings=frozenset(settings), **given)


class NewVideoBody(VideoBody):
    """Describe a task of the new generation: settings{}, options{} and one video-pack slot."""

    product: ClassVar[str]
    caps: ClassVar[Caps]
    setting_notes: ClassVar[dict[str, str]] = {}

    # Read from options{}; kept as attributes so that every create body answers the same questions.
    callback_url: CallbackUrl | None = Field(default=None, exclude=True)
    external_task_id: ExternalTaskId | None = Field(default=None, exclude=True)
    watermark_info: WatermarkInfo | None = Field(default=None, exclude=True)
    settings: Settings | None = None
    options: Options | None = None

    @model_validator(mode="before")
    @classmethod
    def refuse_top_level_options(cls, data: object) -> object:
        """Refuse the legacy top-level callback_url, external_task_id and watermark_info: they go in options."""
        if isinstance(data, dict):
            misplaced = [
                [name, f"is not a top-level field here; put it in options (options.{name})"]
                for name in OPTION_FIELDS
                if name in data
            ]
            if misplaced:
                summary = "; ".join(f"{where}: {text}" for where, text in misplaced)
                raise PydanticCustomError("kling_rule", "{summary}", {"summary": summary, "problems": misplaced})
        return data

    @model_validator(mode="after")
    def lift_options(self) -> Self:
        """Expose the options under the attributes every create body has."""
        if self.options is not None:
            self.callback_url = self.options.callback_url
            self.external_task_id = self.options.external_task_id or None
            self.watermark_info = self.options.watermark_info
        return self

    @classmethod
    def action(cls) -> str:
        """Return the endpoint's path without its leading slash: `<product>/<model>`."""
        return f"{cls.product}/{cls.default_model}"

    def chosen(self) -> Settings:
        """Return the settings as sent (none sent reads as all defaults)."""
        return self.settings or Settings()

    def mode(self) -> str:
        return self.chosen().resolution or DEFAULT_RESOLUTION

    def duration_s(self) -> float | None:
        return float(self.chosen().duration or DEFAULT_DURATION_S)

    def audio(self) -> str:
        """Return the audio setting, the endpoint default applied ("native" for the always-sounding turbo)."""
        return "native" if self.caps.always_audio else self.chosen().audio or self.caps.default_audio

    def with_sound(self) -> bool:
        return self.audio() != "off"

    def variant(self) -> str:
        return "audio" if self.audio() == "native" else "silent"

    def prompt_text(self) -> tuple[str, str] | None:
        """Return where the prompt is and its text, when there is one."""
        return None

    def multi_shot(self) -> bool:
        """Tell whether the model may cut between shots (where it can, multi_shot defaults to true)."""
        return "multi_shot" in self.caps.settings and self.chosen().multi_shot is not False

    def problems(self) -> Iterator[Problem]:
        yield from super().problems()
        yield from self._settings_problems()
        found = self.prompt_text()
        if found is not None:
            where, text = found
            if len(text) > self.caps.prompt_max_chars:
                yield where, f"is {len(text)} characters long; at most {self.caps.prompt_max_chars} are allowed"
            if self.multi_shot():
                yield from shot_problems(text, int(self.duration_s() or DEFAULT_DURATION_S), where)

    def _settings_problems(self) -> Iterator[Problem]:
        settings, caps, model = self.chosen(), self.caps, self.model()
        for name in settings.given():
            if name not in caps.settings:
                note = self.setting_notes.get(name, "")
                yield f"settings.{name}", f"is not supported on /{self.action()}{note}; leave it out"
        resolution = settings.resolution
        if resolution is not None and "resolution" in caps.settings and resolution not in caps.resolutions:
            yield _not_for(model, "settings.resolution", resolution, caps.resolutions)
        if settings.audio is not None and "audio" in caps.settings and settings.audio not in caps.audios:
            yield _not_for(model, "settings.audio", settings.audio, caps.audios)
        duration = settings.duration
        if duration is not None and "duration" in caps.settings and duration not in caps.durations:
            yield "settings.duration", _duration_message(model, duration, caps.durations)

    def where(self) -> str:
        """Name the endpoint in a message."""
        return f"/{self.action()}"


def _not_for(model: str, where: str, value: str, allowed: tuple[str, ...]) -> Problem:
    return where, f"{shown(value)} is not allowed for model {model}; allowed values are {quoted(allowed)}"


def _duration_message(model: str, duration: int, allowed: tuple[int, ...]) -> str:
    if list(allowed) == list(range(allowed[0], allowed[-1] + 1)) and len(allowed) > 2:
        return f"must be between {allowed[0]} and {allowed[-1]} seconds for model {model} (got {duration})"
    return f"{duration} is not allowed for model {model}; allowed values are {', '.join(map(str, allowed))}"


class TextToVideo(NewVideoBody):
    """Generate a video from a prompt (POST /text-to-video/{model})."""

    product: ClassVar[str] = "text-to-video"

    prompt: str

    def prompt_text(self) -> tuple[str, str] | None:
        return "prompt", self.prompt

    def problems(self) -> Iterator[Problem]:
        if not self.prompt.strip():
            yield "prompt", "must not be empty or only spaces"
        yield from super().problems()
        if self.model() == "kling-2.6" and self.audio() == "native" and self.mode() != "1080p":
            yield "settings.audio", '"native" needs settings.resolution "1080p" on model kling-2.6 (its 720p is silent)'


class ContentsBody(NewVideoBody):
    """Describe a task whose inputs are typed items of contents[]."""

    frame_ids: ClassVar[bool] = False  # only the omni endpoints let a frame carry an id

    contents: list[Content] = Field(min_length=1)

    def items(self, *kinds: str) -> list[tuple[int, Content]]:
        """Return the items of the given types with their positions."""
        return [(index, item) for index, item in enumerate(self.contents) if item.type in kinds]

    def prompt_text(self) -> tuple[str, str] | None:
        prompts = self.items("prompt")
        if not prompts or prompts[0][1].text is None:
            return None
        return f"contents[{prompts[0][0]}].text", prompts[0][1].text

    def problems(self) -> Iterator[Problem]:
        yield from content_problems(self.contents, self.caps.types, self.where(), frame_ids=self.frame_ids)
        if len(self.items("prompt")) > 1:
            yield "contents", f'has {len(self.items("prompt"))} "prompt" items; at most 1 is allowed'
        yield from super().problems()


class ImageToVideo(ContentsBody):
    """Animate a first frame, optionally towards a last frame (POST /image-to-video/{model})."""

    product: ClassVar[str] = "image-to-video"
    setting_notes: ClassVar[dict[str, str]] = {"aspect_ratio": " (the first frame decides the frame)"}

    def variant(self) -> str:
        return "voice" if self.items("voice") else super().variant()

    def problems(self) -> Iterator[Problem]:
        yield from super().problems()
        model, firsts, lasts = self.model(), self.items("first_frame"), self.items("last_frame")
        if len(firsts) != 1:
            yield "contents", f'needs exactly one "first_frame" item (got {len(firsts)})'
        if len(lasts) > 1:
            yield "contents", f'has {len(lasts)} "last_frame" items; at most 1 is allowed'
        if lasts and model in ("kling-2.6", "kling-2.5-turbo") and self.mode() != "1080p":
            yield f"contents[{lasts[0][0]}].type", f'"last_frame" needs settings.resolution "1080p" on model {model}'
        if lasts and model == "kling-2.6" and self.audio() != "off":
            yield f"contents[{lasts[0][0]}].type", '"last_frame" needs settings.audio "off" on model kling-2.6'
        if model == "kling-2.6" and self.audio() == "native" and self.mode() != "1080p":
            yield "settings.audio", '"native" needs settings.resolution "1080p" on model kling-2.6 (its 720p is silent)'
        elements, voices = self.items("element"), self.items("voice")
        if len(elements) > MAX_V3_ELEMENTS:
            yield "contents", f"has {counted(len(elements), 'element')}; at most {MAX_V3_ELEMENTS} are allowed"
        if len(voices) > MAX_VOICES:
            yield "contents", f"has {counted(len(voices), 'voice')}; at most {MAX_VOICES} are allowed"
        if voices and self.audio() == "off":
            yield f"contents[{voices[0][0]}].type", 'a "voice" item needs settings.audio "native"'


class OmniVideo(ContentsBody):
    """Generate or edit a video from any mix of prompt, frames, references and a video (POST /omni-video/{model})."""

    product: ClassVar[str] = "omni-video"
    frame_ids: ClassVar[bool] = True

    def reference_video(self) -> str | None:
        """Return the type of the reference video ("feature_video", "base_video"), if any."""
        videos = self.items("feature_video", "base_video")
        return videos[0][1].type if videos else None

    def variant(self) -> str:
        return "video-in" if self.reference_video() else super().variant()

    def problems(self) -> Iterator[Problem]:
        yield from super().problems()
        yield from omni_problems(self.model(), self.contents, self.chosen(), self.duration_s() or DEFAULT_DURATION_S)


class MotionControl(ContentsBody):
    """Make the character of an image perform the motion of a video (POST /motion-control/{model})."""

    product: ClassVar[str] = "motion-control"
    setting_notes: ClassVar[dict[str, str]] = {
        "duration": " (the output is as long as the motion taken from the video)",
        "aspect_ratio": " (the output follows the image or the video, as character_orientation says)",
    }
    longest_for: ClassVar[dict[str, int]] = {"video": 30, "image": 10}

    def duration_s(self) -> float | None:
        return None  # as long as the usable motion of the reference video, known only when it is done

    def variant(self) -> str:
        return "motion"

    def longest_output_s(self) -> int:
        """Return the longest output the request allows: its reference video's limit for the orientation."""
        # An element makes the output take the video's orientation, whose limit is the longer one.
        orientation = "video" if self.items("element") else self.chosen().character_orientation or "video"
        return self.longest_for[orientation]

    def problems(self) -> Iterator[Problem]:
        yield from super().problems()
        yield from motion_problems(self.contents, self.chosen())


def _endpoint(base: type[NewVideoBody], model: str, caps: Caps, doc: str) -> type[NewVideoBody]:
    """Make the class of one endpoint: its product's rules with one model's capabilities."""
    title = f"{base.product}/{model}"
    name = f"{base.__name__}_{model.replace('-', '_').replace('.', '_')}"
    namespace = {
        "__doc__": doc,
        "__module__": __name__,
        "__qualname__": name,
        "model_config": ConfigDict(title=title),
        "default_model": model,
        "caps": caps,
    }
    return type(name, (base,), namespace)


_T2V = ("resolution", "aspect_ratio", "duration")
_I2V = ("resolution", "duration")
_OMNI = ("resolution", "aspect_ratio", "duration", "audio")
_MOTION = ("character_orientation", "audio", "resolution")
_MOTION_CAPS = {"audios": ("original", "off"), "default_audio": "original"}
_V3 = {"resolutions": HD_4K, "durations": V3_DURATIONS, "audios": ("native", "off")}
_V26 = {"durations": CLIP_DURATIONS, "audios": ("native", "off")}

ENDPOINTS: tuple[type[NewVideoBody], ...] = (
    _endpoint(
        TextToVideo,
        "kling-3.0-turbo",
        _caps(*_T2V, durations=V3_DURATIONS, always_audio=True, prompt_max_chars=LONG_PROMPT_MAX_CHARS),
        "Generate a video with sound from a prompt on Kling 3.0 Turbo.",
    ),
    _endpoint(
        TextToVideo,
        "kling-3.0",
        _caps(*_T2V, "audio", "multi_shot", prompt_max_chars=LONG_PROMPT_MAX_CHARS, **_V3),
        "Generate a video from a prompt, one shot or several, on Kling 3.0.",
    ),
    _endpoint(TextToVideo, "kling-2.6", _caps(*_T2V, "audio", **_V26), "Generate a video from a prompt on Kling 2.6."),
    _endpoint(
        TextToVideo,
        "kling-2.5-turbo",
        _caps(*_T2V, durations=CLIP_DURATIONS),
        "Generate a silent video from a prompt on Kling 2.5 Turbo.",
    ),
    _endpoint(
        ImageToVideo,
        "kling-3.0-turbo",
        _caps(*_I2V, durations=V3_DURATIONS, always_audio=True, types=("prompt", "first_frame")),
        "Animate a first frame, with sound, on Kling 3.0 Turbo.",
    ),
    _endpoint(
        ImageToVideo,
        "kling-3.0",
        _caps(
            *_I2V,
            "audio",
            "multi_shot",
            prompt_max_chars=LONG_PROMPT_MAX_CHARS,
            types=("prompt", "first_frame", "last_frame", "element"),
            **_V3,
        ),
        "Animate a first frame, towards a last frame and with elements, on Kling 3.0.",
    ),
    _endpoint(
        ImageToVideo,
        "kling-2.6",
        _caps(*_I2V, "audio", types=("prompt", "first_frame", "last_frame", "voice"), **_V26),
        "Animate a first frame, towards a last frame or with voices, on Kling 2.6.",
    ),
    _endpoint(
        ImageToVideo,
        "kling-2.5-turbo",
        _caps(*_I2V, durations=CLIP_DURATIONS, types=("prompt", "first_frame", "last_frame")),
        "Animate a first frame, towards a last frame, on Kling 2.5 Turbo.",
    ),
    _endpoint(
        OmniVideo,
        "kling-3.0-omni",
        _caps(
            *_OMNI,
            "multi_shot",
            "shot_type",
            resolutions=HD_4K,
            durations=V3_DURATIONS,
            audios=("native", "original", "off"),
            prompt_max_chars=LONG_PROMPT_MAX_CHARS,
            types=("prompt", "first_frame", "last_frame", "refer_image", "feature_video", "base_video", "element"),
        ),
        "Generate or edit a video from any mix of inputs on Kling 3.0 Omni.",
    ),
    _endpoint(
        OmniVideo,
        "kling-o1",
        _caps(
            *_OMNI,
            durations=O1_DURATIONS,
            audios=("original", "off"),
            types=("prompt", "first_frame", "last_frame", "refer_image", "feature_video", "base_video", "element"),
        ),
        "Generate or edit a video from any mix of inputs on Kling O1.",
    ),
    _endpoint(
        MotionControl,
        "kling-3.0",
        _caps(*_MOTION, types=("prompt", "image", "video", "element"), **_MOTION_CAPS),
        "Transfer the motion of a video to the character of an image on Kling 3.0.",
    ),
    _endpoint(
        MotionControl,
        "kling-2.6",
        _caps(*_MOTION, types=("prompt", "image", "video"), **_MOTION_CAPS),
        "Transfer the motion of a video to the character of an image on Kling 2.6.",
    ),
)
"""Every create endpoint of the new generation, one class each (see registry.NEW_ACTIONS)."""
