"""Read OpenAI-style and new-api-style video requests as Kling text2video / image2video bodies.

Both APIs name a frame by its size; Kling by an aspect ratio and a mode (std = 720p, pro = 1080p). A size maps
to exactly one of those, or is refused with the list of sizes that do. `VideoRequest` holds what the two APIs share
and turns itself into the Kling body; each API's model only names its own fields. The models validate the request
(strict and closed, as Kling's own bodies are) and are what `/openapi.json` shows as the request body.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import dataclass
from math import gcd
from typing import Annotated, Any, ClassVar, Literal, TypeVar

from pydantic import AfterValidator, BeforeValidator, ConfigDict, Field, WithJsonSchema, field_validator
from starlette.datastructures import UploadFile

from kling_gateway.errors import InvalidRequest
from kling_gateway.kling.schemas import ACTIONS, NEW_ACTIONS, ActionSpec, Family, InvalidBody, parse_body
from kling_gateway.kling.schemas.base import KlingModel, Problem

TEXT2VIDEO = ACTIONS[(Family.VIDEOS, "text2video")]
IMAGE2VIDEO = ACTIONS[(Family.VIDEOS, "image2video")]
_ASPECTS = {(16, 9): "16:9", (9, 16): "9:16", (1, 1): "1:1"}
_MODE_BY_SHORT_SIDE = {720: "std", 1080: "pro"}
RESOLUTION_OF_MODE = {"std": "720p", "pro": "1080p"}  # the new generation names the frame's short side
SIZES = tuple(
    f"{short * across // min(across, down)}x{short * down // min(across, down)}"
    for short in _MODE_BY_SHORT_SIDE
    for across, down in _ASPECTS
)
MAX_REFERENCE_BYTES = 10 * 1024 * 1024  # Kling takes pictures up to 10 MB
REFERENCE_TYPES = frozenset({"image/jpeg", "image/jpg", "image/png"})

R = TypeVar("R", bound="VideoRequest")


@dataclass(frozen=True, slots=True)
class Frame:
    """A Kling aspect ratio and mode."""

    aspect_ratio: str
    mode: str


def frame_of(width: int, height: int) -> Frame:
    """Map a frame size to Kling's aspect ratio and mode; ValueError names the sizes Kling makes."""
    divisor = gcd(width, height) or 1
    aspect = _ASPECTS.get((width // divisor, height // divisor))
    mode = _MODE_BY_SHORT_SIDE.get(min(width, height))
    if aspect is None or mode is None:
        raise ValueError(
            f"Kling makes no {width}x{height} video; use one of {', '.join(SIZES)} "
            "(720p is mode std, 1080p is mode pro)"
        )
    return Frame(aspect, mode)


def parse_size(raw: str) -> Frame:
    """Read a `WIDTHxHEIGHT` size."""
    width, sep, height = raw.lower().partition("x")
    if not sep or not width.isascii() or not width.isdigit() or not height.isascii() or not height.isdigit():
        raise ValueError(f"{raw!r} is not a size like 1280x720; use one of {', '.join(SIZES)}")
    return frame_of(int(width), int(height))


def seconds_text(raw: Any) -> Any:
    """Read a clip length in whole seconds, as Kling's `duration` takes it ("5")."""
    if raw is None:
        return None
    text = str(raw).strip()
    if isinstance(raw, bool) or not text.replace(".", "", 1).isdigit() or float(text) != int(float(text)):
        raise ValueError(f"{raw!r} is not a whole number of seconds (Kling makes 5 or 10)")
    return str(int(float(text)))


def _known_size(raw: str) -> str:
    parse_size(raw)
    return raw


def without_data_prefix(image: str) -> str:
    """Kling takes a URL or bare base64: drop the `data:image/png;base64,` of a data URL."""
    if image.startswith("data:") and "," in image:
        return image.partition(",")[2]
    return image


Seconds = Annotated[
    str,
    BeforeValidator(seconds_text, json_schema_input_type=str | int),
    Field(description='Whole seconds, as Kling makes them ("5", "10")'),
]
Size = Annotated[str, AfterValidator(_known_size), WithJsonSchema({"type": "string", "enum": list(SIZES)})]
Picture = Annotated[str, AfterValidator(without_data_prefix)]


class ImageUrl(KlingModel):
    """A picture named by its URL, base64 text or data: URL."""

    image_url: str = Field(min_length=1, description="A picture's URL, base64 text or data: URL")


class VideoRequest(KlingModel):
    """A video request of another API: a prompt, a model, a length, a frame and a picture, read as Kling's."""

    prompt: str | None = None
    model: str | None = None
    seconds: Seconds | None = None
    size: Size | None = None
    image: Picture | None = None

    def frame(self) -> Frame | None:
        """Return the frame the request asks for, if any."""
        return None if self.size is None else parse_size(self.size)

    def further_fields(self) -> dict[str, Any]:
        """Return the Kling fields the request gives as they are, over those read from its own fields."""
        return {}

    def new_spec(self) -> ActionSpec | None:
        """The new-generation endpoint the request goes to: its model is a path model (`kling-3.0-turbo`), with a
        picture image-to-video, else text-to-video; None for a legacy model name."""
        product = "text-to-video" if self.image is None else "image-to-video"
        return None if self.model is None else NEW_ACTIONS.get(f"{product}/{self.model}")

    def kling(self) -> tuple[ActionSpec, dict[str, Any]]:
        """Build the Kling body: of the new generation for a path model, else image2video when a picture is
        given and text2video otherwise."""
        new = self.new_spec()
        if new is not None:
            return new, self.new_body()
        spec = IMAGE2VIDEO if self.image is not None else TEXT2VIDEO
        named = (("prompt", self.prompt), ("model_name", self.model), ("duration", self.seconds))
        body: dict[str, Any] = {name: value for name, value in named if value is not None}
        frame = self.frame()
        if frame is not None:
            body["mode"] = frame.mode
            if spec is TEXT2VIDEO:  # an image2video clip takes its orientation from the picture
                body["aspect_ratio"] = frame.aspect_ratio
        if self.image is not None:
            body["image"] = self.image
        body.update(self.further_fields())
        return spec, body

    def new_body(self) -> dict[str, Any]:
        """Build a new-generation body: `seconds` is `settings.duration` (an int there), `size` the aspect ratio
        (text-to-video only: a first frame sets its own) and the resolution, the picture the first frame."""
        further = self.further_fields()
        # A legacy mode and end frame, as new-api requests give them, in the new generation's words.
        mode, tail = further.pop("mode", None), further.pop("image_tail", None)
        settings: dict[str, Any] = {}
        if self.seconds is not None:
            settings["duration"] = int(self.seconds)
        frame = self.frame()
        if frame is not None or mode in RESOLUTION_OF_MODE:
            settings["resolution"] = RESOLUTION_OF_MODE[frame.mode if frame is not None else str(mode)]
        if frame is not None and self.image is None:
            settings["aspect_ratio"] = frame.aspect_ratio
        body: dict[str, Any] = {}
        if self.image is None:
            if self.prompt is not None:
                body["prompt"] = self.prompt
        else:
            contents: list[dict[str, Any]] = [{"type": "first_frame", "url": self.image}]
            if tail is not None:
                contents.append({"type": "last_frame", "url": tail})
            if self.prompt is not None:
                contents.append({"type": "prompt", "text": self.prompt})
            body["contents"] = contents
        if settings:
            body["settings"] = settings
        for name, value in further.items():  # the request's own Kling fields, objects merged
            given = body.get(name)
            body[name] = given | value if isinstance(given, dict) and isinstance(value, dict) else value
        return body


class OpenAiVideoCreate(VideoRequest):
    """Create a video job. `model` is a Kling model name, `seconds` Kling's duration, `size` picks the aspect ratio
    and mode (720p std, 1080p pro); an `input_reference` picture makes it image2video."""

    model_config = ConfigDict(title="POST /v1/videos")
    # The Kling field each field becomes, to name the field at fault when Kling refuses the body.
    KLING_NAMES: ClassVar[dict[str, str]] = {
        "model_name": "model",
        "duration": "seconds",
        "mode": "size",
        "aspect_ratio": "size",
        "image": "input_reference",
        "prompt": "prompt",
        "settings.duration": "seconds",
        "settings.aspect_ratio": "size",
        "settings.resolution": "size",
        "contents": "input_reference",
        "contents[0].url": "input_reference",
    }
    FILE_FIELD: ClassVar[str] = "input_reference"  # the field a form may send as a picture file

    prompt: str | None = Field(default=None, description="Required unless input_reference is given")
    image: Picture | None = Field(
        default=None, alias="input_reference", description="A picture's URL or base64 text, or {image_url}"
    )

    @field_validator(
        "image", mode="before", json_schema_input_type=Annotated[str, Field(min_length=1)] | ImageUrl | None
    )
    @classmethod
    def _reference(cls, raw: Any) -> Any:
        """Take `{image_url}`, a URL or base64 text for `input_reference`."""
        if isinstance(raw, dict):
            if set(raw) != {"image_url"} or not isinstance(raw["image_url"], str):
                raise ValueError('give {"image_url": <URL or base64>} or upload a file (file_id is not supported)')
            return raw["image_url"]
        if raw is None or (isinstance(raw, str) and raw):
            return raw
        raise ValueError("must be a picture file, a URL or base64 text")


async def uploaded_picture(upload: UploadFile, *, param: str = OpenAiVideoCreate.FILE_FIELD) -> str:
    """Turn an uploaded picture into the base64 text Kling's `image` field takes."""
    content = await upload.read(MAX_REFERENCE_BYTES + 1)  # enough to tell it is too big
    content_type = upload.content_type
    if (content_type or "").split(";")[0].strip().lower() not in REFERENCE_TYPES:
        raise InvalidRequest(f"{param}: the file must be a JPEG or PNG picture (got {content_type!r})", param=param)
    if not content:
        raise InvalidRequest(f"{param}: the file is empty", param=param)
    if len(content) > MAX_REFERENCE_BYTES:
        raise InvalidRequest(f"{param}: the picture is larger than Kling's 10 MB", param=param)
    return base64.b64encode(content).decode()


class GenerationCreate(VideoRequest):
    """Create a video task the new-api way; `metadata` carries further Kling fields."""

    model_config = ConfigDict(title="POST /v1/video/generations")

    seconds: Seconds | None = Field(default=None, alias="duration")
    image_tail: str | None = None
    width: Annotated[int, Field(gt=0)] | None = None
    height: Annotated[int, Field(gt=0)] | None = None
    mode: Literal["std", "pro"] | None = None
    fps: int | None = Field(default=None, description="Accepted and not sent: Kling sets the frame rate by model")
    seed: int | None = Field(default=None, description="Accepted and not sent: Kling takes no seed")
    n: Literal[1] | None = None
    response_format: str | None = None
    user: str | None = None
    metadata: dict[str, Any] | None = None

    @field_validator("n", mode="before")
    @classmethod
    def _one_video(cls, n: Any) -> Any:
        if n is not None and (n != 1 or isinstance(n, bool)):  # True == 1 in Python, not in JSON
            raise ValueError(f"Kling makes one video per task (got {n!r}); send n = 1 or leave it out")
        return n

    def frame(self) -> Frame | None:
        if self.width is None or self.height is None:
            return super().frame()
        return frame_of(self.width, self.height)

    def problems(self) -> Iterator[Problem]:
        if self.size is not None and (self.width is not None or self.height is not None):
            yield "size", "give either size or width and height, not both"
        elif (self.width is None) != (self.height is None):
            yield "width", "give both width and height, as whole numbers of pixels"
        else:
            try:
                self.frame()
            except ValueError as error:
                yield "width", str(error)

    def further_fields(self) -> dict[str, Any]:
        given = {"image_tail": self.image_tail} if self.image_tail is not None else {}
        return given | (self.metadata or {}) | ({"mode": self.mode} if self.mode is not None else {})


def read_request(model: type[R], fields: Any) -> R:
    """Validate a request's fields, or refuse them naming every problem and the first field at fault."""
    try:
        return parse_body(model, fields)
    except InvalidBody as invalid:
        raise InvalidRequest(invalid.message, param=invalid.field) from None
