"""Reconcile each channel: read its deduction exports for a window, load the tasks they name and those charged
in the window from the store, and compare (`reconcile.compare`)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from kling_gateway.channels.selection import ChannelChoice, all_channels
from kling_gateway.errors import InvalidRequest
from kling_gateway.kling.schemas import legacy_package
from kling_gateway.reconcile.compare import ChargedTask, Difference, billing_of, compare, rates_of
from kling_gateway.reconcile.exports import ExportUnreadable, read_exports
from kling_gateway.store.models import LEDGER, TASKS
from kling_gateway.upstream.client import KlingClient
from kling_gateway.upstream.errors import UpstreamError

IDS_PER_QUERY = 500  # upstream ids in one IN (...) list
_t = TASKS.c


@dataclass
class ChannelReconciliation:
    """One channel's outcome: the differences found, or why its exports could not be read."""

    channel: str
    rows: int = 0  # export rows read
    tasks: int = 0  # tasks compared
    differences: list[Difference] = field(default_factory=list)
    unreadable: str | None = None


async def reconcile(
    session: AsyncSession, client: KlingClient, *, channel: str | None, start_ms: int, end_ms: int
) -> list[ChannelReconciliation]:
    """Reconcile every channel (or the one named) over the window [start_ms, end_ms)."""
    channels = await all_channels(session)
    if channel is not None:
        chosen = [choice for choice in channels if choice.name == channel]
        if not chosen:
            names = ", ".join(choice.name for choice in channels) or "none yet"
            raise InvalidRequest(f"--channel: no channel is named {channel!r}; the channels are {names}")
        channels = chosen
    return [await _one(session, client, choice, start_ms, end_ms) for choice in channels]


async def _one(
    session: AsyncSession, client: KlingClient, channel: ChannelChoice, start_ms: int, end_ms: int
) -> ChannelReconciliation:
    outcome = ChannelReconciliation(channel.name)
    try:
        rows = await read_exports(client, channel.credentials, start_ms=start_ms, end_ms=end_ms)
    except (UpstreamError, ExportUnreadable) as error:
        outcome.unreadable = str(error) or type(error).__name__
        return outcome
    charged = await _charged_in_window(session, channel.id, start_ms, end_ms)
    named = await _tasks_named(session, channel.id, {row.task_id for row in rows} - charged.keys())
    tasks = {**named, **charged}
    outcome.rows, outcome.tasks = len(rows), len(tasks)
    outcome.differences = compare(rows, tasks.values(), charged_in_window=set(charged))
    return outcome


async def _charged_in_window(
    session: AsyncSession, channel_id: int, start_ms: int, end_ms: int
) -> dict[str, ChargedTask]:
    """The channel's tasks that finished in the window with a charge: each must have an upstream deduction."""
    query = _task_query(channel_id).where(
        _t.status == "succeed", _t.updated_at >= start_ms, _t.updated_at < end_ms, _t.upstream_task_id.is_not(None)
    )
    return await _charged(session, query)


async def _tasks_named(session: AsyncSession, channel_id: int, upstream_ids: Iterable[str]) -> dict[str, ChargedTask]:
    """The channel's tasks with these upstream ids, whenever they finished."""
    wanted = sorted(upstream_ids)
    found: dict[str, ChargedTask] = {}
    for start in range(0, len(wanted), IDS_PER_QUERY):
        chunk = wanted[start : start + IDS_PER_QUERY]
        found |= await _charged(session, _task_query(channel_id).where(_t.upstream_task_id.in_(chunk)))
    return found


def _task_query(channel_id: int) -> Select[Any]:
    charge = (
        select(LEDGER.c.amount_micros)
        .where(LEDGER.c.task_platform_id == _t.platform_id, LEDGER.c.kind == "charge")
        .scalar_subquery()
    )
    return select(
        _t.platform_id,
        _t.upstream_task_id,
        _t.status,
        _t.family,
        _t.action,
        _t.generation,
        _t.billing_json,
        _t.final_unit_deduction,
        _t.rates_json,
        _t.rate_micros,
        _t.unbilled_reason,
        charge.label("charged"),
    ).where(_t.channel_id == channel_id)


async def _charged(session: AsyncSession, query: Select[Any]) -> dict[str, ChargedTask]:
    rows = (await session.execute(query)).all()
    return {
        row.upstream_task_id: ChargedTask(
            platform_id=row.platform_id,
            upstream_task_id=row.upstream_task_id,
            status=row.status,
            billing=billing_of(
                row.billing_json, row.final_unit_deduction, legacy_package(row.family, row.action).value
            ),
            rates=rates_of(row.rates_json, row.rate_micros, generation=row.generation),
            rate_micros=row.rate_micros,
            charge_micros=-int(row.charged or 0),  # the ledger writes a charge as money out
            unbilled_reason=row.unbilled_reason,
        )
        for row in rows
    }
