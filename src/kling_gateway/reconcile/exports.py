"""Read a channel's deduction exports (2026 reference §5.2-5.3), every page of a window, as export rows."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from kling_gateway.reconcile.compare import ExportRow, Ledger
from kling_gateway.upstream.client import ChannelCredentials, KlingClient

EXPORT_PATHS: Mapping[Ledger, str] = {"package": "/account/billing/package", "balance": "/account/billing/balance"}
PAGE_LIMIT = 500  # rows per page, the most the exports give
MAX_PAGES = 10_000  # a guard against a cursor that never ends: 5 million rows


class ExportUnreadable(Exception):
    """An export answered with something that is not a page of deductions."""


async def read_exports(
    client: KlingClient, channel: ChannelCredentials, *, start_ms: int, end_ms: int
) -> list[ExportRow]:
    """Read both exports of a channel for the window, following the cursor until `has_more` is false."""
    rows: list[ExportRow] = []
    for ledger, path in EXPORT_PATHS.items():
        body: dict[str, object] = {"start_time": start_ms, "end_time": end_ms, "limit": PAGE_LIMIT}
        for _ in range(MAX_PAGES):
            data = await client.call(channel, path, body)
            rows.extend(_rows(ledger, data))
            cursor = data.get("next_cursor")
            if data.get("has_more") is not True:
                break
            if not isinstance(cursor, str) or not cursor:
                raise ExportUnreadable(f"{path} said has_more but gave no next_cursor")
            body = {"cursor": cursor}  # a cursor stands for the whole query it continues
        else:
            raise ExportUnreadable(f"{path} had more pages after {MAX_PAGES}; narrow the window with --since")
    return rows


def _rows(ledger: Ledger, data: Mapping[str, Any]) -> list[ExportRow]:
    result = data.get("result")
    detail = result.get("detail") if isinstance(result, dict) else None
    if not isinstance(detail, list):
        raise ExportUnreadable(f"{EXPORT_PATHS[ledger]} answered without result.detail[]")
    return [_row(ledger, index, item) for index, item in enumerate(detail)]


def _row(ledger: Ledger, index: int, item: object) -> ExportRow:
    where = f"{EXPORT_PATHS[ledger]} result.detail[{index}]"
    if not isinstance(item, dict):
        raise ExportUnreadable(f"{where} is not an object")
    task_id, amount = item.get("task_id"), item.get("deduction_amount")
    if not isinstance(task_id, str) or not task_id:
        raise ExportUnreadable(f"{where} has no task_id")
    try:
        deducted = Decimal(str(amount)) if isinstance(amount, int | float | str) and amount is not True else None
    except InvalidOperation:
        deducted = None
    if deducted is None or not deducted.is_finite() or isinstance(amount, bool):
        raise ExportUnreadable(f"{where} has a deduction_amount of {amount!r}, not a number")
    moment = item.get("deduction_time")
    return ExportRow(
        ledger=ledger,
        task_id=task_id,
        amount=deducted,
        product_type=_text(item.get("product_type")),
        currency=_text(item.get("currency")),
        deduction_ms=int(moment) if isinstance(moment, str) and moment.isdigit() else 0,
    )


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None
