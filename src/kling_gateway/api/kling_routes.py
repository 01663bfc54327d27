"""The Kling routes: create, query one, list — on /kling/v1/… and on the official /v1/… paths, in every dialect."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from enum import Enum
from typing import Any

import orjson
from cachetools import LRUCache
from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import Response

from kling_gateway.api import documentation, responses
from kling_gateway.api.auth import caller
from kling_gateway.api.runtime import Runtime
from kling_gateway.clock import now_ms
from kling_gateway.dialects import Dialect, kling
from kling_gateway.dialects.shapes import SHAPES
from kling_gateway.errors import InvalidRequest, MethodNotAllowed, NoSuchEndpoint
from kling_gateway.keys.service import Principal
from kling_gateway.kling import paths
from kling_gateway.kling.schemas import ACTIONS, ActionSpec, Family
from kling_gateway.store.records import TaskStatus
from kling_gateway.sync.receiver import take_callback
from kling_gateway.upstream.callbacks import CALLBACK_PREFIX

PREFIXES = ("/kling/v1", "/v1")
FINISHED_CACHE_SIZE = 100_000  # rendered finished tasks kept per process (a few hundred bytes each)
Handler = Callable[[Request], Awaitable[Response]]


class KlingRoutes:
    """Serve the official task endpoints for the caller's own tasks."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        # A finished task never changes: its rendering is kept, keyed by who asked, by which id and in which shape.
        self._finished: LRUCache[tuple[int, str, str, str, Dialect], orjson.Fragment] = LRUCache(FINISHED_CACHE_SIZE)

    def mount(self, app: FastAPI) -> None:
        """Add one documented route per action, method and prefix."""
        for prefix in PREFIXES:
            for spec in ACTIONS.values():
                path = f"{prefix}/{spec.family}/{spec.action}"
                tags: list[str | Enum] = [f"{spec.family} (Kling)"]
                app.add_api_route(
                    path, self._bound_create(spec), methods=["POST"], tags=tags, **documentation.create(spec, prefix)
                )
                app.add_api_route(
                    path, self._bound_list(spec), methods=["GET"], tags=tags, **documentation.task_list(spec, prefix)
                )
                app.add_api_route(
                    path + "/{task_id}",
                    self._bound_one(spec),
                    methods=["GET"],
                    tags=tags,
                    **documentation.task_one(spec, prefix),
                )

    def mount_fallback(self, app: FastAPI) -> None:
        """Catch what the documented routes miss (`…//id`, a trailing slash, an unknown action) and say why."""
        for prefix in PREFIXES:
            path = prefix + "/{family}/{rest:path}"
            app.add_api_route(path, self._fallback, methods=["GET", "POST"], include_in_schema=False)
        app.add_api_route(
            CALLBACK_PREFIX + "/{platform_id}/{token}",
            self.upstream_callback,
            methods=["POST"],
            include_in_schema=False,
        )
        app.add_api_route("/healthz", self.health, methods=["GET"], include_in_schema=False)

    # -- the three operations ------------------------------------------------------------------------------------

    async def create(self, request: Request, spec: ActionSpec) -> Response:
        """Create a task of an action; answer with the new task."""
        owner, dialect = await self._caller(request)
        row = await self.runtime.tasks.submit(owner, spec, await json_body(request))
        shape = SHAPES[dialect]
        return responses.json(shape.whole(shape.one(row, now_ms())))

    async def list_tasks(self, request: Request, spec: ActionSpec) -> Response:
        """Answer a page of the caller's tasks of an action, newest first; from the store, never upstream."""
        owner, dialect = await self._caller(request)
        try:
            page_num, page_size = paths.page_params(request.query_params)
        except paths.BadPath as bad:
            raise InvalidRequest(str(bad), param=str(bad).partition(":")[0]) from None
        rows, has_more = await self.runtime.tasks.page(
            owner, spec.family, spec.action, page_num=page_num, page_size=page_size
        )
        return responses.json(SHAPES[dialect].page(rows, now_ms(), has_more))

    async def one(self, request: Request, spec: ActionSpec, reference: str) -> Response:
        """Answer one task by any of its ids; from the store, never upstream."""
        owner, dialect = await self._caller(request)
        shape = SHAPES[dialect]
        key = (owner.user_id, spec.family.value, spec.action, reference, dialect)
        kept = self._finished.get(key)
        if kept is None:
            row = await self.runtime.tasks.find(owner, spec.family, reference, action=spec.action)
            part = shape.one(row, now_ms())
            if TaskStatus(row.status).is_final:
                self._finished[key] = orjson.Fragment(orjson.dumps(part))
        else:
            part = kept
        return responses.json(shape.whole(part))

    async def _caller(self, request: Request) -> tuple[Principal, Dialect]:
        owner = await caller(self.runtime.keys, request)
        return owner, responses.choose_dialect(request, owner.dialect)

    # -- binding routes to actions -------------------------------------------------------------------------------

    def _bound_create(self, spec: ActionSpec) -> Handler:
        async def create(request: Request) -> Response:
            return await self.create(request, spec)

        return create

    def _bound_list(self, spec: ActionSpec) -> Handler:
        async def list_tasks(request: Request) -> Response:
            return await self.list_tasks(request, spec)

        return list_tasks

    def _bound_one(self, spec: ActionSpec) -> Handler:
        async def one(request: Request) -> Response:
            return await self.one(request, spec, request.path_params["task_id"])

        return one

    async def _fallback(self, request: Request) -> Response:
        try:
            family = paths.family_of(request.path_params["family"])
            rest = paths.tidy_rest(request.path_params["rest"])
            if request.method == "POST":
                spec = ACTIONS.get((family, rest))
                if spec is None:
                    paths.split_task_path(family, rest)  # a task path that exists takes GET: say so
                    raise MethodNotAllowed(f"POST is not allowed on {request.url.path}; use GET to query")
                return await self.create(request, spec)
            spec, reference = paths.split_task_path(family, rest)
        except paths.BadPath as bad:
            raise NoSuchEndpoint(_with_actions(str(bad), request)) from None
        if reference is None:
            return await self.list_tasks(request, spec)
        return await self.one(request, spec, reference)

    # -- the rest ------------------------------------------------------------------------------------------------

    async def upstream_callback(self, request: Request) -> Response:
        """Take the upstream's report on a task it runs for us; its signature covers the raw body, read as sent."""
        moved = await take_callback(
            self.runtime.db,
            request.path_params["platform_id"],
            request.path_params["token"],
            await request.body(),
            request.headers,
            config=self.runtime.settings.sync,
            now_ms=self.runtime.clock.now_ms(),
        )
        return responses.json(kling.envelope({"applied": moved}))

    async def health(self, _request: Request) -> Response:
        """Say the process is up."""
        return responses.json(kling.envelope({"status": "ok"}))


def _with_actions(message: str, request: Request) -> str:
    family = request.path_params.get("family")
    if family not in {member.value for member in Family}:
        return message
    actions = ", ".join(spec.action for spec in ACTIONS.values() if spec.family == family)
    return f"{message}; the {family} actions are {actions}"


async def json_body(request: Request) -> Any:
    """Read a JSON request body; say what is wrong with one that is not JSON."""
    try:
        return orjson.loads(await request.body())
    except orjson.JSONDecodeError as error:
        raise InvalidRequest(f"request body is not valid JSON ({error})") from None
