"""The Kling routes: create, query one, list — on /kling/v1/… and on the official /v1/… paths, in every dialect."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from enum import Enum
from types import MappingProxyType
from typing import Annotated, Any

import orjson
from cachetools import LRUCache
from fastapi import FastAPI, Path
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from kling_gateway.api import documentation, responses
from kling_gateway.api.auth import caller
from kling_gateway.api.deps import (
    PAGE_NUM,
    PAGE_SIZE,
    DatabaseDep,
    JsonBody,
    PageNum,
    PageSize,
    RuntimeDep,
    Speaker,
    SpeakerDep,
    read_json,
    speaker,
    whole_number_parameter,
)
from kling_gateway.api.runtime import Runtime
from kling_gateway.clock import now_ms
from kling_gateway.dialects import DIALECT_HEADER, Dialect, kling
from kling_gateway.dialects.record import FINISHED_KEPT
from kling_gateway.dialects.shapes import SHAPES
from kling_gateway.errors import MethodNotAllowed, NoSuchEndpoint
from kling_gateway.keys.service import Principal
from kling_gateway.kling import paths
from kling_gateway.kling.paths import DEFAULT_PAGE_SIZE
from kling_gateway.kling.schemas import ACTIONS, V1_ADDITIONS, ActionSpec, Family
from kling_gateway.sync.receiver import take_callback
from kling_gateway.upstream.callbacks import CALLBACK_PREFIX

PREFIXES = ("/kling/v1", "/v1")
Handler = Callable[..., Awaitable[Response]]
SERVED_ACTIONS: Mapping[tuple[Family, str], ActionSpec] = MappingProxyType(dict(ACTIONS) | dict(V1_ADDITIONS))
"""The asynchronous `/v1` endpoints the gateway serves: every legacy action and every 2026 addition (audio,
elements, voices, angle completion)."""
TaskReference = Annotated[str, Path(description="The task's task_id, platform_id or external_task_id")]


class KlingRoutes:
    """Serve the official task endpoints for the caller's own tasks."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        # A finished task never changes: its rendering is kept, keyed by who asked, by which id and in which shape.
        self._finished: LRUCache[tuple[int, str, str, str, Dialect], orjson.Fragment] = LRUCache(FINISHED_KEPT)

    @staticmethod
    def mount(app: FastAPI) -> None:
        """Add one documented route per action, method and prefix; each finds the app's `KlingRoutes` as it runs, so
        the routes are the same for every app (`api.app` builds them once per process)."""
        for prefix in PREFIXES:
            for spec in SERVED_ACTIONS.values():
                path = f"{prefix}/{spec.family}/{spec.action}"
                tags: list[str | Enum] = [f"{spec.family} (Kling)"]
                create, list_tasks, one = _bound(spec)
                app.add_api_route(path, create, methods=["POST"], tags=tags, **documentation.create(spec, prefix))
                app.add_api_route(path, list_tasks, methods=["GET"], tags=tags, **documentation.task_list(spec, prefix))
                app.add_api_route(
                    path + "/{task_id}", one, methods=["GET"], tags=tags, **documentation.task_one(spec, prefix)
                )

    @staticmethod
    def mount_fallback(app: FastAPI) -> None:
        """Catch what the documented routes miss (`…//id`, a trailing slash, an unknown action) and say why."""
        for prefix in PREFIXES:
            for family in Family:  # only Kling's: /v1/models and the like are the OpenAI-shaped surface's
                tidy = _TidyPath(prefix, family)  # an ASGI app, served as it is (Starlette's typing knows endpoints)
                path = f"{prefix}/{family}/{{rest:path}}"
                app.add_route(path, tidy, methods=["GET", "POST"], include_in_schema=False)  # type: ignore[arg-type]
        app.add_api_route(
            CALLBACK_PREFIX + "/{platform_id}/{token}", upstream_callback, methods=["POST"], include_in_schema=False
        )

    # -- the three operations ------------------------------------------------------------------------------------

    async def create(self, asker: Speaker, spec: ActionSpec, body: Any) -> Response:
        """Create a task of an action; answer with the new task."""
        row = await self.runtime.tasks.submit(asker.owner, spec, body)
        shape = SHAPES[asker.dialect]
        return responses.json(shape.whole(shape.one(row, now_ms())))

    async def submit(self, request: Request, spec: ActionSpec) -> Response:
        """Authenticate a create, then read its body, and answer it: the query lane's handler, which runs before
        FastAPI, in the documented route's order (its caller, then its JSON body)."""
        asker = await speaker(self.runtime.keys, request, request.headers.get(DIALECT_HEADER))
        return await self.create(asker, spec, await read_json(request))

    async def list_tasks(self, asker: Speaker, spec: ActionSpec, *, page_num: int, page_size: int) -> Response:
        """Answer a page of the caller's tasks of an action, newest first; from the store, never upstream."""
        rows, has_more = await self.runtime.tasks.page(
            asker.owner, spec.family, spec.action, page_num=page_num, page_size=page_size
        )
        return responses.json(SHAPES[asker.dialect].page(rows, now_ms(), has_more))

    async def page(self, request: Request, spec: ActionSpec) -> Response:
        """Authenticate a list query and answer it: the query lane's handler, which runs before FastAPI; its
        parameters are read as the documented route's are."""
        asker = await speaker(self.runtime.keys, request, request.headers.get(DIALECT_HEADER))
        page_num = whole_number_parameter(request, "pageNum", PAGE_NUM, 1)
        page_size = whole_number_parameter(request, "pageSize", PAGE_SIZE, DEFAULT_PAGE_SIZE)
        return await self.list_tasks(asker, spec, page_num=page_num, page_size=page_size)

    async def one(self, request: Request, spec: ActionSpec, reference: str) -> Response:
        """Authenticate a single-task query and answer it: the query lane's handler, which runs before FastAPI.

        It authenticates as `deps.speaker` does, step by step: on the busiest request every call layer counts.
        """
        owner = await caller(self.runtime.keys, request)
        dialect = responses.choose_dialect(request, owner.dialect, request.headers.get(DIALECT_HEADER))
        return await self._one(owner, dialect, spec, reference)

    async def answer_one(self, asker: Speaker, spec: ActionSpec, reference: str) -> Response:
        """Answer one task by any of its ids, for the documented route."""
        return await self._one(asker.owner, asker.dialect, spec, reference)

    async def _one(self, owner: Principal, dialect: Dialect, spec: ActionSpec, reference: str) -> Response:
        """Answer one task by any of its ids; from the store, never upstream."""
        shape = SHAPES[dialect]
        key = (owner.user_id, spec.family.value, spec.action, reference, dialect)
        kept = self._finished.get(key)
        if kept is None:
            row = await self.runtime.tasks.find(owner, spec.family, reference, action=spec.action)
            part = shape.one(row, now_ms())
            if row.status.is_final:
                self._finished[key] = orjson.Fragment(orjson.dumps(part))
        else:
            part = kept
        return responses.json(shape.whole(part))


