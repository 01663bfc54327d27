"""Build the gateway's ASGI app."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import httpx
from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.telemetry import TelemetryConfig
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match

from kling_gateway.api import (
    docs_pages,
    documentation,
    new_routes,
    openai_videos,
    operations,
    request_log,
    responses,
    session_routes,
    video_generations,
)
from kling_gateway.api.deps import invalid_request
from kling_gateway.api.edge import Edge, answer_failure, log_unavailable
from kling_gateway.api.kling_routes import KlingRoutes
from kling_gateway.api.query_lane import TaskQueryLane
from kling_gateway.api.runtime import Runtime
from kling_gateway.clock import Clock
from kling_gateway.errors import (
    GatewayError,
    InvalidRequest,
    MethodNotAllowed,
    NoSuchEndpoint,
    PayloadTooLarge,
    StoreUnavailable,
)
from kling_gateway.kling.schemas import Family
from kling_gateway.observability.http import HttpMetrics
from kling_gateway.redaction import install as redact_logs
from kling_gateway.settings import Settings
from kling_gateway.web import app as web_pages

KLING_PREFIXES = ("/kling/v1/", "/v1/")
OPENAI_PATHS = f"{openai_videos.PATH} (OpenAI's videos API) and {video_generations.PATH} (new-api's)"
NO_TELEMETRY: TelemetryConfig = {"tracing": False, "metrics": False, "logs": False}


def create_app(
    settings: Settings,
    *,
    http: httpx.AsyncClient | None = None,
    downloads_transport: httpx.AsyncBaseTransport | None = None,
    run_worker: bool = True,
    clock: Clock | None = None,
) -> FastAPI:
    """Build a gateway; `http` and `downloads_transport` let tests choose the upstream's and the result files'
    transports, `run_worker=False` leaves sync to others."""
    redact_logs()  # before the server logs its first request line
    runtime = Runtime(settings, http=http, downloads_transport=downloads_transport, run_worker=run_worker, clock=clock)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await runtime.start()
        try:
            yield
        finally:
            await runtime.stop()

    app = FastAPI(
        title="kling-gateway",
        summary="Kling video and image generation for many users over a pool of upstream accounts",
        description="Every task route answers in the shape the caller speaks: `X-Response-Format: kling|task|video`, "
        "else the key's default, else `kling`. The OpenAI videos API and the new-api route have shapes of their own. "
        "Kling's new generation (`/{product}/{model}`, `/tasks`) is served on `/kling/…` and at the root, by API key.",
        version="0.1.0",
        docs_url=None,  # served from the installed assets instead of a CDN (`docs_pages`)
        redoc_url=None,
        lifespan=lifespan,
        # A path with a slash too many or too few is answered, never redirected: clients POST, and Kling's own
        # paths are tidied by the fallback routes (`KlingRoutes.mount_fallback`).
        redirect_slashes=False,
        default_response_class=responses.JsonAnswer,
        exception_handlers={
            GatewayError: _gateway_error,
            RequestValidationError: _invalid_parameter,
            HTTPException: _http_exception,
            Exception: _unexpected,
        },
        # FastAPI's native OpenTelemetry asks the global providers on every request whether to trace it (about
        # a tenth of a task query); it runs only when the operator turns it on.
        telemetry=None if settings.telemetry else NO_TELEMETRY,
    )
    app.state.runtime = runtime
    documentation.install(app)  # before any route: it sets the class routes are made of
    docs_pages.install(app)
    kling_routes = KlingRoutes(runtime)
    kling_routes.mount(app)  # first: /v1/videos/text2video is Kling's, not an OpenAI video id
    session_routes.mount(app)
    new_routes.mount(app)
    openai_videos.mount(app)
    video_generations.mount(app)
    operations.mount(app, runtime)  # before the fallbacks, which would take any path
    web_pages.mount(app, runtime)  # the console's pages and their static files, before the fallbacks too
    kling_routes.mount_fallback(app)
    new_routes.mount_fallback(app)
    app.add_middleware(TaskQueryLane, routes=kling_routes)
    app.add_middleware(Edge, config=settings.http)  # outermost: every request's body is bounded
    request_log.install(app, access_log=settings.access_log)  # outside every layer, the query lane's included
    if settings.metrics.enabled:
        app.add_middleware(HttpMetrics)  # outside the lane: the lane's answers are measured too
    return app


async def _gateway_error(request: Request, failure: Exception) -> Response:
    assert isinstance(failure, GatewayError)
    if isinstance(failure, StoreUnavailable):  # a fault of the service's own to note, not the client's
        log_unavailable(request, failure.__cause__ or failure)
    return responses.error(request, failure)


async def _invalid_parameter(request: Request, failure: Exception) -> Response:
    """Answer a parameter FastAPI refused as the gateway answers any bad field, in the caller's shape."""
    assert isinstance(failure, RequestValidationError)
    return responses.error(request, invalid_request(failure.errors()))


async def _http_exception(request: Request, failure: Exception) -> Response:
    """Answer unknown paths, wrong methods and what Starlette refused (a form it cannot read) in the caller's
    shape instead of Starlette's text."""
    assert isinstance(failure, HTTPException)
    where = f"{request.method} {request.url.path}"
    if failure.status_code == 405:
        allowed = _documented_methods(request) or (failure.headers or {}).get("Allow")
        takes = f"; it takes {allowed}" if allowed else ""
        message = f"{request.method} is not allowed on {request.url.path}{takes}"
        return responses.error(request, MethodNotAllowed(message, allowed=allowed))
    if failure.status_code == 404:
        if getattr(request.state, "openai_shaped", False):
            hint = f"; this gateway serves {OPENAI_PATHS}"
        elif request.url.path.startswith(KLING_PREFIXES):
            hint = f"; Kling's endpoint families are {', '.join(Family)}"
        else:
            hint = ""
        return responses.error(request, NoSuchEndpoint(f"no such endpoint: {where}{hint}"))
    if failure.status_code == 413:
        return responses.error(request, PayloadTooLarge(f"{where}: {failure.detail}"))
    return responses.error(request, InvalidRequest(f"{where}: {failure.detail}"))


def _documented_methods(request: Request) -> str:
    """List every method the documented routes take on this path (Starlette's 405 names only the first route's)."""
    methods: set[str] = set()
    for route in request.app.router.routes:
        if getattr(route, "include_in_schema", False) and route.matches(request.scope)[0] is not Match.NONE:
            methods |= getattr(route, "methods", None) or set()
    return ", ".join(sorted(methods))


async def _unexpected(request: Request, failure: Exception) -> Response:
    """Answer a failure that escaped even the edge (its own): the edge's last resort."""
    return responses.error(request, answer_failure(request, failure))
