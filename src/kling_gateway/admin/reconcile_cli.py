"""`kling-gateway reconcile`: compare each channel's deduction exports with the ledger and print every difference.

Exit 0 when everything reconciles, 1 when anything differs, 2 when a channel's exports could not be read."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

import httpx
import typer
from rich.console import RenderableType
from sqlalchemy.ext.asyncio import AsyncSession

from kling_gateway.admin import AsJson, DatabaseUrl, Report, complaints, iso_time, parse_since, run, table
from kling_gateway.clock import now_ms
from kling_gateway.reconcile.compare import Difference
from kling_gateway.reconcile.service import ChannelReconciliation, reconcile
from kling_gateway.settings import get_settings
from kling_gateway.upstream.client import KlingClient

DEFAULT_WINDOW = timedelta(days=30)  # as far back as `--since` goes unless told
DIFFERENCE_FIELDS = ("kind", "task", "upstream_task_id", "upstream", "gateway", "detail")
CLEAN, DIFFERENT, UNREADABLE = 0, 1, 2


def reconcile_command(
    channel: Annotated[
        str | None, typer.Option(help="Only this channel (default: every one).", show_default=False)
    ] = None,
    since: Annotated[
        datetime | None,
        typer.Option(
            parser=parse_since, metavar="DATE", help="Start of the window (default: 30 days ago).", show_default=False
        ),
    ] = None,
    as_json: AsJson = False,
    database_url: DatabaseUrl = None,
) -> None:
    """Compare each channel's deduction exports (units and cash) with what the gateway charged, up to now."""
    end = now_ms()
    start = round(since.timestamp() * 1000) if since is not None else end - round(DEFAULT_WINDOW.total_seconds() * 1000)
    outcome: list[ChannelReconciliation] = []

    async def work(session: AsyncSession) -> Report:
        async with httpx.AsyncClient(timeout=get_settings().sync.upstream_timeout_s) as http:
            outcome[:] = await reconcile(session, KlingClient(http), channel=channel, start_ms=start, end_ms=end)
        return _report(outcome, start, end)

    run(work, as_json=as_json, database_url=database_url)
    for unread in (one for one in outcome if one.unreadable is not None):
        complaints.print(
            f"channel {unread.channel} could not be read: {unread.unreadable}", style="red", soft_wrap=True
        )
    if any(one.unreadable is not None for one in outcome):
        raise typer.Exit(UNREADABLE)
    raise typer.Exit(DIFFERENT if any(one.differences for one in outcome) else CLEAN)


def _report(outcome: list[ChannelReconciliation], start: int, end: int) -> Report:
    channels = [_channel_data(one) for one in outcome]
    clean = all(not one.differences and one.unreadable is None for one in outcome)
    data = {"since": start, "until": end, "clean": clean, "channels": channels}
    text: list[RenderableType] = [f"Deductions from {iso_time(start)} to {iso_time(end)}."]
    for one, shown in zip(outcome, channels, strict=True):
        if one.unreadable is not None:
            text.append(f"{one.channel}: could not be read ({one.unreadable}).")
        elif not one.differences:
            text.append(f"{one.channel}: clean ({one.rows} deductions, {one.tasks} tasks).")
        else:
            title = f"{one.channel}: {len(one.differences)} differences ({one.rows} deductions, {one.tasks} tasks)"
            text.append(table(title, shown["differences"], DIFFERENCE_FIELDS))
    return Report(data, text)


def _channel_data(one: ChannelReconciliation) -> dict[str, Any]:
    return {
        "channel": one.channel,
        "rows": one.rows,
        "tasks": one.tasks,
        "unreadable": one.unreadable,
        "differences": [_difference_data(difference) for difference in one.differences],
    }


def _difference_data(difference: Difference) -> dict[str, Any]:
    return {
        "kind": difference.kind.value,
        "task": difference.platform_id,
        "upstream_task_id": difference.upstream_task_id,
        "upstream": difference.upstream,
        "gateway": difference.gateway,
        "detail": difference.detail,
    }