def routes_of(request: Request) -> KlingRoutes:
    """The `KlingRoutes` of the app serving a request."""
    routes: KlingRoutes = request.app.state.kling_routes
    return routes


def _bound(spec: ActionSpec) -> tuple[Handler, Handler, Handler]:
    """The three operations on one action, as endpoints: their signatures are what FastAPI reads and documents."""

    async def create(request: Request, asker: SpeakerDep, body: JsonBody) -> Response:
        return await routes_of(request).create(asker, spec, body)

    async def list_tasks(
        request: Request, asker: SpeakerDep, page_num: PageNum = 1, page_size: PageSize = DEFAULT_PAGE_SIZE
    ) -> Response:
        return await routes_of(request).list_tasks(asker, spec, page_num=page_num, page_size=page_size)

    async def one(request: Request, asker: SpeakerDep, task_id: TaskReference) -> Response:
        return await routes_of(request).answer_one(asker, spec, task_id)

    return create, list_tasks, one


@dataclass(frozen=True, slots=True)
class _TidyPath:
    """Route a path the documented routes miss as the one it means (`…//id`, a trailing slash), or say why none."""

    prefix: str
    family: Family

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        try:
            rest = paths.tidy_rest(request.path_params["rest"])
            spec, reference = paths.split_task_path(self.family, rest, SERVED_ACTIONS)
        except paths.BadPath as bad:
            actions = ", ".join(known.action for known in SERVED_ACTIONS.values() if known.family == self.family)
            raise NoSuchEndpoint(
                f"no such endpoint: {request.method} {request.url.path} ({bad}); the {self.family} actions are "
                f"{actions}"
            ) from None
        if request.method == "POST" and reference is not None:  # a task path that exists takes GET: say so
            raise MethodNotAllowed(f"POST is not allowed on {request.url.path}; use GET to query")
        path = f"{scope.get('root_path', '')}{self.prefix}/{spec.family}/{spec.action}"
        path += "" if reference is None else f"/{reference}"
        if path == scope["path"]:  # cannot happen while every action has its documented routes; never loop
            raise NoSuchEndpoint(f"no such endpoint: {request.method} {request.url.path}")
        await scope["app"].router(dict(scope, path=path, raw_path=path.encode()), receive, send)


async def upstream_callback(
    request: Request, platform_id: str, token: str, db: DatabaseDep, runtime: RuntimeDep
) -> Response:
    """Take the upstream's report on a task it runs for us; its signature covers the raw body, read as sent."""
    moved = await take_callback(
        db,
        platform_id,
        token,
        await request.body(),
        request.headers,
        config=runtime.settings.sync,
        now_ms=runtime.clock.now_ms(),
        billing=runtime.settings.billing,
    )
    return responses.json(kling.envelope({"applied": moved}))
