"""Create, find, list, change and disable users, and top up their balances; every query about users lives here."""

from __future__ import annotations

import asyncio
from typing import NamedTuple, TypedDict

import orjson
from sqlalchemy import bindparam, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from kling_gateway import passwords
from kling_gateway.billing import ledger
from kling_gateway.billing.money import format_yuan, yuan_to_micros
from kling_gateway.clock import now_ms
from kling_gateway.errors import InvalidRequest, NotFound, Unauthenticated
from kling_gateway.kling.schemas import Package
from kling_gateway.settings import Settings
from kling_gateway.store.database import Executor, fetch_all
from kling_gateway.store.models import USERS, User

NAME_MAX_CHARS = 64  # the width of the name columns
NOTE_MAX_CHARS = 1000  # an operator's note on a user: a line or two, not a document
INITIAL_BALANCE_NOTE = "initial balance"


class UserChanges(TypedDict, total=False):
    """What `update_user` changes; a field left out stays as it is."""

    video_rate_micros: int | None  # None: the gateway's default price from now on
    image_rate_micros: int | None
    audio_rate_micros: int | None
    note: str


def disabled_message(name: str) -> str:
    """Say why a disabled user's request is refused, and who can change that."""
    return f"the user {name!r} is disabled; ask the operator of this gateway to enable it"


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
    rates: UserChanges = {
        "video_rate_micros": video_rate_micros,
        "image_rate_micros": image_rate_micros,
        "audio_rate_micros": audio_rate_micros,
    }
    _check_changes(rates)
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


async def find_user_by_id(session: AsyncSession, user_id: int) -> User | None:
    """Look a user up by id."""
    return await session.get(User, user_id)


async def require_user(session: AsyncSession, name: str) -> User:
    """Look a user up by name; refuse a name nobody has."""
    user = await find_user(session, name)
    if user is None:
        raise NotFound(f"there is no user named {name!r}; `users list` shows who there is")
    return user


async def list_users(session: AsyncSession) -> list[User]:
    """List every user, oldest first."""
    return list((await session.scalars(select(User).order_by(User.id))).all())


async def update_user(session: AsyncSession, *, name: str, changes: UserChanges) -> User:
    """Change a user's credit prices (for tasks submitted from now on: a task keeps the price of its submit) or
    the operator's note on them; refuse an unknown name."""
    if not changes:
        raise InvalidRequest("nothing to change: give a credit price or a note")
    _check_changes(changes)
    user = await require_user(session, name)
    await session.execute(update(USERS).where(USERS.c.id == user.id).values(**changes))
    await session.refresh(user)
    return user


async def set_disabled(session: AsyncSession, *, name: str, disabled: bool, now_ms: int) -> tuple[User, bool]:
    """Disable a user (their keys are refused, their new tasks too; those in flight finish and are billed) or
    enable them again; tell whether this changed anything. A user disabled twice keeps the first time."""
    user = await require_user(session, name)
    if (user.disabled_at is not None) == disabled:
        return user, False
    await session.execute(update(USERS).where(USERS.c.id == user.id).values(disabled_at=now_ms if disabled else None))
    await session.refresh(user)
    return user, True


async def set_password(session: AsyncSession, *, name: str, password: str, now_ms: int) -> User:
    """Set or reset a user's portal password, ending every portal session they have. Refuse a password too short
    or too long, and an unknown name, storing nothing."""
    passwords.check_rules(password)
    user = await require_user(session, name)
    hashed = await asyncio.to_thread(passwords.hash_password, password)  # a fifth of a second of one core
    # Always a new value, even within the millisecond of the last change: a session's value must stop matching.
    changed_at = max(now_ms, (user.credentials_at or 0) + 1)
    await session.execute(
        update(USERS).where(USERS.c.id == user.id).values(password_hash=hashed, credentials_at=changed_at)
    )
    await session.refresh(user)
    return user


async def check_password(session: AsyncSession, *, name: str, password: str) -> User | None:
    """Find the user a name and password sign in as (disabled or not: the caller says why they may not); None
    for a wrong password, an unknown name or a user with no password, taking as long for each."""
    user = await find_user(session, name)
    if user is None or user.password_hash is None:
        await asyncio.to_thread(passwords.verify_nobody, password)
        return None
    checked = await asyncio.to_thread(passwords.verify, user.password_hash, password)
    if not checked.matches:
        return None
    if checked.rehashed is not None:  # the parameters moved on since: the same password, a stronger hash
        await session.execute(update(USERS).where(USERS.c.id == user.id).values(password_hash=checked.rehashed))
    return user


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


# Built once: every submit reads it.
_RATES = select(
    USERS.c.video_rate_micros, USERS.c.image_rate_micros, USERS.c.audio_rate_micros, USERS.c.name, USERS.c.disabled_at
).where(USERS.c.id == bindparam("user_id"))


async def rates_for_new_task(session: Executor, *, user_id: int, settings: Settings) -> CreditRates:
    """Price one video, image and audio credit for a task a user is about to be held for: their own rate or the
    default. Refuse a disabled user (their keys are refused too, once the key cache forgets them), so that no task
    of theirs is stored or held from the moment they are disabled."""
    [(video, image, audio, name, disabled_at)] = await fetch_all(session, _RATES, {"user_id": user_id}, tuple)
    if disabled_at is not None:
        raise Unauthenticated(disabled_message(name))
    return _rates(video, image, audio, settings)


def _rates(video: int | None, image: int | None, audio: int | None, settings: Settings) -> CreditRates:
    return CreditRates(
        video if video is not None else yuan_to_micros(settings.video_credit_yuan),
        image if image is not None else yuan_to_micros(settings.image_credit_yuan),
        audio if audio is not None else yuan_to_micros(settings.audio_credit_yuan),
    )


def _check_changes(changes: UserChanges) -> None:
    """Refuse a negative credit price or a note that does not fit."""
    for what, rate in (
        ("the video credit price", changes.get("video_rate_micros")),
        ("the image credit price", changes.get("image_rate_micros")),
        ("the audio credit price", changes.get("audio_rate_micros")),
    ):
        if rate is not None:
            _check_not_negative(what, rate)
    if "note" in changes:
        check_name(changes["note"], what="the note", max_chars=NOTE_MAX_CHARS, allow_empty=True)


def _check_not_negative(what: str, micros: int) -> None:
    if micros < 0:
        raise InvalidRequest(f"{what} is {format_yuan(micros)} yuan; it must be 0 or more")
