"""Build the gateway's ASGI app."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

import httpx
from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.telemetry import TelemetryConfig
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from kling_gateway.api import (
    documentation,
    new_routes,
    openai_videos,
    operations,
    responses,
    session_routes,
    video_generations,
)
from kling_gateway.api.deps import invalid_request
from kling_gateway.api.kling_routes import KlingRoutes
from kling_gateway.api.query_lane import TaskQueryLane
from kling_gateway.api.runtime import Runtime
from kling_gateway.clock import Clock
from kling_gateway.errors import GatewayError, MethodNotAllowed, NoSuchEndpoint, ServerError
from kling_gateway.observability.http import HttpMetrics
from kling_gateway.observability.metrics import UNEXPECTED_ERRORS
from kling_gateway.redaction import install as redact_logs
from kling_gateway.redaction import redact
from kling_gateway.settings import Settings

log = logging.getLogger(__name__)

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
        lifespan=lifespan,
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
    kling_routes = KlingRoutes(runtime)
    kling_routes.mount(app)  # first: /v1/videos/text2video is Kling's, not an OpenAI video id
    session_routes.mount(app)
    new_routes.mount(app)
    openai_videos.mount(app)
    video_generations.mount(app)
    operations.mount(app, runtime)  # before the fallbacks, which would take any path
    kling_routes.mount_fallback(app)
    new_routes.mount_fallback(app)
    app.add_middleware(TaskQueryLane, routes=kling_routes)
    if settings.metrics.enabled:
        app.add_middleware(HttpMetrics)  # outside the lane: the lane's answers are measured too
    return app


async def _gateway_error(request: Request, failure: Exception) -> Response:
    assert isinstance(failure, GatewayError)
    return responses.error(request, failure)


async def _invalid_parameter(request: Request, failure: Exception) -> Response:
    """Answer a parameter FastAPI refused as the gateway answers any bad field, in the caller's shape."""
    assert isinstance(failure, RequestValidationError)
    return responses.error(request, invalid_request(failure.errors()))


async def _http_exception(request: Request, failure: Exception) -> Response:
    """Answer unknown paths and wrong methods in the caller's shape instead of Starlette's text."""
    if isinstance(failure, HTTPException) and failure.status_code == 405:
        return responses.error(request, MethodNotAllowed(f"{request.method} is not allowed on {request.url.path}"))
    return responses.error(request, NoSuchEndpoint(f"no such endpoint: {request.method} {request.url.path}"))


async def _unexpected(request: Request, failure: Exception) -> Response:
    UNEXPECTED_ERRORS.labels("http").inc()
    log.exception("unexpected failure on %s %s", request.method, redact(request.url.path), exc_info=failure)
    return responses.error(request, ServerError())
