"""A worker's heartbeat: the moment its latest round finished, in a row of its own, so that any process can tell
whether tasks are moving (`/readyz`, `kling-gateway status`) whichever process runs the worker."""

from __future__ import annotations

import os
import secrets
import socket
from typing import NamedTuple

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from kling_gateway.store.database import Database, Executor
from kling_gateway.store.models import WORKER_HEARTBEATS

_hb = WORKER_HEARTBEATS.c
FORGET_AFTER_MS = 7 * 86_400_000  # rows of workers silent this long are removed when a worker starts


class Beat(NamedTuple):
    """The latest sign of life of one worker."""

    worker: str
    started_at: int
    beat_at: int
    rounds: int


def worker_name() -> str:
    """Name this worker process: its host and process id, and a random part against a reused id."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


async def beat(session: AsyncSession, *, worker: str, started_at: int, now_ms: int, rounds: int) -> None:
    """Write a worker's latest round."""
    values = {"worker": worker, "started_at": started_at, "beat_at": now_ms, "rounds": rounds}
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    statement = insert(WORKER_HEARTBEATS).values(**values)
    await session.execute(
        statement.on_conflict_do_update(index_elements=[_hb.worker], set_={"beat_at": now_ms, "rounds": rounds})
    )


async def forget_silent(session: AsyncSession, *, now_ms: int) -> None:
    """Remove the rows of workers silent for a week: they stopped long ago."""
    await session.execute(delete(WORKER_HEARTBEATS).where(_hb.beat_at < now_ms - FORGET_AFTER_MS))


async def latest(reader: Executor, *, limit: int = 10) -> list[Beat]:
    """List the workers' latest beats, the most recent first."""
    query = select(_hb.worker, _hb.started_at, _hb.beat_at, _hb.rounds).order_by(_hb.beat_at.desc()).limit(limit)
    return [Beat(*row) for row in (await reader.execute(query)).all()]


class Heartbeat:
    """Write one worker's heartbeat after its rounds, at most every `every_ms`."""

    def __init__(self, db: Database, *, every_ms: int, started_at: int) -> None:
        self.db = db
        self.every_ms = every_ms
        self.worker = worker_name()
        self.started_at = started_at
        self._last_ms: int | None = None

    async def round_done(self, *, now_ms: int, rounds: int) -> None:
        """Note a finished round; write it when the last write is old enough."""
        if self._last_ms is not None and now_ms - self._last_ms < self.every_ms:
            return
        async with self.db.session() as session, session.begin():
            if self._last_ms is None:
                await forget_silent(session, now_ms=now_ms)
            await beat(session, worker=self.worker, started_at=self.started_at, now_ms=now_ms, rounds=rounds)
        self._last_ms = now_ms
