"""What the console's pages share: a unit of work that notes each change in the audit log, and reading the
numbers, amounts and dates its forms send."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import FormData
from starlette.requests import Request

from kling_gateway.billing.money import yuan_to_micros
from kling_gateway.errors import InvalidRequest
from kling_gateway.operators import audit
from kling_gateway.web.areas import Visit, field

DAY_MS = 86_400_000


@asynccontextmanager
async def unit_of_work(visit: Visit) -> AsyncIterator[AsyncSession]:
    """Open a transaction for a change; it commits when the block ends, or rolls back with its audit line."""
    async with visit.area.parts.db.session() as session, session.begin():
        yield session


@asynccontextmanager
async def reading(visit: Visit) -> AsyncIterator[AsyncSession]:
    """Open a session for reads only."""
    async with visit.area.parts.db.session() as session:
        yield session


async def note(session: AsyncSession, visit: Visit, action: str, target: str, **detail: Any) -> None:
    """Write a change to the audit log, in its own transaction, as the signed-in operator's."""
    assert visit.holder is not None
    await audit.record(
        session,
        actor=visit.holder.name,
        action=action,
        target=target,
        at=visit.area.parts.clock.now_ms(),
        detail=detail,
    )


def yuan_field(form: FormData, name: str, *, what: str) -> int | None:
    """Read an amount of yuan from a form field as µ¥; None when left empty."""
    text = field(form, name).strip()
    if not text:
        return None
    try:
        return yuan_to_micros(text)
    except ValueError as error:
        raise InvalidRequest(f"{what}: {error}") from None


def int_field(form: FormData, name: str, *, what: str, default: int | None = None) -> int | None:
    """Read a whole number from a form field; `default` when left empty."""
    text = field(form, name).strip()
    if not text:
        return default
    try:
        return int(text)
    except ValueError:
        raise InvalidRequest(f"{what}: {text!r} is not a whole number; write digits, like 5") from None


def date_param(request: Request, name: str, *, what: str) -> int | None:
    """Read a YYYY-MM-DD query parameter as the Unix milliseconds of that UTC midnight; None when absent."""
    text = request.query_params.get(name, "").strip()
    if not text:
        return None
    try:
        day = datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        raise InvalidRequest(f"{what}: {text!r} is not a date; write it like 2026-09-01") from None
    return round(day.timestamp() * 1000)


def id_of(request: Request, name: str) -> int:
    """A whole-number path parameter."""
    value: int = request.path_params[name]
    return value
