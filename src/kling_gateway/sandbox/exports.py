"""The deduction exports (2026 reference §5.2-5.3): `POST /account/billing/package` lists unit deductions and
`POST /account/billing/balance` cash ones, one row per deducted task or synchronous call, cursor-paged.

A synchronous call whose answer carries no `task_id` (image and face recognition) is listed under the `request_id`
of the envelope that answered it: that is the id the gateway reconciles such a call by.
"""

from __future__ import annotations

import base64
import binascii
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

import orjson

from kling_gateway.kling.codes import KlingCode
from kling_gateway.sandbox.deductions import Deduction
from kling_gateway.sandbox.errors import SandboxError

Ledger = Literal["package", "balance"]
MAX_LIMIT = 500
FILTER_KEYS: Mapping[Ledger, tuple[str, ...]] = {
    "package": ("api_key_name", "product_type", "package_name", "package_id"),
    "balance": ("api_key_name",),
}
_VIDEO_ONLY = ("duration", "refer_video_input", "video_sound", "voice_control")


@dataclass(frozen=True, slots=True)
class ExportQuery:
    """One page's question: the window, the filters (values OR within a key, AND across keys) and where to go on."""

    start_ms: int
    end_ms: int
    limit: int
    filters: tuple[tuple[str, tuple[str, ...]], ...]
    after: tuple[int, str] | None = None  # (deduction time, task id) of the last row already listed


def _refuse(message: str) -> SandboxError:
    return SandboxError(KlingCode.ILLEGAL_VALUE, message)


def read_query(ledger: Ledger, body: object) -> ExportQuery:
    """Read an export request; a `cursor` stands for the whole query it continues and overrides every field."""
    if not isinstance(body, dict):
        raise _refuse("request body must be a JSON object")
    cursor = body.get("cursor")
    if cursor not in (None, ""):
        return _decode_cursor(cursor)
    start, end = _millis(body, "start_time"), _millis(body, "end_time")
    if start >= end:
        raise _refuse("start_time: must be before end_time")
    limit = body.get("limit", MAX_LIMIT)
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_LIMIT:
        raise _refuse(f"limit: must be a whole number from 1 to {MAX_LIMIT} (got {limit!r})")
    return ExportQuery(start, end, limit, _filters(ledger, body.get("filters")))


def _millis(body: dict[str, Any], name: str) -> int:
    value = body.get(name)
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return int(value)  # both numbers and digit strings are sent (Appendix A #2)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    raise _refuse(f"{name}: is required without a cursor, as a Unix time in milliseconds (got {value!r})")


def _filters(ledger: Ledger, raw: object) -> tuple[tuple[str, tuple[str, ...]], ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise _refuse("filters: must be an array of {key, values} objects")
    allowed, merged = FILTER_KEYS[ledger], defaultdict[str, list[str]](list)
    for index, item in enumerate(raw):
        key, values = (item.get("key"), item.get("values")) if isinstance(item, dict) else (None, None)
        if key not in allowed:
            raise _refuse(f"filters[{index}].key: {key!r} is not allowed; allowed keys are {', '.join(allowed)}")
        if not isinstance(values, list) or not values or not all(isinstance(v, str) for v in values):
            raise _refuse(f"filters[{index}].values: must be a non-empty array of strings")
        merged[str(key)].extend(values)
    if "package_name" in merged and "package_id" in merged:
        raise _refuse("filters: package_name and package_id cannot be used together; filter by one of them")
    return tuple((key, tuple(values)) for key, values in merged.items())


def _encode_cursor(query: ExportQuery, after: tuple[int, str]) -> str:
    state = {"s": query.start_ms, "e": query.end_ms, "l": query.limit, "f": query.filters, "a": list(after)}
    return base64.urlsafe_b64encode(orjson.dumps(state)).decode()


def _decode_cursor(cursor: object) -> ExportQuery:
    try:
        state = orjson.loads(base64.urlsafe_b64decode(str(cursor).encode()))
        filters = tuple((str(key), tuple(str(v) for v in values)) for key, values in state["f"])
        moment, task_id = state["a"]
        return ExportQuery(int(state["s"]), int(state["e"]), int(state["l"]), filters, (int(moment), str(task_id)))
    except (binascii.Error, orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        raise _refuse("cursor: is not a next_cursor this endpoint gave; start again without one") from None


def package_id(account: str, package: str) -> str:
    """Name a resource pack of an account, as `/account/costs` does."""
    return f"{account}-{package}"


def package_name(package: str) -> str:
    """Name a resource pack's type, as `/account/costs` does."""
    return f"{package} resource pack"


def export_page(
    ledger: Ledger, query: ExportQuery, deductions: Iterable[Deduction], *, opening: Decimal, now_ms: int
) -> dict[str, Any]:
    """Render one page of an account's deductions, oldest first, with the balance before and after each."""
    wanted = "unit" if ledger == "package" else "cash"
    rows, remaining = [], defaultdict[str, Decimal](lambda: opening)
    for deduction in sorted(deductions, key=lambda d: (d.deduction_ms, d.task_id)):
        if deduction.charge_type != wanted or deduction.deduction_ms > now_ms:
            continue  # a task's units are deducted when it ends, not before
        pot = deduction.package.value if ledger == "package" else str(deduction.currency)
        before = remaining[pot]
        remaining[pot] = before - deduction.amount
        key = (deduction.deduction_ms, deduction.task_id)
        in_window = query.start_ms <= deduction.deduction_ms < query.end_ms
        if in_window and (query.after is None or key > query.after) and _matches(deduction, query.filters):
            rows.append((key, _row(ledger, deduction, before, remaining[pot])))
    page, has_more = rows[: query.limit], len(rows) > query.limit
    cursor = _encode_cursor(query, page[-1][0]) if has_more else ""
    detail = [row for _key, row in page]
    return {"result": {"detail": detail, "count": len(detail)}, "next_cursor": cursor, "has_more": has_more}


def _matches(deduction: Deduction, filters: Iterable[tuple[str, tuple[str, ...]]]) -> bool:
    facts = {
        "api_key_name": deduction.api_key_name,
        "product_type": deduction.product_type,
        "package_name": package_name(deduction.package.value),
        "package_id": package_id(deduction.account, deduction.package.value),
    }
    return all(facts[key] in values for key, values in filters)


def _row(ledger: Ledger, deduction: Deduction, before: Decimal, after: Decimal) -> dict[str, Any]:
    row: dict[str, Any] = {
        "task_id": deduction.task_id,
        "api_key_name": deduction.api_key_name,
        "product_function": deduction.product_function,
        "model_name": deduction.model_name,
        "resolution": deduction.resolution,
        "duration": deduction.duration,
        "refer_video_input": deduction.refer_video_input,
        "video_sound": deduction.video_sound,
        "voice_control": deduction.voice_control,
        "deduction_time": str(deduction.deduction_ms),
    }
    if deduction.duration is None:  # not a video task: the video facts are left out
        for name in _VIDEO_ONLY:
            del row[name]
    if ledger == "package":
        return {
            "package_id": package_id(deduction.account, deduction.package.value),
            "product_type": deduction.product_type,
            **row,
            "unit_before_deduction": float(before),
            "deduction_amount": float(deduction.amount),
            "unit_after_deduction": float(after),
        }
    return row | {
        "cash_type": "balance",
        "balance_before_deduction": float(before),
        "deduction_amount": float(deduction.amount),
        "balance_after_deduction": float(after),
        "list_price": float(deduction.list_price or 0),
        "currency": deduction.currency,
    }
