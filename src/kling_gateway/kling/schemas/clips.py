"""Parts that several video schemas share: camera control and multi-shot storyboards."""

from collections.abc import Iterator
from typing import Annotated, ClassVar, Literal

from pydantic import Field

from .base import KlingModel, Problem
from .catalog import MULTI_SHOT_MODELS
from .fields import CameraAxis, DurationText, Prompt, ShotPrompt, shown, whole_number
from .rules import either

MAX_SHOTS = 6

CameraType = Literal["simple", "down_back", "forward_up", "right_turn_forward", "left_turn_forward"]


class CameraConfig(KlingModel):
    """Move the camera along exactly one axis."""

    horizontal: CameraAxis = 0
    vertical: CameraAxis = 0
    pan: CameraAxis = 0
    tilt: CameraAxis = 0
    roll: CameraAxis = 0
    zoom: CameraAxis = 0

    def problems(self) -> Iterator[Problem]:
        moves = self.model_dump()
        moving = [axis for axis, amount in moves.items() if amount != 0]
        if len(moving) != 1:
            names = ", ".join(moves)
            yield "", f"exactly one of {names} must be non-zero (got {len(moving)} non-zero)"


class CameraControl(KlingModel):
    """Pick a preset camera move, or a simple one along one axis."""

    type: CameraType
    config: CameraConfig | None = None

    def problems(self) -> Iterator[Problem]:
        if self.type == "simple" and self.config is None:
            yield "config", 'is required when type is "simple"'
        if self.type != "simple" and self.config is not None:
            yield "config", f'is only allowed when type is "simple" (type is "{self.type}")'


class Shot(KlingModel):
    """Describe one shot of a multi-shot video."""

    index: Annotated[int, Field(ge=1, le=MAX_SHOTS)]
    prompt: ShotPrompt
    duration: DurationText

    def problems(self) -> Iterator[Problem]:
        seconds = whole_number(self.duration)
        if seconds is None or seconds < 1:
            yield "duration", f'must be a whole number of seconds such as "3" (got {shown(self.duration)})'

    def seconds(self) -> int:
        """Return the shot length in seconds."""
        return int(self.duration)


class MultiShotFields(KlingModel):
    """Carry the prompt and the optional storyboard of the models that cut between several shots."""

    prompt_required: ClassVar[bool] = True  # image2video animates its frame without one

    prompt: Prompt | None = None
    multi_shot: bool | None = None
    shot_type: Literal["customize", "intelligence"] | None = None
    multi_prompt: list[Shot] | None = Field(default=None, min_length=1, max_length=MAX_SHOTS)

    def storyboarded(self) -> bool:
        """Tell whether the shots come from multi_prompt rather than from the prompt."""
        return bool(self.multi_shot) and self.shot_type == "customize"

    def shot_problems(self, model: str, duration: str) -> Iterator[Problem]:
        """Check the prompt and the storyboard against the model and the total duration."""
        if self.multi_shot and model not in MULTI_SHOT_MODELS:
            yield (
                "multi_shot",
                f"is not supported by model {model}; it needs model {either(MULTI_SHOT_MODELS)}",
            )
        if not self.multi_shot:
            for name in ("shot_type", "multi_prompt"):
                if getattr(self, name) is not None:
                    yield name, "is only allowed when multi_shot is true"
        elif self.shot_type is None:
            yield (
                "shot_type",
                'is required when multi_shot is true; allowed values are "customize", "intelligence"',
            )
        elif self.shot_type == "customize":
            yield from self._storyboard_problems(duration)
        elif self.multi_prompt is not None:
            yield "multi_prompt", 'is only allowed when shot_type is "customize"'
        if not (self.prompt_required or self.multi_shot):
            return
        if self.prompt is None and not self.storyboarded():
            yield "prompt", "is required"
        elif self.prompt is not None and not self.prompt.strip() and not self.storyboarded():
            yield "prompt", "must not be empty or only spaces"

    def _storyboard_problems(self, duration: str) -> Iterator[Problem]:
        if self.multi_prompt is None:
            yield "multi_prompt", 'is required when shot_type is "customize"'
            return
        indexes = [shot.index for shot in self.multi_prompt]
        if indexes != list(range(1, len(indexes) + 1)):
            yield "multi_prompt", f"shot indexes must be 1, 2, ... in order (got {shown(indexes)})"
        wanted = whole_number(duration)
        if wanted is None or any(whole_number(shot.duration) is None for shot in self.multi_prompt):
            return  # a duration that is not a number has its own message already
        total = sum(shot.seconds() for shot in self.multi_prompt)
        if total != wanted:
            yield (
                "multi_prompt",
                f'shot durations add up to {total} s but duration is "{duration}"; they must add up to the total',
            )
