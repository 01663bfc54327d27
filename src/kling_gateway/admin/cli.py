"""The admin commands: users, credits, keys and channels, on the database directly, server running or not."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import typer
from rich.console import RenderableType
from rich.text import Text
from sqlalchemy.ext.asyncio import AsyncSession

from kling_gateway.admin import AsJson, DatabaseUrl, Report, grid, iso_time, parse_yuan, run, table
from kling_gateway.admin.callbacks_cli import callbacks_app
from kling_gateway.admin.models_cli import models_app
from kling_gateway.admin.reconcile_cli import reconcile_command
from kling_gateway.billing import ledger
from kling_gateway.billing.money import format_yuan
from kling_gateway.channels import admin as channels_service
from kling_gateway.dialects import Dialect
from kling_gateway.errors import NotFound
from kling_gateway.keys import service as keys_service
from kling_gateway.settings import get_settings
from kling_gateway.store.models import ApiKey, Channel, LedgerEntry, User
from kling_gateway.users import service as users_service

RECENT_ENTRIES = 20  # ledger entries `users show` lists
ENTRY_FIELDS = ("created_at", "kind", "amount", "task_platform_id", "balance_after", "note")
KEY_FIELDS = ("id", "user", "name", "prefix", "access_key", "dialect", "created_at", "status")
LIMIT_FIELDS = ("id", "user", "name", "requests_per_second", "tasks_in_flight")
BY_DEFAULT = "default: the gateway's, KLING_GATEWAY_ADMISSION__* in the settings"
Number = TypeVar("Number", int, float)
DIALECTS = ", ".join(Dialect)  # the response shapes a key can ask for by default
# Named one by one, so that a channel's secret key and API key can never reach any output.
CHANNEL_FIELDS = (
    "name",
    "base_url",
    "access_key",
    "priority",
    "weight",
    "video_concurrency",
    "image_concurrency",
    "try_on_concurrency",
    "enabled",
)
# Which credentials a channel has and whether callbacks must be signed, never the secrets; why it was refused.
CHANNEL_COLUMNS = (*CHANNEL_FIELDS, "credentials", "webhook_secret_set", "misconfigured")
WHSEC_FORM = "whsec_ followed by Base64, as the Kling console's Webhook tab shows it"

users_app = typer.Typer(no_args_is_help=True, help="Create, show and list users.")
credits_app = typer.Typer(no_args_is_help=True, help="Add money to a user's balance, or correct it.")
keys_app = typer.Typer(
    no_args_is_help=True, help="Issue, list, update and revoke users' API keys, and rotate their webhook secrets."
)
channels_app = typer.Typer(no_args_is_help=True, help="Add, list, update, enable and disable upstream Kling accounts.")

UserName = Annotated[str, typer.Argument(help="The user's name.")]
ChannelName = Annotated[str, typer.Argument(help="The channel's name.")]
NewName = Annotated[str, typer.Argument(help="A unique name: 1 to 64 printable characters.")]
KeyId = Annotated[int, typer.Argument(help="The key's id, from `keys list`.")]


def _yuan_option(help_text: str) -> Any:
    return typer.Option(parser=parse_yuan, metavar="YUAN", help=help_text, show_default=False)


def register_admin_commands(app: typer.Typer) -> None:
    """Add the users, credits, keys, channels and callbacks commands to the main command line."""
    app.add_typer(users_app, name="users")
    app.add_typer(credits_app, name="credits")
    app.add_typer(keys_app, name="keys")
    app.add_typer(channels_app, name="channels")
    app.add_typer(callbacks_app, name="callbacks")
    app.add_typer(models_app, name="models")
    app.command("reconcile")(reconcile_command)


# --- users and credits ---


@users_app.command("create")
def create_user(
    name: NewName,
    balance: Annotated[int, _yuan_option("Opening balance in yuan (default: 0).")] = 0,
    video_credit_yuan: Annotated[
        int | None, _yuan_option("Their price of a video credit (default: KLING_GATEWAY_VIDEO_CREDIT_YUAN).")
    ] = None,
    image_credit_yuan: Annotated[
        int | None, _yuan_option("Their price of an image credit (default: KLING_GATEWAY_IMAGE_CREDIT_YUAN).")
    ] = None,
    audio_credit_yuan: Annotated[
        int | None, _yuan_option("Their price of an audio credit (default: KLING_GATEWAY_AUDIO_CREDIT_YUAN).")
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


# --- keys ---


@keys_app.command("create")
def create_key(
    user: Annotated[str, typer.Option(help="The name of the user the key is for.", show_default=False)],
    name: Annotated[str, typer.Option(help="A label to tell the user's keys apart.")] = "",
    dialect: Annotated[
        Dialect | None,
        typer.Option(help=f"Its default response shape: {DIALECTS} (default: kling).", show_default=False),
    ] = None,
    rps: Annotated[
        float | None,
        typer.Option("--rps", metavar="N", help=f"Requests per second it may send, e.g. 2 or 0.5 ({BY_DEFAULT})."),
    ] = None,
    max_in_flight: Annotated[
        int | None, typer.Option(metavar="N", help=f"Its unfinished tasks at once ({BY_DEFAULT}).")
    ] = None,
    as_json: AsJson = False,
    database_url: DatabaseUrl = None,
) -> None:
    """Issue an API key, an access-key/secret-key pair and a webhook secret to a user; they are shown this once."""

    async def work(session: AsyncSession) -> Report:
        owner = await users_service.require_user(session, user)
        key, secret = await keys_service.create_key(
            session, user_id=owner.id, name=name, dialect=dialect, rate_limit_rps=rps, max_in_flight=max_in_flight
        )
        data = _key_data(key, owner.name)
        warning = Text(
            "This is the only time the key is shown: store the API key, the secret key and the webhook secret now. "
            "Only the API key's hash is kept; the secret key and the webhook secret are kept to check and sign, "
            "and never shown again.",
            style="bold",
        )
        return Report(
            {
                "key": data,
                "secret": secret,
                "access_key": key.access_key,
                "secret_key": key.secret_key,
                "webhook_secret": key.webhook_secret,
                "dialect": data["dialect"],
            },
            [
                f"Key {key.id} for {owner.name}, answering in the {_dialect_label(data)} dialect:",
                f"API key         {secret}",
                f"access key      {key.access_key}",
                f"secret key      {key.secret_key}",
                f"webhook secret  {key.webhook_secret}",
                f"limits          {_limits_label(data)}",
                warning,
            ],
        )

    run(work, as_json=as_json, database_url=database_url)


@keys_app.command("list")
def list_keys(
    user: Annotated[str | None, typer.Option(help="Only this user's keys.", show_default=False)] = None,
    as_json: AsJson = False,
    database_url: DatabaseUrl = None,
) -> None:
    """List API keys by their prefixes and access keys (never a secret), their dialects, limits and state."""

    async def work(session: AsyncSession) -> Report:
        user_id = None if user is None else (await users_service.require_user(session, user)).id
        keys = [_key_data(key, owner) for key, owner in await keys_service.list_keys(session, user_id=user_id)]
        rows = [key | {"dialect": _dialect_label(key)} for key in keys]
        text: list[RenderableType] = [table("API keys", rows, KEY_FIELDS)]
        limited = [
            key
            | {
                "requests_per_second": _limit_label(key, "rate_limit_rps"),
                "tasks_in_flight": _limit_label(key, "max_in_flight"),
            }
            for key in keys
            if "key" in (key["rate_limit_rps_source"], key["max_in_flight_source"])
        ]
        if limited:
            text.append(table("Keys with limits of their own", limited, LIMIT_FIELDS))
        defaults = get_settings().admission
        text.append(
            "Other keys get the gateway's defaults: "
            f"requests per second {_limit_text(defaults.requests_per_second)}, "
            f"tasks in flight {_limit_text(defaults.tasks_in_flight)}."
        )
        return Report({"keys": keys}, text)

    run(work, as_json=as_json, database_url=database_url)


@keys_app.command("update")
def update_key(
    key_id: KeyId,
    dialect: Annotated[
        Dialect | None, typer.Option(help=f"Its default response shape from now on: {DIALECTS}.", show_default=False)
    ] = None,
    rps: Annotated[
        str | None,
        typer.Option(
            "--rps",
            metavar="N|default",
            help="Requests per second it may send from now on, e.g. 2 or 0.5; `default`: the gateway's.",
            show_default=False,
        ),
    ] = None,
    max_in_flight: Annotated[
        str | None,
        typer.Option(
            metavar="N|default",
            help="Its unfinished tasks at once from now on; `default`: the gateway's.",
            show_default=False,
        ),
    ] = None,
    as_json: AsJson = False,
    database_url: DatabaseUrl = None,
) -> None:
    """Change the response dialect a key gets by default, or its limits; a running gateway applies them in seconds."""
    changes: keys_service.KeyChanges = {}
    if dialect is not None:
        changes["dialect"] = dialect
    if rps is not None:
        changes["rate_limit_rps"] = _limit_change(rps, float, "--rps", "requests per second, e.g. 2 or 0.5")
    if max_in_flight is not None:
        changes["max_in_flight"] = _limit_change(max_in_flight, int, "--max-in-flight", "a whole number, e.g. 5")
    if not changes:
        raise typer.BadParameter("nothing to change: give --dialect, --rps or --max-in-flight")

    async def work(session: AsyncSession) -> Report:
        found = await keys_service.find_key(session, key_id=key_id)
        key = None if found is None else await keys_service.update_key(session, key_id=key_id, changes=changes)
        if found is None or key is None:
            raise NotFound(f"there is no key with id {key_id}; `keys list` shows them")
        data = _key_data(key, found[1])
        lines: list[str] = []
        if "dialect" in changes:
            lines.append(f"Key {key.id} ({key.key_prefix}) now answers in the {data['dialect']} dialect by default.")
        if changes.keys() & {"rate_limit_rps", "max_in_flight"}:
            lines.append(f"Key {key.id} ({key.key_prefix}) now has these limits: {_limits_label(data)}.")
        return Report({"key": data}, lines)

    run(work, as_json=as_json, database_url=database_url)


@keys_app.command("rotate-webhook-secret")
def rotate_webhook_secret(key_id: KeyId, as_json: AsJson = False, database_url: DatabaseUrl = None) -> None:
    """Give a key a new webhook secret and print it; it is shown this once and signs every callback from now on."""

    async def work(session: AsyncSession) -> Report:
        found = await keys_service.find_key(session, key_id=key_id)
        key = None if found is None else await keys_service.rotate_webhook_secret(session, key_id=key_id)
        if found is None or key is None:
            raise NotFound(f"there is no key with id {key_id}; `keys list` shows them")
        warning = Text(
            "This is the only time the new webhook secret is shown: store it now. "
            "Callbacks are signed with it from now on; the old secret no longer signs anything.",
            style="bold",
        )
        return Report(
            {"key": _key_data(key, found[1]), "webhook_secret": key.webhook_secret},
            [
                f"Key {key.id} ({key.key_prefix}) has a new webhook secret:",
                f"webhook secret  {key.webhook_secret}",
                warning,
            ],
        )

    run(work, as_json=as_json, database_url=database_url)


@keys_app.command("revoke")
def revoke_key(key_id: KeyId, as_json: AsJson = False, database_url: DatabaseUrl = None) -> None:
    """Revoke an API key, and its access-key/secret-key pair, for good; revoking a revoked key changes nothing."""

    async def work(session: AsyncSession) -> Report:
        found = await keys_service.find_key(session, key_id=key_id)
        already = found is not None and found[0].revoked_at is not None  # read before revoking refreshes the row
        key = None if found is None else await keys_service.revoke_key(session, key_id=key_id)
        if found is None or key is None:
            raise NotFound(f"there is no key with id {key_id}; `keys list` shows them")
        state = "was already revoked" if already else "is now revoked"
        line = f"Key {key.id} ({key.key_prefix}) {state} (since {iso_time(key.revoked_at or 0)})."
        return Report({"key": _key_data(key, found[1]), "already_revoked": already}, [line])

    run(work, as_json=as_json, database_url=database_url)


def _key_data(key: ApiKey, user_name: str) -> dict[str, Any]:
    # Named one by one, so that a key's secret key and webhook secret can never reach a listing.
    limits = keys_service.KeyLimits.of(
        rate_limit_rps=key.rate_limit_rps, max_in_flight=key.max_in_flight, defaults=get_settings().admission
    )
    return {
        "id": key.id,
        "user_id": key.user_id,
        "user": user_name,
        "name": key.name,
        "prefix": key.key_prefix,
        "access_key": key.access_key,
        "dialect": key.dialect or Dialect.KLING.value,
        "dialect_source": "default" if key.dialect is None else "key",
        # A limit as it applies (the key's own, else the gateway's default; None: no limit) and where it comes from.
        "rate_limit_rps": limits.requests_per_second,
        "rate_limit_rps_source": "key" if limits.own_rate else "default",
        "max_in_flight": limits.tasks_in_flight,
        "max_in_flight_source": "key" if limits.own_in_flight else "default",
        "webhook_secret_set": key.webhook_secret is not None,
        "created_at": key.created_at,
        "revoked_at": key.revoked_at,
        "status": "active" if key.revoked_at is None else "revoked",
    }


def _dialect_label(key: dict[str, Any]) -> str:
    return f"{key['dialect']} (default)" if key["dialect_source"] == "default" else str(key["dialect"])


def _limit_label(key: dict[str, Any], limit: str) -> str:
    value = _limit_text(key[limit])
    return f"{value} (default)" if key[f"{limit}_source"] == "default" else value


def _limit_text(value: float | None) -> str:
    return "unlimited" if value is None else f"{value:g}"


def _limits_label(key: dict[str, Any]) -> str:
    rps, in_flight = _limit_label(key, "rate_limit_rps"), _limit_label(key, "max_in_flight")
    return f"requests per second {rps}, tasks in flight {in_flight}"


def _limit_change(text: str, number: Callable[[str], Number], option: str, form: str) -> Number | None:
    """Read a limit given to `keys update`: a number, or `default` to follow the gateway's default again."""
    if text.strip().lower() == "default":
        return None
    try:
        return number(text)
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not a limit; give {form}, or `default`", param_hint=option) from None


