"""Count and time every HTTP request by its route template, as a pure ASGI middleware (it is on every request).

The template is the matched route's path (`/kling/v1/videos/text2video/{task_id}`), never the raw path, so ids do
not multiply the series. Requests answered before the framework's routing (the task-query lane) name their
template in the scope under `ROUTE_KEY`; a request no route matched counts as `unmatched`.
"""

from __future__ import annotations

import time

from prometheus_client import Counter, Histogram
from starlette.routing import Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kling_gateway.observability.metrics import HTTP_REQUESTS, HTTP_SECONDS

ROUTE_KEY = "kling_gateway.route"  # the scope key a handler ahead of the routing names its template under
UNMATCHED = "unmatched"


class HttpMetrics:
    """Count each HTTP request by route template, method and status, and time it; pass everything through."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        # Each series' children, found once: `labels()` takes a lock and builds a key on every call.
        self._series: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the server answers when the app raises before it starts a response

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            key = (route_template(scope), scope["method"], status)
            series = self._series.get(key)
            if series is None:
                route, method, _ = key
                series = HTTP_REQUESTS.labels(route, method, str(status)), HTTP_SECONDS.labels(route, method)
                self._series[key] = series
            series[0].inc()
            series[1].observe(time.perf_counter() - started)


def route_template(scope: Scope) -> str:
    """Name the template of the route that answered: the one the lane named, else the one Starlette matched."""
    named = scope.get(ROUTE_KEY)
    if named is not None:
        return str(named)
    route = scope.get("route")
    if route is None:
        return UNMATCHED
    if isinstance(route, Mount):
        return f"{route.path}/{{path}}"
    return str(getattr(route, "path_format", None) or getattr(route, "path", UNMATCHED))
