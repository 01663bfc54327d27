"""The console's first page: what is in flight and queued, what finished lately, money held and charged, the
channels' slots against their limits, and the callback backlog, from the numbers `/metrics` reads."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from kling_gateway.health.status import channels
from kling_gateway.health.tallies import snapshot
from kling_gateway.web.areas import visitor


async def page(request: Request) -> Response:
    """Show the overview."""
    visit = await visitor(request)
    area = visit.area
    async with area.parts.db.session() as session:
        store = await snapshot(session)
    by_status: dict[str, int] = {}
    for row in store.unfinished:
        by_status[row.status] = by_status.get(row.status, 0) + row.tasks
    return area.pages.render(
        request,
        "console/overview.html",
        title="Overview",
        area=area,
        by_status=by_status,
        channels=channels(store),
        callbacks_pending=store.callbacks_pending,
    )