# --- channels ---


@channels_app.command("add")
def add_channel(
    name: NewName,
    base_url: Annotated[str, typer.Option(help="The account's API base, e.g. https://api-beijing.klingai.com.")],
    access_key: Annotated[
        str | None, typer.Option(help="The account's access key (legacy /v1 endpoints only).", show_default=False)
    ] = None,
    secret_key: Annotated[
        str | None, typer.Option(help="The account's secret key, with --access-key; never printed.", show_default=False)
    ] = None,
    api_key: Annotated[
        str | None,
        typer.Option(
            help="The account's API key (both generations; the new one takes only it); never printed.",
            show_default=False,
        ),
    ] = None,
    priority: Annotated[int, typer.Option(help="Channels of higher priority are tried first.")] = 0,
    weight: Annotated[int, typer.Option(help="Share of traffic among equal priorities (1 or more).")] = 1,
    video_concurrency: Annotated[int, typer.Option(help="Video tasks running at once (1 or more).")] = 5,
    image_concurrency: Annotated[int, typer.Option(help="Image slots running at once (1 or more).")] = 10,
    try_on_concurrency: Annotated[int, typer.Option(help="Try-on tasks running at once (1 or more).")] = 5,
    webhook_secret: Annotated[
        str | None,
        typer.Option(
            help=f"The account's webhook secret, {WHSEC_FORM}: callbacks must then be signed with it; never printed.",
            show_default=False,
        ),
    ] = None,
    as_json: AsJson = False,
    database_url: DatabaseUrl = None,
) -> None:
    """Add an upstream Kling account that tasks can run on: with an API key, a key pair, or both."""

    async def work(session: AsyncSession) -> Report:
        channel = await channels_service.add_channel(
            session,
            name=name,
            base_url=base_url,
            access_key=access_key,
            secret_key=secret_key,
            api_key=api_key,
            priority=priority,
            weight=weight,
            video_concurrency=video_concurrency,
            image_concurrency=image_concurrency,
            try_on_concurrency=try_on_concurrency,
            webhook_secret=webhook_secret,
        )
        data = _channel_data(channel)
        return Report({"channel": data}, [f"Added channel {channel.name}.", grid(data, CHANNEL_COLUMNS)])

    run(work, as_json=as_json, database_url=database_url)


