"""Serve the API's documentation pages, Swagger UI at `/docs` and ReDoc at `/redoc`, with their scripts, styles and
icon from the installed fastapi-offline package: the pages work with no internet and load nothing from elsewhere
(FastAPI's own pages take Swagger UI from a CDN, ReDoc also Google's fonts)."""

from __future__ import annotations

from importlib.resources import files

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.staticfiles import StaticFiles
from starlette.requests import Request
from starlette.responses import Response

SWAGGER_PATH = "/docs"
REDOC_PATH = "/redoc"
ASSETS_PATH = "/docs/assets"  # swagger-ui-bundle.js, swagger-ui.css, redoc.standalone.js, favicon.png
ASSETS = files("fastapi_offline") / "static"


def install(app: FastAPI) -> None:
    """Add the two pages and their assets to `app` (made with `docs_url=None, redoc_url=None`)."""
    app.mount(ASSETS_PATH, StaticFiles(directory=str(ASSETS)), name="docs-assets")

    async def swagger(request: Request) -> Response:
        root = _root(request)
        return get_swagger_ui_html(
            openapi_url=f"{root}{app.openapi_url}",
            title=f"{app.title} - Swagger UI",
            swagger_js_url=f"{root}{ASSETS_PATH}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{ASSETS_PATH}/swagger-ui.css",
            swagger_favicon_url=f"{root}{ASSETS_PATH}/favicon.png",
            swagger_ui_parameters={"validatorUrl": None},  # else a badge asks swagger.io to check the document
        )

    async def redoc(request: Request) -> Response:
        root = _root(request)
        return get_redoc_html(
            openapi_url=f"{root}{app.openapi_url}",
            title=f"{app.title} - ReDoc",
            redoc_js_url=f"{root}{ASSETS_PATH}/redoc.standalone.js",
            redoc_favicon_url=f"{root}{ASSETS_PATH}/favicon.png",
            with_google_fonts=False,
        )

    app.add_route(SWAGGER_PATH, swagger, methods=["GET"], include_in_schema=False)
    app.add_route(REDOC_PATH, redoc, methods=["GET"], include_in_schema=False)


def _root(request: Request) -> str:
    """The path the gateway is mounted under behind a proxy (`root_path`), so the pages' links follow it."""
    return str(request.scope.get("root_path", ""))
