"""Every page of the console, by path."""

from __future__ import annotations

from starlette.routing import BaseRoute, Route

from kling_gateway.web.console import overview

ROUTES: list[BaseRoute] = [
    Route("/", overview.page, methods=["GET"]),
]
