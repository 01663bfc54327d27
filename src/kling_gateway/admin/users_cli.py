"""The admin commands on users and their money: create, show, list, update, disable and enable them, and add or
correct their credits."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from sqlalchemy.ext.asyncio import AsyncSession

from kling_gateway.admin import (
    AsJson,
    DatabaseUrl,
    NewName,
    PasswordStdin,
    Report,
    grid,
    iso_time,
    parse_yuan,
    password_from_stdin,
    run,
    table,
    yuan_option,
)
from kling_gateway.billing import ledger
from kling_gateway.billing.money import format_yuan
from kling_gateway.clock import now_ms
from kling_gateway.keys import service as keys_service
from kling_gateway.operators import audit
from kling_gateway.settings import get_settings
from kling_gateway.store.models import LedgerEntry, User
from kling_gateway.tasks import admin as tasks_admin
from kling_gateway.users import service as users_service

RECENT_ENTRIES = 20  # ledger entries `users show` lists
ENTRY_FIELDS = ("created_at", "kind", "amount", "task_platform_id", "balance_after", "note")

users_app = typer.Typer(no_args_is_help=True, help="Create, show, list, update, disable and enable users.")
credits_app = typer.Typer(no_args_is_help=True, help="Add money to a user's balance, or correct it.")

UserName = Annotated[str, typer.Argument(help="The user's name.")]


@users_app.command("create")
def create_user(
    name: NewName,
    balance: Annotated[int, yuan_option("Opening balance in yuan (default: 0).")] = 0,
    video_credit_yuan: Annotated[
        int | None, yuan_option("Their price of a video credit (default: KLING_GATEWAY_VIDEO_CREDIT_YUAN).")
    ] = None,
    image_credit_yuan: Annotated[
        int | None, yuan_option("Their price of an image credit (default: KLING_GATEWAY_IMAGE_CREDIT_YUAN).")
    ] = None,
    audio_credit_yuan: Annotated[
        int | None, yuan_option("Their price of an audio credit (default: KLING_GATEWAY_AUDIO_CREDIT_YUAN).")
    ] = None,
    as_json: AsJson = False,
    database_url: DatabaseUrl = None,
) -> None:
    """Add a user, with an opening balance and their own credit prices when given."""

    async def work(session: AsyncSession) -> Report:
        user = await users_service.create_user(
            session,
            name=name,
            balance_micros=balance,
            video_rate_micros=video_credit_yuan,
            image_rate_micros=image_credit_yuan,
            audio_rate_micros=audio_credit_yuan,
        )
        data = _user_data(user)
        return Report({"user": data}, [f"Created user {user.name}.", grid(data)])

    run(work, as_json=as_json, database_url=database_url)


@users_app.command("show")
def show_user(name: UserName, as_json: AsJson = False, database_url: DatabaseUrl = None) -> None:
    """Show a user's money, credit prices, keys and latest ledger entries."""

    async def work(session: AsyncSession) -> Report:
        user = await users_service.require_user(session, name)
        keys = await keys_service.list_keys(session, user_id=user.id)
        active = sum(key.revoked_at is None for key, _ in keys)
        entries = [
            entry_data(entry) for entry in await ledger.recent_entries(session, user_id=user.id, limit=RECENT_ENTRIES)
        ]
        data = _user_data(user)
        summary = grid(data | {"keys": f"{active} active of {len(keys)}"})
        return Report(
            {"user": data, "keys": {"active": active, "total": len(keys)}, "ledger": entries},
            [summary, table(f"Latest ledger entries (up to {RECENT_ENTRIES})", entries, ENTRY_FIELDS)],
        )

    run(work, as_json=as_json, database_url=database_url)


@users_app.command("list")
def list_users(as_json: AsJson = False, database_url: DatabaseUrl = None) -> None:
    """List every user with their balance."""

    async def work(session: AsyncSession) -> Report:
        users = [_user_data(user) for user in await users_service.list_users(session)]
        return Report({"users": users}, [table("Users", users, ("name", "balance", "held", "status", "created_at"))])

    run(work, as_json=as_json, database_url=database_url)


def _rate_option(kind: str) -> Any:
    return typer.Option(
        metavar="YUAN|default",
        help=f"Their price of {kind} credit from now on; `default`: the gateway's. Tasks keep the price they were "
        "submitted at.",
        show_default=False,
    )


@users_app.command("update")
def update_user(
    name: UserName,
    video_credit_yuan: Annotated[str | None, _rate_option("a video")] = None,
    image_credit_yuan: Annotated[str | None, _rate_option("an image")] = None,
    audio_credit_yuan: Annotated[str | None, _rate_option("an audio")] = None,
    note: Annotated[
        str | None, typer.Option(help="The operator's note on the user ('' clears it).", show_default=False)
    ] = None,
    as_json: AsJson = False,
    database_url: DatabaseUrl = None,
) -> None:
    """Change a user's credit prices, for the tasks they submit from now on, or the note on them."""
    changes: users_service.UserChanges = {}
    if video_credit_yuan is not None:
        changes["video_rate_micros"] = _rate_change(video_credit_yuan, "--video-credit-yuan")
    if image_credit_yuan is not None:
        changes["image_rate_micros"] = _rate_change(image_credit_yuan, "--image-credit-yuan")
    if audio_credit_yuan is not None:
        changes["audio_rate_micros"] = _rate_change(audio_credit_yuan, "--audio-credit-yuan")
    if note is not None:
        changes["note"] = note
    if not changes:
        raise typer.BadParameter(
            "nothing to change: give --video-credit-yuan, --image-credit-yuan, --audio-credit-yuan or --note"
        )

    async def work(session: AsyncSession) -> Report:
        user = await users_service.update_user(session, name=name, changes=changes)
        data = _user_data(user)
        return Report({"user": data}, [f"Updated user {user.name}.", grid(data)])

    run(work, as_json=as_json, database_url=database_url)


