"""The operator console at `/console/`: the gateway's state, tasks, users and keys, channels, usage and the audit
log, for operators signed in with their own accounts."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.types import ASGIApp

from kling_gateway.operators import service as operators
from kling_gateway.web.areas import Accounts, Area, Holder, area_app
from kling_gateway.web.shared import Web

KIND = "operator"
NAV = (
    ("/", "Overview"),
    ("/tasks", "Tasks"),
    ("/users", "Users"),
    ("/channels", "Channels"),
    ("/usage", "Usage"),
    ("/audit", "Audit log"),
)


async def _authenticate(session: AsyncSession, name: str, password: str) -> Holder | None:
    found = await operators.authenticate(session, name=name, password=password)
    return None if found is None else Holder(KIND, found.id, found.name, found.credentials_at)


async def _load(session: AsyncSession, operator_id: int) -> Holder | None:
    found = await operators.find_operator(session, operator_id=operator_id)
    if found is None or found.disabled:
        return None
    return Holder(KIND, found.id, found.name, found.credentials_at)


OPERATORS = Accounts(kind=KIND, authenticate=_authenticate, load=_load)


def console_app(web: Web) -> ASGIApp:
    """Build the console's app over the shared pieces."""
    from kling_gateway.web.console import routes  # noqa: PLC0415 - the pages import this package's names

    area = Area(
        name="console",
        prefix="/console",
        title="kling-gateway console",
        accounts=OPERATORS,
        nav=NAV,
        parts=web.parts,
        pages=web.pages,
        cookie=web.cookie("console"),
        limits=web.limits,
    )
    return area_app(area, routes.ROUTES)
