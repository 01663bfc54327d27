"""The operator's routes: `/livez` (and its old name `/healthz`), `/readyz` and `/metrics`."""

from __future__ import annotations

import asyncio
import hmac
import ipaddress

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import Response

from kling_gateway.api import responses
from kling_gateway.api.runtime import Runtime
from kling_gateway.dialects import kling
from kling_gateway.health.checks import readiness
from kling_gateway.health.gauges import StoreGauges
from kling_gateway.observability.metrics import CONTENT_TYPE, exposition
from kling_gateway.settings import Settings

LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain"})


def mount(app: FastAPI, runtime: Runtime) -> None:
    """Add the health routes, and `/metrics` unless metrics are off."""

    async def live() -> Response:
        """Say the process answers."""
        return responses.json(kling.envelope({"status": "ok"}))

    async def ready() -> Response:
        """Say whether the gateway can do its work, naming each check that fails and why: 200 or 503."""
        looked = await readiness(
            runtime.probe,
            runtime.settings.health,
            now_ms=runtime.clock.now_ms(),
            channel_health=runtime.settings.channel_health,
        )
        return responses.json(looked.as_json(), 200 if looked.ready else 503)

    async def metrics(request: Request) -> Response:
        """Expose every metric in Prometheus's text format, to the operator."""
        refused = _refusal(runtime.settings, request.headers.get("authorization"))
        if refused is not None:
            return refused
        now = runtime.clock.now_ms()
        looked = await readiness(
            runtime.probe, runtime.settings.health, now_ms=now, channel_health=runtime.settings.channel_health
        )
        # Reading every process's files is disk work: off the event loop.
        body = await asyncio.to_thread(exposition, [StoreGauges(looked, now_ms=now)])
        return Response(body, media_type=CONTENT_TYPE)

    for path in ("/livez", "/healthz"):
        app.add_api_route(path, live, methods=["GET"], include_in_schema=False)
    app.add_api_route("/readyz", ready, methods=["GET"], include_in_schema=False)
    if runtime.settings.metrics.enabled:
        app.add_api_route("/metrics", metrics, methods=["GET"], include_in_schema=False)


def _refusal(settings: Settings, authorization: str | None) -> Response | None:
    """Refuse a scrape without the operator's token (None: let it through). With no token set, only a gateway
    bound to loopback serves it, and only while `metrics.public_on_loopback` allows."""
    token = settings.metrics.token
    if token is None:
        if settings.metrics.public_on_loopback and bound_to_loopback(settings.host):
            return None
        message = (
            f"/metrics needs the operator's token when the gateway listens on {settings.host}: set "
            "KLING_GATEWAY_METRICS__TOKEN and send it as `Authorization: Bearer <token>`"
        )
        return responses.json({"error": {"message": message}}, 403)
    scheme, _, given = (authorization or "").partition(" ")
    if scheme == "Bearer" and hmac.compare_digest(given.encode(), token.get_secret_value().encode()):
        return None
    answer = responses.json(
        {"error": {"message": "/metrics needs `Authorization: Bearer <the operator's token>`"}}, 401
    )
    answer.headers["WWW-Authenticate"] = "Bearer"
    return answer


def bound_to_loopback(host: str) -> bool:
    """Tell whether listening on `host` keeps the gateway to this machine (127.0.0.0/8, ::1, localhost)."""
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
