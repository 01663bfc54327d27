"""The console's channels: list them with their state and slots in use against their limits, add one, edit one,
disable and enable them, checked exactly as `kling-gateway channels` checks them, refusals shown on the form."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from kling_gateway.channels import admin as channels_admin
from kling_gateway.errors import GatewayError, InvalidRequest, NotFound
from kling_gateway.health.status import channels as channel_loads
from kling_gateway.health.tallies import snapshot
from kling_gateway.store.models import Channel
from kling_gateway.web.areas import Visit, field, form_of, visitor
from kling_gateway.web.console.common import id_of, int_field, note, reading, unit_of_work
from kling_gateway.web.pages import ok

NUMBERS = (
    ("priority", "priority", 0),
    ("weight", "weight", 1),
    ("video_concurrency", "video concurrency", 5),
    ("image_concurrency", "image concurrency", 10),
    ("try_on_concurrency", "try-on concurrency", 5),
)
SECRETS = ("access_key", "secret_key", "api_key", "webhook_secret")  # never written back into a form


async def list_page(request: Request) -> Response:
    """List every channel in use, with its state and load."""
    visit = await visitor(request)
    async with reading(visit) as session:
        listed = await channels_admin.list_channels(session)
        loads = {load["name"]: load for load in channel_loads(await snapshot(session))}
    return visit.area.pages.render(
        request, "console/channels.html", title="Channels", area=visit.area, channels=listed, loads=loads
    )


def _form_page(
    visit: Visit, request: Request, *, channel: Channel | None, values: dict[str, Any], error: str | None
) -> Response:
    return visit.area.pages.render(
        request,
        "console/channel_form.html",
        status=400 if error else 200,
        title="Edit channel" if channel else "Add a channel",
        area=visit.area,
        channel=channel,
        values=values,
        numbers=NUMBERS,
        error=error,
    )


async def new_page(request: Request) -> Response:
    """Show the form that adds a channel."""
    visit = await visitor(request)
    defaults = {"name": "", "base_url": "https://api-beijing.klingai.com"} | {name: d for name, _, d in NUMBERS}
    return _form_page(visit, request, channel=None, values=defaults, error=None)


def _numbers(form: FormData) -> dict[str, int]:
    return {name: int_field(form, name, what=what, default=default) or default for name, what, default in NUMBERS}


def _optional(form: FormData, name: str) -> str | None:
    return field(form, name).strip() or None


async def create(request: Request) -> Response:
    """Add an enabled channel; a refusal is shown on the form, with what was typed (its secrets left out)."""
    visit = await visitor(request)
    form = await form_of(request, visit)
    values = {name: field(form, name) for name in ("name", "base_url", *(n for n, _, _ in NUMBERS))}
    try:
        async with unit_of_work(visit) as session:
            channel = await channels_admin.add_channel(
                session,
                name=field(form, "name"),
                base_url=field(form, "base_url").strip(),
                access_key=_optional(form, "access_key"),
                secret_key=_optional(form, "secret_key"),
                api_key=_optional(form, "api_key"),
                webhook_secret=_optional(form, "webhook_secret"),
                **_numbers(form),
            )
            await note(session, visit, "channel.create", channel.name, base_url=channel.base_url)
    except GatewayError as refused:
        return _form_page(visit, request, channel=None, values=values, error=refused.message)
    return visit.area.pages.redirect(request, visit.area.url("/channels"), ok(f"Added channel {channel.name}."))


async def _channel(session: AsyncSession, request: Request) -> Channel:
    wanted = id_of(request, "channel_id")
    found = next((one for one in await channels_admin.list_channels(session) if one.id == wanted), None)
    if found is None:
        raise NotFound("there is no such channel (a removed one cannot be edited); the channels page lists them")
    return found


async def edit_page(request: Request) -> Response:
    """Show the form that edits a channel."""
    visit = await visitor(request)
    async with reading(visit) as session:
        channel = await _channel(session, request)
    values = {"name": channel.name, "base_url": channel.base_url} | {n: getattr(channel, n) for n, _, _ in NUMBERS}
    return _form_page(visit, request, channel=channel, values=values, error=None)


async def update(request: Request) -> Response:
    """Change a channel's settings, and its credentials where new ones are given (empty: kept)."""
    visit = await visitor(request)
    form = await form_of(request, visit)
    values = {"base_url": field(form, "base_url"), **{n: field(form, n) for n, _, _ in NUMBERS}}
    async with reading(visit) as session:
        channel = await _channel(session, request)
    values["name"] = channel.name
    try:
        async with unit_of_work(visit) as session:
            changes = channels_admin.ChannelChanges(base_url=field(form, "base_url").strip(), **_numbers(form))  # type: ignore[typeddict-item]
            if field(form, "clear_webhook_secret"):
                changes["webhook_secret"] = None
            elif webhook := _optional(form, "webhook_secret"):
                changes["webhook_secret"] = webhook
            await channels_admin.update_channel(session, name=channel.name, changes=changes)
            access_key, secret_key = _optional(form, "access_key"), _optional(form, "secret_key")
            api_key = _optional(form, "api_key")
            if (access_key is None) != (secret_key is None):
                raise InvalidRequest("give the access key and the secret key together, or neither to keep the pair")
            if access_key is not None or api_key is not None:
                await channels_admin.update_credentials(
                    session,
                    name=channel.name,
                    key_pair=channels_admin.KEEP
                    if access_key is None or secret_key is None
                    else (access_key, secret_key),
                    api_key=channels_admin.KEEP if api_key is None else api_key,
                )
            changed = sorted(changes) + [name for name in SECRETS if _optional(form, name)]
            await note(session, visit, "channel.update", channel.name, changed=changed)
    except GatewayError as refused:
        return _form_page(visit, request, channel=channel, values=values, error=refused.message)
    return visit.area.pages.redirect(request, visit.area.url("/channels"), ok(f"Saved channel {channel.name}."))


async def set_enabled(request: Request) -> Response:
    """Let a channel take new tasks, or stop it taking them."""
    visit = await visitor(request)
    await form_of(request, visit)
    enable = request.url.path.endswith("/enable")
    async with unit_of_work(visit) as session:
        channel = await _channel(session, request)
        await channels_admin.set_channel_enabled(session, name=channel.name, enabled=enable)
        await note(session, visit, "channel.enable" if enable else "channel.disable", channel.name)
    word = "enabled: it takes new tasks" if enable else "disabled: it takes no new tasks; those on it finish"
    return visit.area.pages.redirect(request, visit.area.url("/channels"), ok(f"Channel {channel.name} is {word}."))
