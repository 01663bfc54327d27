"""Read the official task paths and their paging parameters, the same way in the sandbox and the gateway."""

from __future__ import annotations

import re
from collections.abc import Mapping

from kling_gateway.kling.schemas import ACTIONS, ActionSpec, Family

PAGE_NUM_RANGE = (1, 1000)
PAGE_SIZE_RANGE = (1, 500)
VOICE_PAGE_SIZE_RANGE = (1, 1000)  # the voice lists take larger pages (2026 reference, Appendix A #28)
DEFAULT_PAGE_SIZE = 30
WHOLE_NUMBER = re.compile(r"[0-9]{1,15}")  # ASCII digits only: str.isdigit() takes "²", which int() refuses


class BadPath(ValueError):
    """The path names no endpoint, or a paging parameter is out of bounds; the message says which."""


def family_of(raw: str) -> Family:
    """Read the family segment of a path."""
    try:
        return Family(raw)
    except ValueError:
        raise BadPath(f"no such endpoint family {raw!r}; use {', '.join(Family)}") from None


def tidy_rest(raw: str) -> str:
    """Drop empty segments, as the official service tolerates `…/kolors-virtual-try-on//{id}`."""
    return "/".join(part for part in raw.split("/") if part)


def split_task_path(
    family: Family, rest: str, actions: Mapping[tuple[Family, str], ActionSpec] = ACTIONS
) -> tuple[ActionSpec, str | None]:
    """Split `<action>` or `<action>/<id>` (actions may contain a slash) into the action and the id; BadPath
    when it is neither (the caller names the method and path it was sent)."""
    spec = actions.get((family, rest))
    if spec is not None:
        return spec, None
    action, _, reference = rest.rpartition("/")
    spec = actions.get((family, action))
    if spec is None or not reference:
        raise BadPath(f"{rest!r} is not a {family} action, nor a task of one")
    return spec, reference


def page_params(query: Mapping[str, str], size_range: tuple[int, int] = PAGE_SIZE_RANGE) -> tuple[int, int]:
    """Read `pageNum` and `pageSize`, with their defaults; out of range is an error, never silently reset."""
    return (
        _page_param(query, "pageNum", PAGE_NUM_RANGE, 1),
        _page_param(query, "pageSize", size_range, DEFAULT_PAGE_SIZE),
    )


def _page_param(query: Mapping[str, str], name: str, bounds: tuple[int, int], default: int) -> int:
    raw = query.get(name)
    if raw is None:
        return default
    low, high = bounds
    if not WHOLE_NUMBER.fullmatch(raw) or not low <= int(raw) <= high:
        raise BadPath(f"{name}: must be a whole number from {low} to {high} (got {raw!r})")
    return int(raw)
