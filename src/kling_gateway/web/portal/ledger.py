"""The user's ledger: every movement of their money, newest first, page by page."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from kling_gateway.billing import ledger
from kling_gateway.web.pages import PageError
from kling_gateway.web.portal.common import signed_in

PAGE_SIZE = 50


async def page(request: Request) -> Response:
    """Show a page of the user's ledger entries."""
    signed = await signed_in(request)
    before = request.query_params.get("before", "")
    if before and not before.isdigit():
        raise PageError(400, "Not a page", f"before={before!r} is not an entry number; follow the page's own links.")
    async with signed.area.parts.db.session() as session:
        balance = await ledger.balance_of(session, user_id=signed.user_id)
        entries, more = await ledger.entries_page(
            session, user_id=signed.user_id, before_id=int(before) if before else None, limit=PAGE_SIZE
        )
    return signed.area.pages.render(
        request,
        "portal/ledger.html",
        title="Ledger",
        area=signed.area,
        balance=balance,
        entries=entries,
        next_before=entries[-1].id if more and entries else None,
        paged=bool(before),
    )
