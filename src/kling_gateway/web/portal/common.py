"""What the portal's pages share: who the signed-in user is, and the one answer for a task that is not theirs."""

from __future__ import annotations

from typing import NamedTuple

from starlette.requests import Request

from kling_gateway.web.areas import Area, Visit, visitor
from kling_gateway.web.pages import PageError


class Signed(NamedTuple):
    """A page's visit, its area, and the id and name of the user signed in."""

    visit: Visit
    area: Area
    user_id: int
    user_name: str


async def signed_in(request: Request) -> Signed:
    """The signed-in user of a portal page (anyone else is sent to sign in)."""
    visit = await visitor(request)
    assert visit.holder is not None
    return Signed(visit, visit.area, visit.holder.id, visit.holder.name)


def no_such_task(reference: str) -> PageError:
    """The page for a task id that names none of the user's tasks: the same whether it names another's or none."""
    return PageError(404, "Not found", f"There is no task {reference!r} here.")


def public_base_url(request: Request, area: Area) -> str:
    """Where clients reach this gateway: the configured public URL, else the address this page was asked at."""
    configured = area.parts.settings.public_url
    return str(configured or request.base_url).rstrip("/")
