"""The console's audit log: every change operators made, newest first, a page at a time."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from kling_gateway.errors import InvalidRequest
from kling_gateway.operators import audit
from kling_gateway.web.areas import visitor
from kling_gateway.web.console.common import reading
from kling_gateway.web.pages import pager

PAGE_SIZE = 100


async def page(request: Request) -> Response:
    """List the changes, from just past `before` (an entry's id) when given."""
    visit = await visitor(request)
    text = request.query_params.get("before", "")
    if text and not text.isdigit():
        raise InvalidRequest(f"before: {text!r} is not an entry's id; follow the page's own link")
    async with reading(visit) as session:
        lines, more = await audit.newest(session, before_id=int(text) if text else None, limit=PAGE_SIZE)
    return visit.area.pages.render(
        request,
        "console/audit.html",
        title="Audit log",
        area=visit.area,
        lines=lines,
        after=pager(lines, more),
        paged=bool(text),
    )
