"""Kling's new-generation routes: `POST /{product}/{model}` and `GET`/`POST /tasks`, on `/kling/…` and on the
official paths at the root.

They take an API key only, as Kling's do (`auth.api_key_caller`). A create answers in the request's dialect; in
`kling` that is Kling's new-style create answer. `/tasks` speaks Kling's new codec whatever the header says, and
lists the caller's tasks of both generations (`tasks.listing`).
"""

from __future__ import annotations

from enum import Enum
from typing import Annotated, Any

import orjson
from fastapi import FastAPI, Query
from starlette.requests import Request
from starlette.responses import Response

from kling_gateway.api import documentation, responses
from kling_gateway.api.auth import api_key_caller
from kling_gateway.api.deps import ApiKeyKlingCallerDep, ApiKeySpeakerDep, JsonBody, RuntimeDep
from kling_gateway.api.kling_routes import Handler
from kling_gateway.api.runtime import Runtime
from kling_gateway.clock import now_ms
from kling_gateway.dialects import Dialect, kling, record
from kling_gateway.dialects.shapes import SHAPES
from kling_gateway.errors import InvalidRequest, NoSuchEndpoint
from kling_gateway.keys.service import Principal
from kling_gateway.kling.schemas import NEW_ACTIONS, ActionSpec
from kling_gateway.tasks.listing import parse_ids, parse_listing

PREFIXES = ("/kling", "")
TASKS_PATHS = tuple(f"{prefix}/tasks" for prefix in PREFIXES)
ID_PARAMETERS = ("task_ids", "external_task_ids")
PRODUCTS = ("text-to-video", "image-to-video", "omni-video", "motion-control")
"""Kling's new-generation products (reference 2026 §3): a path under one of them names a model, known or not."""
TAGS: list[str | Enum] = ["videos (Kling, new generation)"]
TASKS_TAGS: list[str | Enum] = ["tasks (Kling, new generation)"]
IdList = Annotated[str | None, Query(description="A comma list of ids, at most 20 in all")]


def mount(app: FastAPI) -> None:
    """Add one documented create route per new-generation model and prefix, and the two `/tasks` routes."""
    for prefix in PREFIXES:
        for spec in NEW_ACTIONS.values():
            path = f"{prefix}/{spec.action}"
            app.add_api_route(
                path, _create(spec), methods=["POST"], tags=TAGS, **documentation.new_create(spec, prefix)
            )
        app.add_api_route(
            f"{prefix}/tasks", query_tasks, methods=["GET"], tags=TASKS_TAGS, **documentation.tasks_query(prefix)
        )
        app.add_api_route(
            f"{prefix}/tasks", list_tasks, methods=["POST"], tags=TASKS_TAGS, **documentation.tasks_list(prefix)
        )


def mount_fallback(app: FastAPI) -> None:
    """Answer a model no route serves, under a known product, with the models there are."""
    for prefix in PREFIXES:
        for product in PRODUCTS:
            app.add_api_route(
                f"{prefix}/{product}/{{model:path}}", _unknown_model(product), methods=["POST"], include_in_schema=False
            )


def _create(spec: ActionSpec) -> Handler:
    async def create(asker: ApiKeySpeakerDep, runtime: RuntimeDep, body: JsonBody) -> Response:
        """Create a task of one new-generation model; answer with the new task."""
        row = await runtime.tasks.submit(asker.owner, spec, body)
        if asker.dialect is Dialect.KLING:
            return responses.json(kling.envelope(record.created(row)))
        shape = SHAPES[asker.dialect]
        return responses.json(shape.whole(shape.one(row, now_ms())))

    return create


def models_of(product: str) -> list[str]:
    """The models the gateway serves under a product."""
    return [spec.action.partition("/")[2] for spec in NEW_ACTIONS.values() if spec.action.startswith(product + "/")]


def _unknown_model(product: str) -> Handler:
    async def unknown(request: Request, model: str) -> Response:
        models = models_of(product)
        offered = f"the {product} models are {', '.join(models)}" if models else f"no {product} model is served yet"
        raise NoSuchEndpoint(f"no such endpoint: POST {request.url.path} ({model!r} is not a model here; {offered})")

    return unknown


async def query_tasks(
    owner: ApiKeyKlingCallerDep,
    runtime: RuntimeDep,
    task_ids: IdList = None,
    external_task_ids: IdList = None,
) -> Response:
    """Answer your tasks among the ids asked for, in Kling's new codec; ids not yours are left out."""
    given = zip(ID_PARAMETERS, (task_ids, external_task_ids), strict=True)
    return await _by_ids(runtime, owner, {name: value for name, value in given if value is not None})


async def query_by_ids(runtime: Runtime, request: Request) -> Response:
    """Authenticate a `GET /tasks` and answer it: the query lane's handler, which runs before FastAPI, in the
    documented route's order (its Kling envelope, its API-key caller, then its ids, the last of each as FastAPI
    reads a repeated parameter)."""
    request.state.dialect = Dialect.KLING
    owner = await api_key_caller(runtime.keys, request)
    params = request.query_params
    return await _by_ids(runtime, owner, {name: params[name] for name in ID_PARAMETERS if name in params})


async def _by_ids(runtime: Runtime, owner: Principal, params: dict[str, str]) -> Response:
    rows = await runtime.records.by_ids(owner, parse_ids(params))
    return responses.json(runtime.finished_records.records(rows))


async def list_tasks(owner: ApiKeyKlingCallerDep, runtime: RuntimeDep, request: Request) -> Response:
    """Answer a page of your tasks, newest first, in Kling's new codec."""
    query = parse_listing(await _body(request), now_ms=runtime.clock.now_ms())
    rows, next_cursor, has_more = await runtime.records.page(owner, query)
    return responses.json(record.listing(rows, next_cursor=next_cursor, has_more=has_more))


async def _body(request: Request) -> Any:
    """Read the listing's JSON body; none at all is an empty one (every field has a default)."""
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        raise InvalidRequest(f"request body is not valid JSON ({error})") from None
