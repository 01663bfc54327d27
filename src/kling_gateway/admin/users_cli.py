"""The admin commands on users and their money: create, show, list, and credits added or corrected."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from sqlalchemy.ext.asyncio import AsyncSession

from kling_gateway.admin import AsJson, DatabaseUrl, NewName, Report, grid, parse_yuan, run, table, yuan_option
from kling_gateway.billing import ledger
from kling_gateway.billing.money import format_yuan
from kling_gateway.keys import service as keys_service
from kling_gateway.settings import get_settings
from kling_gateway.store.models import LedgerEntry, User
from kling_gateway.users import service as users_service

RECENT_ENTRIES = 20  # ledger entries `users show` lists
ENTRY_FIELDS = ("created_at", "kind", "amount", "task_platform_id", "balance_after", "note")

users_app = typer.Typer(no_args_is_help=True, help="Create, show and list users.")
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
            _entry_data(entry) for entry in await ledger.recent_entries(session, user_id=user.id, limit=RECENT_ENTRIES)
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
        return Report({"users": users}, [table("Users", users, ("name", "balance", "held", "created_at"))])

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
        "created_at": user.created_at,
    }


def _entry_data(entry: LedgerEntry) -> dict[str, Any]:
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
