"""The admin commands on channels (upstream Kling accounts): add, list, update, enable, disable and remove them."""

from __future__ import annotations

from typing import Annotated, Any, cast

import typer
from sqlalchemy.ext.asyncio import AsyncSession

from kling_gateway.admin import AsJson, DatabaseUrl, NewName, Report, grid, iso_time, run, table
from kling_gateway.channels import admin as channels_service
from kling_gateway.channels import health as channels_health
from kling_gateway.clock import now_ms
from kling_gateway.errors import NotFound
from kling_gateway.settings import get_settings
from kling_gateway.store.models import Channel

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
# What its calls say of it: `channels.health`, flattened for the table.
HEALTH_COLUMNS = ("state", "error_rate", "latency_ms", "last_success_at", "last_error_at", "last_error")
WHSEC_FORM = "whsec_ followed by Base64, as the Kling console's Webhook tab shows it"

channels_app = typer.Typer(
    no_args_is_help=True, help="Add, list, update, enable, disable and remove upstream Kling accounts."
)

ChannelName = Annotated[str, typer.Argument(help="The channel's name.")]


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
def list_channels(
    removed: Annotated[
        bool, typer.Option("--removed", help="Also list removed channels, kept for the tasks that ran on them.")
    ] = False,
    as_json: AsJson = False,
    database_url: DatabaseUrl = None,
) -> None:
    """List the channels, those tried first first, with which credentials each has and what their calls say of
    them (state, error rate, latency p50/p95 over the health window, last success and error); secrets are never
    shown."""

    async def work(session: AsyncSession) -> Report:
        listed = await channels_service.list_channels(session, removed_too=removed)
        health = await channels_health.read_overview(session, now_ms=now_ms(), config=get_settings().channel_health)
        by_id = {channel.id: channel for channel in health}
        channels = [_channel_data(channel) | {"health": _health_data(by_id.get(channel.id))} for channel in listed]
        rows = [channel | _health_cells(by_id.get(channel["id"])) for channel in channels]
        columns = (*CHANNEL_COLUMNS, *HEALTH_COLUMNS, *(("removed_at",) if removed else ()))
        return Report({"channels": channels}, [table("Channels (concurrency per kind)", rows, columns)])

    run(work, as_json=as_json, database_url=database_url)


@channels_app.command("update")
def update_channel(
    name: ChannelName,
    base_url: Annotated[
        str | None, typer.Option(help="The account's API base from now on, e.g. https://api-beijing.klingai.com.")
    ] = None,
    priority: Annotated[int | None, typer.Option(help="Its priority: higher ones are tried first.")] = None,
    weight: Annotated[int | None, typer.Option(help="Its share of traffic among equal priorities (1 or more).")] = None,
    video_concurrency: Annotated[int | None, typer.Option(help="Video tasks running at once (1 or more).")] = None,
    image_concurrency: Annotated[int | None, typer.Option(help="Image slots running at once (1 or more).")] = None,
    try_on_concurrency: Annotated[int | None, typer.Option(help="Try-on tasks running at once (1 or more).")] = None,
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
    """Change any of a channel's settings, checked as `channels add` checks them; new credentials clear a refusal
    noted on it. Tasks already on it stay: a lower limit only holds back new ones."""
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
    given = {
        "base_url": base_url,
        "priority": priority,
        "weight": weight,
        "video_concurrency": video_concurrency,
        "image_concurrency": image_concurrency,
        "try_on_concurrency": try_on_concurrency,
        "webhook_secret": webhook_secret,
    }
    # The options are named as the fields are, each of its field's type.
    changes = cast(
        channels_service.ChannelChanges, {field: value for field, value in given.items() if value is not None}
    )
    if unsigned_callbacks:
        changes["webhook_secret"] = None
    if not credentials and not changes:
        raise typer.BadParameter(
            "nothing to update: give --base-url, --priority, --weight, --video-concurrency, --image-concurrency, "
            "--try-on-concurrency, --webhook-secret whsec_… or --no-webhook-secret, and/or new credentials "
            "(--api-key KEY or --no-api-key; --access-key AK --secret-key SK or --no-key-pair)"
        )

    async def work(session: AsyncSession) -> Report:
        lines = []
        channel: Channel | None = None
        if changes:
            channel = await channels_service.update_channel(session, name=name, changes=changes)
            if channel is not None:
                lines.extend(_changed_lines(channel, changes))
        if credentials:
            channel = await channels_service.update_credentials(
                session, name=name, key_pair=pair_change, api_key=api_change
            )
            if channel is not None:
                lines.append(f"Credentials of channel {channel.name} updated: {_credentials(channel)}.")
        if channel is None:
            raise NotFound(f"there is no channel named {name!r}; `channels list` shows them")
        return Report({"channel": _channel_data(channel)}, lines)

    run(work, as_json=as_json, database_url=database_url)


def _changed_lines(channel: Channel, changes: channels_service.ChannelChanges) -> list[str]:
    """Say what an update changed, never a secret."""
    lines = []
    settings = [field for field in CHANNEL_FIELDS if field in changes]
    if settings:
        shown = ", ".join(f"{field.replace('_', ' ')} {getattr(channel, field)}" for field in settings)
        lines.append(f"Channel {channel.name} now has {shown}.")
    if "webhook_secret" in changes:
        signed = "must now be signed with the new secret" if changes["webhook_secret"] else "no longer need signatures"
        lines.append(f"Callbacks of channel {channel.name} {signed}.")
    return lines


@channels_app.command("remove")
def remove_channel(name: ChannelName, as_json: AsJson = False, database_url: DatabaseUrl = None) -> None:
    """Remove a channel with no unfinished task: deleted if it never ran one, else kept out of sight (disabled, its
    secrets wiped) so that each of its tasks still says where it ran."""

    async def work(session: AsyncSession) -> Report:
        removal = await channels_service.remove_channel(session, name=name, now_ms=now_ms())
        if removal is None:
            raise NotFound(f"there is no channel named {name!r}; `channels list` shows them")
        if removal.deleted:
            line = f"Channel {name} is removed: it had run no task, so nothing of it is kept."
        else:
            line = (
                f"Channel {name} is removed (since {iso_time(removal.channel.removed_at or 0)}): its tasks keep it as "
                "their channel and its secrets are wiped; `channels list --removed` still shows it."
            )
        return Report({"channel": _channel_data(removal.channel), "deleted": removal.deleted}, [line])

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
        "removed_at": channel.removed_at,
    }


def _health_data(health: channels_health.ChannelHealth | None) -> dict[str, Any] | None:
    return None if health is None else health.as_json()  # a removed channel has none


def _health_cells(health: channels_health.ChannelHealth | None) -> dict[str, Any]:
    """A channel's health as the table's cells show it."""
    if health is None:
        return dict.fromkeys(HEALTH_COLUMNS)
    return {
        "state": health.state.value,
        "error_rate": f"{health.error_ratio:.0%} of {health.calls}",
        "latency_ms": _latency(health),
        "last_success_at": health.last_success_at,
        "last_error_at": health.last_error_at,
        "last_error": health.last_error or None,
    }


def _latency(health: channels_health.ChannelHealth) -> str | None:
    """Write a channel's latency percentiles as `p50/p95`, in milliseconds."""
    return None if health.p50_ms is None else f"{health.p50_ms}/{health.p95_ms}"


def _credentials(channel: Channel) -> str:
    """Name the credentials a channel has, never their values."""
    held = [name for name, value in (("API key", channel.api_key), ("key pair", channel.secret_key)) if value]
    return " + ".join(held) or "none"
