"""Build the gateway's ASGI app."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import httpx
from fastapi import FastAPI
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from kling_gateway.api import wire
from kling_gateway.api.routes import KlingRoutes
from kling_gateway.api.runtime import Runtime
from kling_gateway.errors import GatewayError, MethodNotAllowed, NotFound
from kling_gateway.settings import Settings


def create_app(settings: Settings, *, http: httpx.AsyncClient | None = None, run_worker: bool = True) -> FastAPI:
    """Build a gateway; `http` lets tests choose the upstream transport, `run_worker=False` leaves sync to others."""
    runtime = Runtime(settings, http=http, run_worker=run_worker)

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
        lifespan=lifespan,
        exception_handlers={GatewayError: _gateway_error, HTTPException: _http_exception},
    )
    app.state.runtime = runtime
    KlingRoutes(runtime).mount(app)
    return app


async def _gateway_error(_request: Request, failure: Exception) -> Response:
    assert isinstance(failure, GatewayError)
    return wire.error(failure)


async def _http_exception(request: Request, failure: Exception) -> Response:
    """Answer unknown paths and wrong methods in the Kling envelope instead of Starlette's text."""
    if isinstance(failure, HTTPException) and failure.status_code == 405:
        return wire.error(MethodNotAllowed(f"{request.method} is not allowed on {request.url.path}"))
    return wire.error(NotFound(f"no such endpoint: {request.method} {request.url.path}"))
