"""The routes of Kling's synchronous session calls, on /kling/v1/videos/… and /v1/videos/….

They exist only in Kling's API, so every answer, errors included, is in the Kling envelope whatever
`X-Response-Format` asks for.
"""

from __future__ import annotations

from enum import Enum

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import Response

from kling_gateway.api import documentation, responses
from kling_gateway.api.auth import caller
from kling_gateway.api.kling_routes import PREFIXES, Handler, json_body
from kling_gateway.api.runtime import Runtime
from kling_gateway.dialects import Dialect, kling
from kling_gateway.kling.schemas import Family
from kling_gateway.tasks.session_calls import SESSION_CALLS, SessionCalls


class SessionRoutes:
    """Serve identify-face and the multi-elements selection calls for the caller's own videos and sessions."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.calls = SessionCalls(runtime.db, runtime.client)

    def mount(self, app: FastAPI) -> None:
        """Add one documented POST route per call and prefix; before the Kling fallback, which would refuse them."""
        tags: list[str | Enum] = [f"{Family.VIDEOS} (Kling sessions)"]
        for prefix in PREFIXES:
            for call in SESSION_CALLS:
                app.add_api_route(
                    f"{prefix}/{Family.VIDEOS}/{call}",
                    self._bound(call),
                    methods=["POST"],
                    tags=tags,
                    **documentation.session_call(call, prefix),
                )

    async def call(self, request: Request, call: str) -> Response:
        """Relay one call upstream; answer with the upstream's `data` in a new envelope."""
        request.state.dialect = Dialect.KLING
        owner = await caller(self.runtime.keys, request)
        data = await self.calls.call(owner, call, await json_body(request))
        return responses.json(kling.envelope(data))

    def _bound(self, call: str) -> Handler:
        async def relay(request: Request) -> Response:
            return await self.call(request, call)

        return relay