@channels_app.command("list")
def list_channels(as_json: AsJson = False, database_url: DatabaseUrl = None) -> None:
    """List the channels, those tried first first, with which credentials each has; secrets are never shown."""

    async def work(session: AsyncSession) -> Report:
        channels = [_channel_data(channel) for channel in await channels_service.list_channels(session)]
        return Report({"channels": channels}, [table("Channels (concurrency per kind)", channels, CHANNEL_COLUMNS)])

    run(work, as_json=as_json, database_url=database_url)


@channels_app.command("update")
def update_channel(
    name: ChannelName,
    webhook_secret: Annotated[
        str | None,
        typer.Option(
            help=f"Require callbacks signed with this webhook secret, {WHSEC_FORM}; never printed.",
            show_default=False,
        ),
    ] = None,
    unsigned_callbacks: Annotated[
        bool, typer.Option("--no-webhook-secret", help="Accept callbacks without signatures again.")
    ] = False,
    api_key: Annotated[
        str | None, typer.Option(help="Set the account's API key; never printed.", show_default=False)
    ] = None,
    no_api_key: Annotated[bool, typer.Option("--no-api-key", help="Remove the channel's API key.")] = False,
    access_key: Annotated[
        str | None, typer.Option(help="Set the access key, with --secret-key.", show_default=False)
    ] = None,
    secret_key: Annotated[
        str | None, typer.Option(help="Set the secret key, with --access-key; never printed.", show_default=False)
    ] = None,
    no_key_pair: Annotated[
        bool, typer.Option("--no-key-pair", help="Remove the channel's access-key/secret-key pair.")
    ] = False,
    as_json: AsJson = False,
    database_url: DatabaseUrl = None,
) -> None:
    """Set or clear a channel's credentials (which clears a refusal noted on it) or its webhook secret."""
    if webhook_secret is not None and unsigned_callbacks:
        raise typer.BadParameter("give exactly one of --webhook-secret whsec_… and --no-webhook-secret")
    if api_key is not None and no_api_key:
        raise typer.BadParameter("give --api-key KEY or --no-api-key, not both")
    if (access_key is not None or secret_key is not None) and no_key_pair:
        raise typer.BadParameter("give --access-key AK --secret-key SK or --no-key-pair, not both")
    if (access_key is None) != (secret_key is None):
        raise typer.BadParameter("the access key and the secret key come together: give both, or --no-key-pair")
    api_change: str | channels_service.Keep | None = None if no_api_key else (api_key or channels_service.KEEP)
    pair_change: tuple[str, str] | channels_service.Keep | None = None if no_key_pair else channels_service.KEEP
    if access_key is not None and secret_key is not None:
        pair_change = (access_key, secret_key)
    credentials = api_change is not channels_service.KEEP or pair_change is not channels_service.KEEP
    callbacks = webhook_secret is not None or unsigned_callbacks
    if not credentials and not callbacks:
        raise typer.BadParameter(
            "nothing to update: give exactly one of --webhook-secret whsec_… and --no-webhook-secret, and/or new "
            "credentials (--api-key KEY or --no-api-key; --access-key AK --secret-key SK or --no-key-pair)"
        )

    async def work(session: AsyncSession) -> Report:
        lines = []
        channel: Channel | None = None
        if credentials:
            channel = await channels_service.update_credentials(
                session, name=name, key_pair=pair_change, api_key=api_change
            )
            if channel is not None:
                lines.append(f"Credentials of channel {channel.name} updated: {_credentials(channel)}.")
        if callbacks:
            channel = await channels_service.set_webhook_secret(session, name=name, webhook_secret=webhook_secret)
            if channel is not None:
                state = (
                    "no longer need signatures" if webhook_secret is None else "must now be signed with the new secret"
                )
                lines.append(f"Callbacks of channel {channel.name} {state}.")
        if channel is None:
            raise NotFound(f"there is no channel named {name!r}; `channels list` shows them")
        return Report({"channel": _channel_data(channel)}, lines)

    run(work, as_json=as_json, database_url=database_url)


