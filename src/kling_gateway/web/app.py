"""Mount the web pages on the gateway's app: the shared static files, and each area under its prefix."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount, Route

from kling_gateway.web.console import console_app
from kling_gateway.web.pages import STATIC_PATH
from kling_gateway.web.parts import Parts
from kling_gateway.web.portal import portal_app
from kling_gateway.web.shared import Web
from kling_gateway.web.static import PackageStatic


def mount(app: Starlette, parts: Parts) -> Web:
    """Serve `/web/static/…`, the console at `/console/` and the portal at `/portal/`; return the shared pieces."""
    web = Web.of(parts)
    app.router.routes.append(Mount(STATIC_PATH, app=PackageStatic(), name="web-static"))
    app.router.routes.append(Route("/console", _to_console, methods=["GET"], include_in_schema=False))
    app.router.routes.append(Mount("/console", app=console_app(web), name="console"))
    app.router.routes.append(Route("/portal", _to_portal, methods=["GET"], include_in_schema=False))
    app.router.routes.append(Mount("/portal", app=portal_app(web), name="portal"))
    return web


async def _to_console(_request: Request) -> Response:
    return RedirectResponse("/console/", status_code=308)


async def _to_portal(_request: Request) -> Response:
    return RedirectResponse("/portal/", status_code=308)
