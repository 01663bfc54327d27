"""Checks that several schemas share, each yielding problems worded for the person who sent the body."""

from collections.abc import Iterable, Iterator, Mapping

from .base import Problem
from .catalog import (
    CFG_SCALE_UNSUPPORTED,
    CLIP_DURATIONS,
    LONG_DURATION_MODELS,
    SINGLE_TIER_MODELS,
    SOUND_PRO_ONLY,
    V3_DURATIONS,
    Support,
)
from .fields import shown, whole_number


def quoted(options: Iterable[str]) -> str:
    """List allowed string values the way a client writes them."""
    items = list(options)
    numeric = all(whole_number(v) is not None for v in items) and len(items) > 3
    if numeric and [int(v) for v in items] == list(range(int(items[0]), int(items[-1]) + 1)):
        return f'"{items[0]}" to "{items[-1]}"'
    return ", ".join(f'"{v}"' for v in items)


def either(names: Iterable[str]) -> str:
    """Join alternatives the way a sentence does: "a", "a or b", "a, b or c"."""
    items = list(names)
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} or {items[-1]}"


def counted(count: int, noun: str) -> str:
    """Say how many of something there are, in the right number."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


def not_allowed(where: str, value: str, options: Iterable[str], model: str | None = None) -> Problem:
    """Say that a value is outside the allowed set (for the given model when the set depends on it)."""
    scope = f" for model {model}" if model else ""
    return where, f"{shown(value)} is not allowed{scope}; allowed values are {quoted(options)}"


def model_durations(model: str) -> tuple[str, ...]:
    """Return the durations a video model accepts."""
    return V3_DURATIONS if model in LONG_DURATION_MODELS else CLIP_DURATIONS


def check_duration(
    duration: str | None, allowed: tuple[str, ...], model: str | None = None, where: str = "duration"
) -> Iterator[Problem]:
    """Refuse a duration outside the allowed set."""
    if duration is not None and duration not in allowed:
        yield not_allowed(where, duration, allowed, model)


def check_cfg_scale(model: str, cfg_scale: float | None) -> Iterator[Problem]:
    """Refuse cfg_scale on the kling-v2.x models, which do not take it."""
    if cfg_scale is not None and model in CFG_SCALE_UNSUPPORTED:
        yield "cfg_scale", f"is not supported by model {model}; leave it out"


def check_sound(model: str, mode: str | None, sound: str | None, models: tuple[str, ...]) -> Iterator[Problem]:
    """Refuse sound "on" where the model cannot make sound, and kling-v2-6 sound outside pro mode."""
    if sound != "on":
        return
    if model not in models:
        yield "sound", f'"on" is not supported by model {model}; sound needs model {either(models)}'
    elif model in SOUND_PRO_ONLY and mode != "pro":
        yield "sound", f'"on" needs mode "pro" on model {model} (its std mode is silent)'


def check_single_tier(model: str, mode: str | None) -> Iterator[Problem]:
    """Refuse pro mode on the single-tier master models."""
    if mode == "pro" and model in SINGLE_TIER_MODELS:
        yield (
            "mode",
            f'"pro" is not available for model {model}, which has a single tier; leave mode out or send "std"',
        )


def check_four_k(model: str, mode: str | None, models: tuple[str, ...]) -> Iterator[Problem]:
    """Refuse native 4K on a model that does not render it."""
    if mode == "4k" and model not in models:
        yield "mode", f'"4k" is not supported by model {model}; it needs model {either(models)}'


def check_support(
    where: str, table: Mapping[str, Support], model: str, mode: str | None, duration: str | None
) -> Iterator[Problem]:
    """Refuse a feature the model lacks, or offers only in another mode or at another duration."""
    support = table.get(model)
    if support is None:
        yield where, f"is not supported by model {model}; it needs model {either(table)}"
    elif mode not in support.modes:
        yield where, f"needs mode {quoted(support.modes)} on model {model}"
    elif support.durations is not None and (duration or "5") not in support.durations:
        yield where, f"needs duration {quoted(support.durations)} on model {model}"


def exactly_one(given: Mapping[str, object]) -> Iterator[Problem]:
    """Require exactly one of several alternative fields."""
    present = [name for name, value in given.items() if value is not None]
    if len(present) != 1:
        problem = "one is required" if not present else "only one may be given"
        yield ", ".join(given), f"give exactly one of these; {problem}"


def only_one_group(groups: Mapping[str, bool]) -> Iterator[Problem]:
    """Allow at most one of several groups of fields."""
    if sum(groups.values()) > 1:
        yield " / ".join(groups), "only one of these groups may be given"


def refused(fields: Mapping[str, object], reason: str) -> Iterator[Problem]:
    """Refuse each given field, saying when it would be allowed."""
    for name, value in fields.items():
        if value is not None:
            yield name, f"is only allowed {reason}"


def required(fields: Mapping[str, object], reason: str) -> Iterator[Problem]:
    """Require each field, saying why it is needed."""
    for name, value in fields.items():
        if value is None:
            yield name, f"is required {reason}"
