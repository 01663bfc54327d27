"""The stored health of each channel: read them all, fold a process's calls into one under its lock, clear an
account's refusal, forget a removed channel's."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson
from sqlalchemy import delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from kling_gateway.settings import ChannelHealthConfig
from kling_gateway.store.database import Executor
from kling_gateway.store.models import CHANNEL_HEALTH
from kling_gateway.upstream.calls import CallKind
from kling_gateway.upstream.health import HealthRecord, Observed, fold

_h = CHANNEL_HEALTH.c
_COLUMNS = (
    _h.channel_id,
    _h.samples_json,
    _h.faults_in_row,
    _h.open_until,
    _h.cooldown_ms,
    _h.account_fault,
    _h.last_success_at,
    _h.last_error_at,
    _h.last_error,
)


async def read_all(reader: Executor) -> dict[int, HealthRecord]:
    """Read every channel's record, by channel id."""
    rows = (await reader.execute(select(*_COLUMNS))).all()
    return {int(row[0]): _record(row) for row in rows}


async def fold_in(
    session: AsyncSession, *, channel_id: int, calls: Iterable[Observed], config: ChannelHealthConfig, now_ms: int
) -> HealthRecord:
    """Fold calls into a channel's record under its row's lock (created on first use); return it as stored."""
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    await session.execute(
        insert(CHANNEL_HEALTH)
        .values(channel_id=channel_id, **_values(HealthRecord()), updated_at=now_ms)
        .on_conflict_do_nothing(index_elements=[_h.channel_id])
    )
    row = (await session.execute(select(*_COLUMNS).where(_h.channel_id == channel_id).with_for_update())).one()
    record = fold(_record(row), calls, config)
    await session.execute(
        update(CHANNEL_HEALTH).where(_h.channel_id == channel_id).values(**_values(record), updated_at=now_ms)
    )
    return record


async def clear_account_fault(session: AsyncSession, *, channel_id: int) -> None:
    """Forget an account's refusal and close the breaker it opened: the operator changed what was refused."""
    await session.execute(
        update(CHANNEL_HEALTH)
        .where(_h.channel_id == channel_id, _h.account_fault.is_not(None))
        .values(account_fault=None, open_until=None, cooldown_ms=0, faults_in_row=0)
    )


async def forget(session: AsyncSession, *, channel_id: int) -> None:
    """Remove a channel's record, as the channel goes."""
    await session.execute(delete(CHANNEL_HEALTH).where(_h.channel_id == channel_id))


def _record(row: Any) -> HealthRecord:
    samples = tuple(Observed(int(at), CallKind(kind), int(ms)) for at, kind, ms in orjson.loads(row.samples_json))
    return HealthRecord(
        samples=samples,
        faults_in_row=int(row.faults_in_row),
        open_until=row.open_until,
        cooldown_ms=int(row.cooldown_ms),
        account_fault=row.account_fault,
        last_success_at=row.last_success_at,
        last_error_at=row.last_error_at,
        last_error=row.last_error,
    )


def _values(record: HealthRecord) -> dict[str, Any]:
    return {
        "samples_json": orjson.dumps([[s.at_ms, s.kind.value, s.ms] for s in record.samples]).decode(),
        "faults_in_row": record.faults_in_row,
        "open_until": record.open_until,
        "cooldown_ms": record.cooldown_ms,
        "account_fault": record.account_fault,
        "last_success_at": record.last_success_at,
        "last_error_at": record.last_error_at,
        "last_error": record.last_error,
    }
