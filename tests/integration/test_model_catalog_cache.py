"""A submit consults the catalog through a process-local cache: the operator's change applies once the cache's
time is up, not before, and the cache reads the table once per period however many submits ask."""

from __future__ import annotations

import pytest

from kling_gateway.catalog import service as catalog
from kling_gateway.catalog.service import Catalog
from kling_gateway.clock import ManualClock
from kling_gateway.errors import InvalidRequest
from kling_gateway.kling.schemas import ACTIONS, Family
from kling_gateway.settings import Settings
from kling_gateway.store.database import Database

T2V = ACTIONS[Family.VIDEOS, "text2video"]
BODY = {"prompt": "a fox", "model_name": "kling-v2-6"}


async def test_a_disabled_model_is_refused_once_the_cache_is_due(database_url: str) -> None:
    settings = Settings(database_url=database_url, model_cache_ttl_s=5)
    clock = ManualClock()
    db = Database(database_url)
    try:
        cached = Catalog(db, settings, clock=clock)
        assert (await cached.admit(T2V, BODY)).validated == BODY
        async with db.session() as session, session.begin():
            await catalog.set_enabled(session, settings, "kling-v2-6", enabled=False, note=None, now_ms=clock.now_ms())
        clock.advance(s=4.9)
        assert (await cached.admit(T2V, BODY)).validated == BODY  # still the rows read before
        clock.advance(s=0.1)
        with pytest.raises(InvalidRequest, match="disabled on this gateway") as refused:
            await cached.admit(T2V, BODY)
        assert refused.value.param == "model_name"
    finally:
        await db.dispose()


async def test_an_added_model_is_validated_as_the_one_it_is_like(database_url: str) -> None:
    settings = Settings(database_url=database_url, model_cache_ttl_s=0)
    db = Database(database_url)
    try:
        async with db.session() as session, session.begin():
            await catalog.add_model(session, settings, "kling-v2-7", like="kling-v2-6", note="", now_ms=1)
        cached = Catalog(db, settings, clock=ManualClock())
        admitted = await cached.admit(T2V, BODY | {"model_name": "kling-v2-7"})
        assert admitted.validated == BODY
        effects = {"effect_scene": "hug", "input": {"images": ["a", "b"], "duration": "5", "model_name": "kling-v2-7"}}
        with pytest.raises(InvalidRequest, match="served like 'kling-v2-6'") as refused:
            await cached.admit(ACTIONS[Family.VIDEOS, "effects"], effects)
        assert refused.value.param == "input.model_name"
    finally:
        await db.dispose()
