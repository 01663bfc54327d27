"""Read the new generation's task queries (reference 2026 §3.8, §3.9): `GET /tasks` ids and the `POST /tasks` body.

The sandbox and the gateway both validate with these, so a query one refuses the other refuses with the same words.
Every refusal is an InvalidBody (400 / 1201) whose message names the field.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from kling_gateway.kling.schemas import InvalidBody
from kling_gateway.kling.schemas.fields import shown

MAX_IDS = 20  # [obs] per call, task_ids and external_task_ids together
DEFAULT_LIMIT = 100
MAX_LIMIT = 500
DEFAULT_WINDOW_MS = 30 * 24 * 3600 * 1000
STATUSES = ("submitted", "processing", "succeeded", "failed")
PRODUCT_TYPES = ("video", "image", "try_on")
FILTER_KEYS = ("status", "product_type")
LISTING_FIELDS = ("start_time", "end_time", "cursor", "limit", "filters")
TOO_MANY_IDS = f"task_ids and external_task_ids cannot exceed {MAX_IDS} in total"
_MAX_MS_DIGITS = 15

IdKind = Literal["task_ids", "external_task_ids"]


@dataclass(frozen=True, slots=True)
class IdQuery:
    """Which tasks `GET /tasks` asks for: by system ids or by external ids, in the order asked, each once."""

    kind: IdKind
    ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Listing:
    """One `POST /tasks` page request: the window (ignored when a cursor is given), page size and filters."""

    start_ms: int
    end_ms: int
    cursor: str | None
    limit: int
    statuses: frozenset[str] | None  # None: any
    product_types: frozenset[str] | None


def read_id_query(params: Mapping[str, str]) -> IdQuery:
    """Read `task_ids` or `external_task_ids` (comma-separated; exactly one of the two; at most 20 ids)."""
    given = [name for name in ("task_ids", "external_task_ids") if name in params]
    if len(given) != 1:
        problem = "not both" if given else "one of them is required"
        raise InvalidBody(f"task_ids, external_task_ids: give exactly one of these, as comma-separated ids; {problem}")
    kind: IdKind = "task_ids" if given[0] == "task_ids" else "external_task_ids"
    ids = [part.strip() for part in params[kind].split(",") if part.strip()]
    if not ids:
        raise InvalidBody(f"{kind}: must list at least one id (comma-separated)")
    if len(ids) > MAX_IDS:
        raise InvalidBody(TOO_MANY_IDS)
    return IdQuery(kind, tuple(dict.fromkeys(ids)))


def read_listing(body: object, *, now_ms: int) -> Listing:
    """Read a `POST /tasks` body: times as numbers or digit strings (ms), limit 1-500, status/product filters."""
    if not isinstance(body, dict):  # no body at all reads as {}; a JSON null, list or number is not a listing
        raise InvalidBody(f"request body must be a JSON object (got {shown(body)}); send {{}} for the defaults")
    unknown = [name for name in body if name not in LISTING_FIELDS]
    if unknown:
        raise InvalidBody(
            f"{unknown[0]}: is not a field of POST /tasks; allowed fields are: {', '.join(LISTING_FIELDS)}"
        )
    end_ms = _millis(body, "end_time", now_ms)
    start_ms = _millis(body, "start_time", end_ms - DEFAULT_WINDOW_MS)
    cursor = body.get("cursor")
    if cursor is not None and not isinstance(cursor, str):
        raise InvalidBody(f"cursor: must be a string, the next_cursor of an earlier page (got {shown(cursor)})")
    if not cursor and start_ms >= end_ms:
        raise InvalidBody(f"start_time: must be before end_time (got start_time {start_ms}, end_time {end_ms})")
    limit = body.get("limit", DEFAULT_LIMIT)
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise InvalidBody(f"limit: must be a whole number between 1 and {MAX_LIMIT} (got {shown(limit)})")
    statuses, product_types = _filters(body.get("filters"))
    return Listing(start_ms, end_ms, cursor or None, limit, statuses, product_types)


def _millis(body: Mapping[str, object], name: str, default: int) -> int:
    value = body.get(name)
    if value is None:
        return default
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 10**_MAX_MS_DIGITS:
        return value
    # Appendix A #2: the 3.0-turbo pages type the times as numbers, the others as strings; both are taken.
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= _MAX_MS_DIGITS:
        return int(value)
    raise InvalidBody(
        f"{name}: must be a Unix time in milliseconds, as a number or a string of at most {_MAX_MS_DIGITS} digits "
        f"(got {shown(value)})"
    )


def _filters(raw: object) -> tuple[frozenset[str] | None, frozenset[str] | None]:
    """Read the filters: values of one key are alternatives, different keys must all hold (Appendix A #1)."""
    if raw is None:
        return None, None
    if not isinstance(raw, list):
        raise InvalidBody(f"filters: must be an array of {{key, values}} objects (got {shown(raw)})")
    chosen: dict[str, set[str]] = {}
    for index, entry in enumerate(raw):
        at = f"filters[{index}]"
        if not isinstance(entry, dict):
            raise InvalidBody(f"{at}: must be an object {{key, values}} (got {shown(entry)})")
        extra = [name for name in entry if name not in ("key", "values")]
        if extra:
            raise InvalidBody(f"{at}.{extra[0]}: is not a field of a filter; allowed fields are: key, values")
        key, values = entry.get("key"), entry.get("values")
        if key not in FILTER_KEYS:
            raise InvalidBody(f'{at}.key: {shown(key)} is not allowed; allowed values are "status", "product_type"')
        allowed = STATUSES if key == "status" else PRODUCT_TYPES
        if not isinstance(values, list) or not values:
            raise InvalidBody(f"{at}.values: must be a non-empty array of strings (got {shown(values)})")
        for position, value in enumerate(values):
            if value not in allowed:
                hint = ' (the new generation spells it "succeeded")' if value == "succeed" else ""
                options = ", ".join(f'"{option}"' for option in allowed)
                raise InvalidBody(
                    f"{at}.values[{position}]: {shown(value)} is not allowed{hint}; allowed values are {options}"
                )
        chosen.setdefault(str(key), set()).update(str(value) for value in values)
    statuses, products = chosen.get("status"), chosen.get("product_type")
    return (frozenset(statuses) if statuses else None), (frozenset(products) if products else None)
