"""The routes of Kling's synchronous calls, on /kling/v1/… and /v1/…: the selection session calls, identify-face,
image-recognize and TTS (the last three billed once from their own deduction, `tasks.billed_calls`), the element
and voice deletes, and the lists of Kling's official elements and voices.

They exist only in Kling's API, so every answer, errors included, is in the Kling envelope whatever
`X-Response-Format` asks for.
"""

from __future__ import annotations

from enum import Enum

from fastapi import FastAPI
from starlette.responses import Response

from kling_gateway.api import documentation, responses
from kling_gateway.api.deps import JsonBody, KlingCallerDep, PageNum, PageSize, RuntimeDep
from kling_gateway.api.kling_routes import PREFIXES, Handler
from kling_gateway.dialects import kling
from kling_gateway.kling.paths import DEFAULT_PAGE_SIZE
from kling_gateway.kling.schemas import Family
from kling_gateway.tasks.session_calls import PRESET_LISTS, RELAYED_CALLS


def mount(app: FastAPI) -> None:
    """Add one documented POST route per call and prefix; before the Kling fallback, which would refuse them."""
    for prefix in PREFIXES:
        for family, call in RELAYED_CALLS:
            tags: list[str | Enum] = [f"{family} (Kling sessions)"]
            app.add_api_route(
                f"{prefix}/{family}/{call}",
                _relay(family, call),
                methods=["POST"],
                tags=tags,
                **documentation.session_call(family, call, prefix),
            )
        for listing in PRESET_LISTS:
            app.add_api_route(
                f"{prefix}/{Family.GENERAL}/{listing}",
                _presets(listing),
                methods=["GET"],
                tags=[f"{Family.GENERAL} (Kling sessions)"],
                **documentation.presets_list(listing, prefix),
            )


def _relay(family: Family, call: str) -> Handler:
    async def relay(owner: KlingCallerDep, runtime: RuntimeDep, body: JsonBody) -> Response:
        """Relay one call upstream; answer with the upstream's `data` in a new envelope."""
        return responses.json(kling.envelope(await runtime.sessions.call(owner, call, body, family=family)))

    return relay


def _presets(listing: str) -> Handler:
    async def presets(
        _owner: KlingCallerDep,
        runtime: RuntimeDep,
        page_num: PageNum = 1,
        page_size: PageSize = DEFAULT_PAGE_SIZE,
    ) -> Response:
        """Relay a page of one presets list; answer with the upstream's records in a new envelope."""
        records = await runtime.sessions.presets(listing, page_num=page_num, page_size=page_size)
        return responses.json(kling.envelope(records))

    return presets