@channels_app.command("disable")
def disable_channel(name: ChannelName, as_json: AsJson = False, database_url: DatabaseUrl = None) -> None:
    """Stop giving a channel new tasks."""
    _set_enabled(name, enabled=False, as_json=as_json, database_url=database_url)


@channels_app.command("enable")
def enable_channel(name: ChannelName, as_json: AsJson = False, database_url: DatabaseUrl = None) -> None:
    """Let a channel take new tasks again."""
    _set_enabled(name, enabled=True, as_json=as_json, database_url=database_url)


def _set_enabled(name: str, *, enabled: bool, as_json: bool, database_url: str | None) -> None:
    async def work(session: AsyncSession) -> Report:
        channel = await channels_service.set_channel_enabled(session, name=name, enabled=enabled)
        if channel is None:
            raise NotFound(f"there is no channel named {name!r}; `channels list` shows them")
        state = "enabled" if enabled else "disabled: it takes no new tasks"
        return Report({"channel": _channel_data(channel)}, [f"Channel {channel.name} is {state}."])

    run(work, as_json=as_json, database_url=database_url)


def _channel_data(channel: Channel) -> dict[str, Any]:
    return {
        "id": channel.id,
        **{field: getattr(channel, field) for field in CHANNEL_FIELDS},
        "credentials": _credentials(channel),
        "api_key_set": channel.api_key is not None,
        "key_pair_set": channel.secret_key is not None,
        "webhook_secret_set": channel.webhook_secret is not None,
        "misconfigured": channel.misconfigured,
        "created_at": channel.created_at,
    }


def _credentials(channel: Channel) -> str:
    """Name the credentials a channel has, never their values."""
    held = [name for name, value in (("API key", channel.api_key), ("key pair", channel.secret_key)) if value]
    return " + ".join(held) or "none"
