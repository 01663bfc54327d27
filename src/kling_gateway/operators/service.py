"""Create, list, disable and re-password operators, and check who signs in; every query about operators lives here.

Disabling an operator or changing their password moves their `credentials_at`: every session issued before carries
the old value and is refused from then on.
"""

from __future__ import annotations

from typing import NamedTuple

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from kling_gateway import passwords
from kling_gateway.errors import InvalidRequest, NotFound
from kling_gateway.store.models import OPERATORS, Operator
from kling_gateway.users.service import check_name


class OperatorLine(NamedTuple):
    """An operator as listings show them: never their password hash."""

    id: int
    name: str
    disabled: bool
    credentials_at: int
    created_at: int


_LINE = select(
    OPERATORS.c.id, OPERATORS.c.name, OPERATORS.c.disabled, OPERATORS.c.credentials_at, OPERATORS.c.created_at
)


async def create_operator(session: AsyncSession, *, name: str, password: str, now_ms: int) -> OperatorLine:
    """Add an operator who may sign in with this password; refuse a taken name or a password the rules refuse."""
    check_name(name, what="operator name")
    hashed = passwords.hash_password(password)
    operator = Operator(name=name, password_hash=hashed, disabled=False, credentials_at=now_ms, created_at=now_ms)
    session.add(operator)
    try:
        await session.flush()
    except IntegrityError:
        raise InvalidRequest(f"an operator named {name!r} already exists; choose another name") from None
    return _line(operator)


async def list_operators(session: AsyncSession) -> list[OperatorLine]:
    """List every operator, oldest first."""
    return [OperatorLine(*row) for row in (await session.execute(_LINE.order_by(OPERATORS.c.id))).all()]


async def find_operator(session: AsyncSession, *, operator_id: int) -> OperatorLine | None:
    """Look an operator up by id (what a session names)."""
    row = (await session.execute(_LINE.where(OPERATORS.c.id == operator_id))).one_or_none()
    return None if row is None else OperatorLine(*row)


async def set_disabled(session: AsyncSession, *, name: str, disabled: bool, now_ms: int) -> tuple[OperatorLine, bool]:
    """Stop an operator signing in, ending their sessions, or let them again; tell whether this changed anything."""
    operator = await _require(session, name)
    if operator.disabled == disabled:
        return _line(operator), False
    changes = {"disabled": disabled} | ({"credentials_at": _later(operator, now_ms)} if disabled else {})
    await session.execute(update(OPERATORS).where(OPERATORS.c.id == operator.id).values(**changes))
    await session.refresh(operator)
    return _line(operator), True


async def set_password(session: AsyncSession, *, name: str, password: str, now_ms: int) -> OperatorLine:
    """Give an operator a new password, ending every session they have."""
    operator = await _require(session, name)
    hashed = passwords.hash_password(password)
    await session.execute(
        update(OPERATORS)
        .where(OPERATORS.c.id == operator.id)
        .values(password_hash=hashed, credentials_at=_later(operator, now_ms))
    )
    await session.refresh(operator)
    return _line(operator)


async def authenticate(session: AsyncSession, *, name: str, password: str) -> OperatorLine | None:
    """Return the enabled operator with this name and password, else None, taking as long either way; a hash of
    stale parameters is replaced."""
    operator: Operator | None = await session.scalar(select(Operator).where(Operator.name == name))
    if operator is None:
        passwords.verify_nobody(password)
        return None
    checked = passwords.verify(operator.password_hash, password)
    if not checked.matches or operator.disabled:
        return None
    if checked.rehashed is not None:
        await session.execute(
            update(OPERATORS).where(OPERATORS.c.id == operator.id).values(password_hash=checked.rehashed)
        )
    return _line(operator)


async def _require(session: AsyncSession, name: str) -> Operator:
    operator: Operator | None = await session.scalar(select(Operator).where(Operator.name == name))
    if operator is None:
        raise NotFound(f"there is no operator named {name!r}; `operators list` shows who there is")
    return operator


def _later(operator: Operator, now_ms: int) -> int:
    # Always a new value, even within the millisecond of the last change: a session's value must stop matching.
    return max(now_ms, operator.credentials_at + 1)


def _line(operator: Operator) -> OperatorLine:
    return OperatorLine(operator.id, operator.name, operator.disabled, operator.credentials_at, operator.created_at)
