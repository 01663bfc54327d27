"""Read and write the operator's word on models (the `models` table)."""

from __future__ import annotations

from typing import NamedTuple

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from kling_gateway.store.database import Executor
from kling_gateway.store.models import MODELS

_m = MODELS.c


class ModelRow(NamedTuple):
    """One model the operator disabled or added."""

    name: str
    like: str | None
    disabled: bool
    note: str
    created_at: int
    updated_at: int


_COLUMNS = (_m.name, _m.like, _m.disabled, _m.note, _m.created_at, _m.updated_at)


async def all_rows(connection: Executor) -> dict[str, ModelRow]:
    """Read every row, by model name."""
    rows = (await connection.execute(select(*_COLUMNS).order_by(_m.name))).all()
    return {row.name: ModelRow(*row) for row in rows}


async def find(session: AsyncSession, name: str) -> ModelRow | None:
    """Read one model's row, if the operator ever spoke of it."""
    row = (await session.execute(select(*_COLUMNS).where(_m.name == name))).one_or_none()
    return None if row is None else ModelRow(*row)


async def set_disabled(session: AsyncSession, name: str, *, disabled: bool, note: str | None, now_ms: int) -> None:
    """Disable or enable a model, writing its row if it has none (a release model spoken of the first time)."""
    changes: dict[str, object] = {"disabled": disabled, "updated_at": now_ms}
    if note is not None:
        changes["note"] = note
    if await find(session, name) is None:
        await session.execute(
            insert(MODELS).values(
                name=name, like=None, disabled=disabled, note=note or "", created_at=now_ms, updated_at=now_ms
            )
        )
    else:
        await session.execute(update(MODELS).where(_m.name == name).values(**changes))


async def add(session: AsyncSession, name: str, *, like: str, note: str, now_ms: int) -> None:
    """Write a model the operator added, validated and priced like `like`."""
    await session.execute(
        insert(MODELS).values(name=name, like=like, disabled=False, note=note, created_at=now_ms, updated_at=now_ms)
    )
