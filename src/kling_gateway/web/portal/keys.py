"""The user's API keys: list them, issue one (its secret shown on that answer only, with the commands to use it),
and revoke one of their own."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from kling_gateway.keys import service as keys_service
from kling_gateway.web.areas import field, form_of
from kling_gateway.web.pages import PageError, failed, ok
from kling_gateway.web.portal.common import public_base_url, signed_in

T2V = "/kling/v1/videos/text2video"


async def page(request: Request) -> Response:
    """List the user's keys, oldest first, with a form to issue another."""
    signed = await signed_in(request)
    async with signed.area.parts.db.session() as session:
        keys = [key for key, _ in await keys_service.list_keys(session, user_id=signed.user_id)]
    return signed.area.pages.render(request, "portal/keys.html", title="Keys", area=signed.area, keys=keys)


async def create(request: Request) -> Response:
    """Issue a key to the user and show its secret, this once, with `curl` lines that use it."""
    signed = await signed_in(request)
    form = await form_of(request, signed.visit)
    name = field(form, "name").strip()
    async with signed.area.parts.db.session() as session, session.begin():
        key, secret = await keys_service.create_key(session, user_id=signed.user_id, name=name)
    base = public_base_url(request, signed.area)
    auth = f'-H "Authorization: Bearer {secret}"'
    commands = [
        f'curl "{base}{T2V}?pageNum=1&pageSize=30" {auth}',
        f'curl -X POST "{base}{T2V}" {auth} -H "Content-Type: application/json" '
        '-d \'{"model_name": "kling-v2-6", "prompt": "a paper boat on a river"}\'',
    ]
    return signed.area.pages.render(
        request,
        "portal/key_secret.html",
        status=201,
        title="Your new key",
        area=signed.area,
        key=key,
        secret=secret,
        commands=commands,
    )


async def revoke(request: Request) -> Response:
    """Revoke one of the user's keys for good; a key of anyone else's is as unknown as one nobody has."""
    signed = await signed_in(request)
    await form_of(request, signed.visit)
    key_id = int(request.path_params["key_id"])
    async with signed.area.parts.db.session() as session, session.begin():
        found = await keys_service.find_key(session, key_id=key_id)
        if found is None or found[0].user_id != signed.user_id:
            raise PageError(404, "Not found", f"You have no key number {key_id}.")
        if found[0].revoked_at is not None:
            flash = failed(f"Key {found[0].key_prefix} was already revoked.")
        else:
            await keys_service.revoke_key(session, key_id=key_id)
            flash = ok(f"Key {found[0].key_prefix} is revoked: requests with it are refused within seconds.")
    return signed.area.pages.redirect(request, signed.area.url("/keys"), flash)
