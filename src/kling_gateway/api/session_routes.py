"""The routes of Kling's synchronous session calls, on /kling/v1/videos/… and /v1/videos/….

They exist only in Kling's API, so every answer, errors included, is in the Kling envelope whatever
`X-Response-Format` asks for.
"""

from __future__ import annotations

from enum import Enum

from fastapi import FastAPI
from starlette.responses import Response

from kling_gateway.api import documentation, responses
from kling_gateway.api.deps import JsonBody, KlingCallerDep, RuntimeDep
from kling_gateway.api.kling_routes import PREFIXES, Handler
from kling_gateway.dialects import kling
from kling_gateway.kling.schemas import Family
from kling_gateway.tasks.session_calls import SESSION_CALLS

TAGS: list[str | Enum] = [f"{Family.VIDEOS} (Kling sessions)"]


def mount(app: FastAPI) -> None:
    """Add one documented POST route per call and prefix; before the Kling fallback, which would refuse them."""
    for prefix in PREFIXES:
        for call in SESSION_CALLS:
            app.add_api_route(
                f"{prefix}/{Family.VIDEOS}/{call}",
                _relay(call),
                methods=["POST"],
                tags=TAGS,
                **documentation.session_call(call, prefix),
            )


def _relay(call: str) -> Handler:
    async def relay(owner: KlingCallerDep, runtime: RuntimeDep, body: JsonBody) -> Response:
        """Relay one call upstream; answer with the upstream's `data` in a new envelope."""
        return responses.json(kling.envelope(await runtime.sessions.call(owner, call, body)))

    return relay
