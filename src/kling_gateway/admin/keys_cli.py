"""The admin commands on API keys: issue, list, update and revoke them, and rotate their webhook secrets."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import typer
from rich.console import RenderableType
from rich.text import Text
from sqlalchemy.ext.asyncio import AsyncSession

from kling_gateway.admin import AsJson, DatabaseUrl, Report, iso_time, run, table
from kling_gateway.dialects import Dialect
from kling_gateway.errors import NotFound
from kling_gateway.keys import service as keys_service
from kling_gateway.settings import get_settings
from kling_gateway.store.models import ApiKey
from kling_gateway.users import service as users_service

KEY_FIELDS = ("id", "user", "name", "prefix", "access_key", "dialect", "created_at", "status")
LIMIT_FIELDS = ("id", "user", "name", "requests_per_second", "tasks_in_flight")
BY_DEFAULT = "default: the gateway's, KLING_GATEWAY_ADMISSION__* in the settings"
Number = TypeVar("Number", int, float)
DIALECTS = ", ".join(Dialect)  # the response shapes a key can ask for by default

keys_app = typer.Typer(
    no_args_is_help=True, help="Issue, list, update and revoke users' API keys, and rotate their webhook secrets."
)

KeyId = Annotated[int, typer.Argument(help="The key's id, from `keys list`.")]


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