def _rate_change(text: str, option: str) -> int | None:
    """Read a credit price given to `users update`: yuan, or `default` to follow the gateway's price again."""
    if text.strip().lower() == "default":
        return None
    try:
        return parse_yuan(text)
    except typer.BadParameter as error:
        raise typer.BadParameter(f"{error.message}; or give `default`", param_hint=option) from None


@users_app.command("disable")
def disable_user(name: UserName, as_json: AsJson = False, database_url: DatabaseUrl = None) -> None:
    """Refuse a user's keys and new tasks; the tasks they already have finish and are billed as usual."""

    async def work(session: AsyncSession) -> Report:
        user, changed = await users_service.set_disabled(session, name=name, disabled=True, now_ms=now_ms())
        unfinished = await tasks_admin.unfinished_of_user(session, user_id=user.id)
        since = iso_time(user.disabled_at or 0)
        counted = ", ".join(f"{count} {status}" for status, count in unfinished.items())
        lines = [
            f"User {user.name} is disabled (since {since}): their keys are refused, on a running gateway within "
            f"{get_settings().key_cache_ttl_s:g} s, and so is every new task of theirs."
            if changed
            else f"User {user.name} was already disabled (since {since}).",
            f"Their {sum(unfinished.values())} unfinished tasks ({counted}) finish and are billed as usual."
            if unfinished
            else "They have no unfinished task.",
        ]
        return Report({"user": _user_data(user), "changed": changed, "unfinished": sum(unfinished.values())}, lines)

    run(work, as_json=as_json, database_url=database_url)


@users_app.command("enable")
def enable_user(name: UserName, as_json: AsJson = False, database_url: DatabaseUrl = None) -> None:
    """Let a disabled user's keys work again."""

    async def work(session: AsyncSession) -> Report:
        user, changed = await users_service.set_disabled(session, name=name, disabled=False, now_ms=now_ms())
        line = (
            f"User {user.name} is enabled: their keys work again, on a running gateway within "
            f"{get_settings().key_cache_ttl_s:g} s."
            if changed
            else f"User {user.name} was not disabled."
        )
        return Report({"user": _user_data(user), "changed": changed}, [line])

    run(work, as_json=as_json, database_url=database_url)


@users_app.command("set-password")
def set_password(
    name: UserName, password_stdin: PasswordStdin = False, as_json: AsJson = False, database_url: DatabaseUrl = None
) -> None:
    """Set or reset the password a user signs in to the portal (/portal/) with, from stdin (10 characters or more);
    every portal session they have ends."""
    password = password_from_stdin(password_stdin)

    async def work(session: AsyncSession) -> Report:
        now = now_ms()
        user = await users_service.set_password(session, name=name, password=password, now_ms=now)
        await audit.record(session, actor=audit.COMMAND_LINE, action="user.set_password", target=name, at=now)
        line = f"Set the portal password of user {user.name}; they sign in at /portal/, and older sessions have ended."
        return Report({"user": user.name, "password_set_at": user.credentials_at}, [line])

    run(work, as_json=as_json, database_url=database_url)


@credits_app.command("add", context_settings={"ignore_unknown_options": True})  # so that -5 reads as an amount
def add_credits(
    name: UserName,
    amount: Annotated[int, typer.Argument(parser=parse_yuan, metavar="YUAN", help="Yuan to add; negative corrects.")],
    note: Annotated[str, typer.Option(help="Why, kept in the ledger.")] = "",
    as_json: AsJson = False,
    database_url: DatabaseUrl = None,
) -> None:
    """Add money to a user's balance; a negative amount corrects it, never below what is held for tasks."""

    async def work(session: AsyncSession) -> Report:
        after = await users_service.add_credits(session, name=name, amount_micros=amount, note=note)
        data = {
            "user": name,
            "amount": format_yuan(amount),
            "balance": format_yuan(after.balance_micros),
            "held": format_yuan(after.held_micros),
            "available": format_yuan(after.available_micros),
            "note": note,
        }
        done = f"{'Added' if amount > 0 else 'Corrected by'} {data['amount']} yuan."
        return Report(data, [done, grid(data, ("user", "balance", "held", "available"))])

    run(work, as_json=as_json, database_url=database_url)


def _user_data(user: User) -> dict[str, Any]:
    video, image, audio = users_service.rates_of(user, get_settings())
    return {
        "id": user.id,
        "name": user.name,
        "balance": format_yuan(user.balance_micros),
        "held": format_yuan(user.held_micros),
        "available": format_yuan(user.balance_micros - user.held_micros),
        "video_credit_yuan": format_yuan(video),
        "video_credit_source": "default" if user.video_rate_micros is None else "user",
        "image_credit_yuan": format_yuan(image),
        "image_credit_source": "default" if user.image_rate_micros is None else "user",
        "audio_credit_yuan": format_yuan(audio),
        "audio_credit_source": "default" if user.audio_rate_micros is None else "user",
        "note": user.note,
        "status": "active" if user.disabled_at is None else "disabled",
        "portal_password": user.password_hash is not None,
        "disabled_at": user.disabled_at,
        "created_at": user.created_at,
    }


def entry_data(entry: LedgerEntry) -> dict[str, Any]:
    """Lay out a ledger entry as listings show it, for people and scripts."""
    return {
        "id": entry.id,
        "created_at": entry.created_at,
        "kind": entry.kind,
        "amount": format_yuan(entry.amount_micros),
        "task_platform_id": entry.task_platform_id,
        "balance_after": format_yuan(entry.balance_after_micros),
        "held_after": format_yuan(entry.held_after_micros),
        "note": entry.note,
    }
