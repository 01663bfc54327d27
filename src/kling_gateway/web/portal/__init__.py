"""The customer portal at `/portal/`: a user's balance and ledger, keys, tasks with their results, and usage, for
users signed in with the password the operator set them (`users set-password`). A user sees only their own."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.types import ASGIApp

from kling_gateway.users import service as users_service
from kling_gateway.web.areas import Accounts, Area, Holder, area_app
from kling_gateway.web.shared import Web

KIND = "user"
NAV = (
    ("/", "Overview"),
    ("/tasks", "Tasks"),
    ("/keys", "Keys"),
    ("/ledger", "Ledger"),
)


async def _authenticate(session: AsyncSession, name: str, password: str) -> Holder | None:
    found = await users_service.check_password(session, name=name, password=password)
    if found is None or found.disabled_at is not None:  # a disabled user's right password signs nobody in
        return None
    return Holder(KIND, found.id, found.name, found.credentials_at or 0)


async def _load(session: AsyncSession, user_id: int) -> Holder | None:
    found = await users_service.find_user_by_id(session, user_id)
    if found is None or found.disabled_at is not None or found.password_hash is None:
        return None  # disabled, or their password taken away: their sessions have ended
    return Holder(KIND, found.id, found.name, found.credentials_at or 0)


USERS = Accounts(kind=KIND, authenticate=_authenticate, load=_load)


def portal_app(web: Web) -> ASGIApp:
    """Build the portal's app over the shared pieces."""
    from kling_gateway.web.portal import routes  # noqa: PLC0415 - the pages import this package's names

    area = Area(
        name="portal",
        prefix="/portal",
        title="kling-gateway portal",
        accounts=USERS,
        nav=NAV,
        parts=web.parts,
        pages=web.pages,
        cookie=web.cookie("portal"),
        limits=web.limits,
    )
    return area_app(area, routes.ROUTES)
