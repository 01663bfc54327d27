"""The busiest requests, `GET …/{family}/{action}/{id}`, the list `GET …/{family}/{action}`, the create
`POST …/{family}/{action}` and the new generation's batch `GET /tasks?task_ids=…`, answered before the framework's
per-request layers.

A client polling its tasks sends these requests far more often than any other. Through FastAPI it passes four
middlewares, a linear match over every route and the endpoint machinery, which cost more than reading and rendering
the task. This middleware recognises the path itself (with the same `SERVED_ACTIONS` table the routes are built
from) and calls the very handler the documented route calls, so the answer, errors included, is the same byte for
byte.
Everything else goes on to the app unchanged.
"""

from __future__ import annotations

import re

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from kling_gateway.api import new_routes, responses
from kling_gateway.api.kling_routes import SERVED_ACTIONS, KlingRoutes
from kling_gateway.errors import GatewayError
from kling_gateway.kling.schemas import Family
from kling_gateway.observability.http import ROUTE_KEY

# `/kling/v1/videos/text2video/{id}` or `/v1/…`; an action may itself hold a slash, so the id is the last segment.
TASK_PATH = re.compile(r"/(?:kling/)?v1/(videos|images|audio|general)/([a-z0-9/-]+)/([^/]+)")
# `…/text2video?pageNum=1&pageSize=30`
LIST_PATH = re.compile(r"/(?:kling/)?v1/(videos|images|audio|general)/([a-z0-9/-]+)")


class TaskQueryLane:
    """Serve single-task queries directly; pass every other request to `app`."""

    def __init__(self, app: ASGIApp, routes: KlingRoutes) -> None:
        self.app = app
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("GET", "POST"):
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        if scope["method"] == "GET" and path in new_routes.TASKS_PATHS:
            await self._batch(scope, receive, send)
            return
        spec, reference = None, None
        if scope["method"] == "GET" and (found := TASK_PATH.fullmatch(path)) is not None:
            family, action, reference = found.groups()
            spec = SERVED_ACTIONS.get((Family(family), action))
        if reference is None or spec is None:  # not a task's path: perhaps a list's (an action may hold a slash)
            reference = None
            listed = LIST_PATH.fullmatch(path)
            spec = None if listed is None else SERVED_ACTIONS.get((Family(listed[1]), listed[2]))
        if spec is None:
            await self.app(scope, receive, send)
            return
        # The documented route's template, for the request metrics: never the path, whose id is the caller's.
        prefix = "/kling/v1" if path.startswith("/kling/") else "/v1"
        scope[ROUTE_KEY] = f"{prefix}/{spec.family}/{spec.action}" + ("" if reference is None else "/{task_id}")
        request = Request(scope, receive)
        try:
            if scope["method"] == "POST":  # a create: a task path (…/{id}) takes GET only, the app says so
                answer = await self.routes.submit(request, spec)
            elif reference is None:
                answer = await self.routes.page(request, spec)
            else:
                answer = await self.routes.one(request, spec, reference)
        except GatewayError as failure:  # anything else is the edge's to answer
            answer = responses.error(request, failure)
        await answer(scope, receive, send)

    async def _batch(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope[ROUTE_KEY] = scope["path"]  # the documented route's template is its path
        request = Request(scope, receive)
        try:
            answer = await new_routes.query_by_ids(self.routes.runtime, request)
        except GatewayError as failure:
            answer = responses.error(request, failure)
        await answer(scope, receive, send)
