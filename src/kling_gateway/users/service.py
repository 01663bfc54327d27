"""Create, find and list users, and top up their balances; every query about users lives here."""

from __future__ import annotations

from typing import NamedTuple

import orjson
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from kling_gateway.billing import ledger
from kling_gateway.billing.money import format_yuan, yuan_to_micros
from kling_gateway.clock import now_ms
from kling_gateway.errors import InvalidRequest, NotFound
from kling_gateway.kling.schemas import Package
from kling_gateway.settings import Settings
from kling_gateway.store.database import Executor
from kling_gateway.store.models import USERS, User

NAME_MAX_CHARS = 64  # the width of the name columns
INITIAL_BALANCE_NOTE = "initial balance"


def check_name(value: str, *, what: str, max_chars: int = NAME_MAX_CHARS, allow_empty: bool = False) -> str:
    """Refuse a name that is empty, too long, padded with spaces or holds control characters."""
    if not value and allow_empty:
        return value
    if not value or len(value) > max_chars or value != value.strip() or not value.isprintable():
        length = f"up to {max_chars}" if allow_empty else f"1 to {max_chars}"
        raise InvalidRequest(
            f"{what} {value!r} is not allowed: use {length} printable characters, no spaces at either end"
        )
    return value


async def create_user(
    session: AsyncSession,
    *,
    name: str,
    balance_micros: int = 0,
    video_rate_micros: int | None = None,
    image_rate_micros: int | None = None,
    audio_rate_micros: int | None = None,
) -> User:
    """Add a user; an opening balance goes through the ledger as a top-up, so the ledger always adds up."""
    check_name(name, what="user name")
    _check_not_negative("the opening balance", balance_micros)
    rates = (
        ("the video credit price", video_rate_micros),
        ("the image credit price", image_rate_micros),
        ("the audio credit price", audio_rate_micros),
    )
    for what, rate in rates:
        if rate is not None:
            _check_not_negative(what, rate)
    user = User(
        name=name,
        balance_micros=0,
        held_micros=0,
        video_rate_micros=video_rate_micros,
        image_rate_micros=image_rate_micros,
        audio_rate_micros=audio_rate_micros,
        created_at=now_ms(),
    )
    session.add(user)
    try:
        await session.flush()
    except IntegrityError:
        # Also the outcome of two admins racing for one name: the unique index decides, not a prior read.
        raise InvalidRequest(f"a user named {name!r} already exists; choose another name") from None
    if balance_micros:
        await ledger.top_up(session, user_id=user.id, amount_micros=balance_micros, note=INITIAL_BALANCE_NOTE)
        await session.refresh(user)
    return user


async def find_user(session: AsyncSession, name: str) -> User | None:
    """Look a user up by name."""
    result: User | None = await session.scalar(select(User).where(User.name == name))
    return result


async def require_user(session: AsyncSession, name: str) -> User:
    """Look a user up by name; refuse a name nobody has."""
    user = await find_user(session, name)
    if user is None:
        raise NotFound(f"there is no user named {name!r}; `users list` shows who there is")
    return user


async def list_users(session: AsyncSession) -> list[User]:
    """List every user, oldest first."""
    return list((await session.scalars(select(User).order_by(User.id))).all())


async def add_credits(session: AsyncSession, *, name: str, amount_micros: int, note: str = "") -> ledger.Balance:
    """Top up a user's balance by name; a negative amount corrects it, never below what is held."""
    if amount_micros == 0:
        raise InvalidRequest("the amount is 0; give a positive amount to add or a negative one to correct")
    user = await require_user(session, name)
    try:
        return await ledger.top_up(session, user_id=user.id, amount_micros=amount_micros, note=note)
    except ValueError as error:
        balance = f"balance {format_yuan(user.balance_micros)}, held {format_yuan(user.held_micros)}"
        raise InvalidRequest(f"{error} ({name}: {balance})") from None


class CreditRates(NamedTuple):
    """What one credit of each package costs a user, in micro-yuan."""

    video_micros: int
    image_micros: int
    audio_micros: int

    def of(self, package: Package) -> int:
        """What one credit of a package costs, in µ¥."""
        if package is Package.IMAGE:
            return self.image_micros
        return self.audio_micros if package is Package.AUDIO else self.video_micros

    def as_json(self) -> str:
        """The rates as a task keeps them (`tasks.rates_json`): µ¥ per credit by `billing[].package_type`."""
        return orjson.dumps(
            {"video": self.video_micros, "image": self.image_micros, "audio": self.audio_micros}
        ).decode()


def rates_of(user: User, settings: Settings) -> CreditRates:
    """Price one video, image and audio credit for this user in micro-yuan: their own rate or the default."""
    return _rates(user.video_rate_micros, user.image_rate_micros, user.audio_rate_micros, settings)


async def credit_rates(session: Executor, *, user_id: int, settings: Settings) -> CreditRates:
    """Price one video, image and audio credit for a user, by id: their own rate or the default."""
    columns = (USERS.c.video_rate_micros, USERS.c.image_rate_micros, USERS.c.audio_rate_micros)
    video, image, audio = (await session.execute(select(*columns).where(USERS.c.id == user_id))).one()
    return _rates(video, image, audio, settings)


def _rates(video: int | None, image: int | None, audio: int | None, settings: Settings) -> CreditRates:
    return CreditRates(
        video if video is not None else yuan_to_micros(settings.video_credit_yuan),
        image if image is not None else yuan_to_micros(settings.image_credit_yuan),
        audio if audio is not None else yuan_to_micros(settings.audio_credit_yuan),
    )


def _check_not_negative(what: str, micros: int) -> None:
    if micros < 0:
        raise InvalidRequest(f"{what} is {format_yuan(micros)} yuan; it must be 0 or more")
