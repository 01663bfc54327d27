"""The Kling routes: create, query one, list — on /kling/v1/… and on the official /v1/… paths."""

from __future__ import annotations

from typing import Any

import orjson
from cachetools import LRUCache
from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import Response

from kling_gateway.api import wire
from kling_gateway.api.runtime import Runtime
from kling_gateway.errors import InvalidRequest, MethodNotAllowed, NotFound
from kling_gateway.keys.service import Principal
from kling_gateway.kling import paths
from kling_gateway.kling.schemas import ACTIONS, ActionSpec, Family
from kling_gateway.sync.callbacks import CALLBACK_PREFIX
from kling_gateway.sync.receiver import take_callback
from kling_gateway.tasks.render import is_final, kling_task

PREFIXES = ("/kling/v1", "/v1")
FINISHED_CACHE_SIZE = 100_000  # rendered finished tasks kept per process (a few hundred bytes each)


class KlingRoutes:
    """Serve the official task endpoints for the caller's own tasks."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        # A finished task never changes: its rendering is kept, keyed by who asked and by which id.
        self._finished: LRUCache[tuple[int, str, str, str], orjson.Fragment] = LRUCache(FINISHED_CACHE_SIZE)

    def mount(self, app: FastAPI) -> None:
        """Add the routes to an app."""
        for prefix in PREFIXES:
            path = prefix + "/{family}/{rest:path}"
            app.add_api_route(path, self.create, methods=["POST"], summary="Create a task", tags=["tasks"])
            app.add_api_route(path, self.query, methods=["GET"], summary="Query a task or list tasks", tags=["tasks"])
        app.add_api_route(
            CALLBACK_PREFIX + "/{platform_id}/{token}",
            self.upstream_callback,
            methods=["POST"],
            include_in_schema=False,
        )
        app.add_api_route("/healthz", self.health, methods=["GET"], include_in_schema=False)

    async def _owner(self, request: Request) -> Principal:
        return await self.runtime.keys.authenticate(request.headers.get("authorization"))

    async def create(self, request: Request) -> Response:
        """Create a task of the action in the path."""
        owner = await self._owner(request)
        family, rest = _family_and_rest(request)
        spec = ACTIONS.get((family, rest))
        if spec is None:
            _split(family, rest)  # a task path that exists takes GET: say so rather than "no such endpoint"
            raise MethodNotAllowed(f"POST is not allowed on {request.url.path}; use GET to query")
        row = await self.runtime.tasks.submit(owner, spec, await _json_body(request))
        return wire.ok(kling_task(row))

    async def query(self, request: Request) -> Response:
        """Answer one task by any of its ids, or a page of the action's tasks; from the store, never upstream."""
        owner = await self._owner(request)
        family, rest = _family_and_rest(request)
        spec, reference = _split(family, rest)
        if reference is None:
            page_num, page_size = _page(request)
            rows = await self.runtime.tasks.page(owner, family, spec.action, page_num=page_num, page_size=page_size)
            return wire.ok([kling_task(row) for row in rows])
        key = (owner.user_id, family.value, spec.action, reference)
        cached = self._finished.get(key)
        if cached is not None:
            return wire.ok(cached)
        row = await self.runtime.tasks.find(owner, family, spec.action, reference)
        data = kling_task(row)
        if is_final(row):
            self._finished[key] = orjson.Fragment(orjson.dumps(data))
        return wire.ok(data)

    async def upstream_callback(self, request: Request) -> Response:
        """Take the upstream's report on a task it runs for us."""
        moved = await take_callback(
            self.runtime.db,
            request.path_params["platform_id"],
            request.path_params["token"],
            await _json_body(request),
            poll_interval_s=self.runtime.settings.sync.poll_interval_s,
        )
        return wire.ok({"applied": moved})

    async def health(self, _request: Request) -> Response:
        """Say the process is up."""
        return wire.ok({"status": "ok"})


def _family_and_rest(request: Request) -> tuple[Family, str]:
    try:
        family = paths.family_of(request.path_params["family"])
    except paths.BadPath as bad:
        raise NotFound(str(bad)) from None
    return family, paths.tidy_rest(request.path_params["rest"])


def _split(family: Family, rest: str) -> tuple[ActionSpec, str | None]:
    try:
        return paths.split_task_path(family, rest)
    except paths.BadPath as bad:
        raise NotFound(str(bad)) from None


def _page(request: Request) -> tuple[int, int]:
    try:
        return paths.page_params(request.query_params)
    except paths.BadPath as bad:
        raise InvalidRequest(str(bad)) from None


async def _json_body(request: Request) -> Any:
    try:
        return orjson.loads(await request.body())
    except orjson.JSONDecodeError as error:
        raise InvalidRequest(f"request body is not valid JSON ({error})") from None
