"""Serve the pages' stylesheet and scripts from the package, with cache headers; nothing is fetched elsewhere."""

from __future__ import annotations

import os

from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

MAX_AGE_S = 3600  # an upgrade's new files are picked up within the hour


class PackageStatic(StaticFiles):
    """The files of `web/static`, cached by browsers for an hour, never sniffed into another type."""

    def __init__(self) -> None:
        super().__init__(packages=[("kling_gateway.web", "static")])

    def file_response(
        self, full_path: str | os.PathLike[str], stat_result: os.stat_result, scope: Scope, status_code: int = 200
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        response.headers["cache-control"] = f"public, max-age={MAX_AGE_S}"
        response.headers["x-content-type-options"] = "nosniff"
        return response
