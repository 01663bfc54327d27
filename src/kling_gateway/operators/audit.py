"""The audit log: each change an operator makes, written in the transaction of the change, read newest first."""

from __future__ import annotations

from typing import Any, NamedTuple

import orjson
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from kling_gateway.store.models import AUDIT_LOG

COMMAND_LINE = "cli"  # the actor of a change made with `kling-gateway …` on the server
TARGET_MAX_CHARS = 255


class AuditLine(NamedTuple):
    """One change: who made it, what it was, what it was done to, its details and when."""

    id: int
    actor: str
    action: str
    target: str
    detail: dict[str, Any]
    at: int


async def record(
    session: AsyncSession, *, actor: str, action: str, target: str, at: int, detail: dict[str, Any] | None = None
) -> None:
    """Note a change in the caller's transaction, so that it is kept exactly when the change is; `detail` must
    hold no secret."""
    values = {
        "actor": actor,
        "action": action,
        "target": target[:TARGET_MAX_CHARS],
        "detail_json": orjson.dumps(detail or {}).decode(),
        "at": at,
    }
    await session.execute(insert(AUDIT_LOG).values(**values))


async def newest(session: AsyncSession, *, before_id: int | None = None, limit: int) -> tuple[list[AuditLine], bool]:
    """List changes newest first, from just past `before_id`; say whether more follow."""
    c = AUDIT_LOG.c
    query = select(c.id, c.actor, c.action, c.target, c.detail_json, c.at).order_by(c.id.desc()).limit(limit + 1)
    if before_id is not None:
        query = query.where(c.id < before_id)
    rows = (await session.execute(query)).all()
    lines = [
        AuditLine(row.id, row.actor, row.action, row.target, orjson.loads(row.detail_json), row.at) for row in rows
    ]
    return lines[:limit], len(lines) > limit
