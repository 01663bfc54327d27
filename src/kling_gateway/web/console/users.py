"""The console's users and keys: list and create users, top them up, set their credit prices, disable and enable
them, set or reset their portal password; issue, revoke and rotate their keys, a new key's secrets shown once, on
the page that answers the POST."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response

from kling_gateway.billing import ledger
from kling_gateway.dialects import Dialect
from kling_gateway.errors import GatewayError, InvalidRequest, NotFound
from kling_gateway.keys import service as keys_service
from kling_gateway.store.models import ApiKey, User
from kling_gateway.users import service as users_service
from kling_gateway.web.areas import Visit, field, form_of, visitor
from kling_gateway.web.console.common import id_of, int_field, note, reading, unit_of_work, yuan_field
from kling_gateway.web.pages import failed, ok

RECENT_ENTRIES = 20
RATE_FIELDS = (("video_rate_micros", "video"), ("image_rate_micros", "image"), ("audio_rate_micros", "audio"))


async def list_page(request: Request) -> Response:
    """List every user, with the form that adds one."""
    visit = await visitor(request)
    async with reading(visit) as session:
        users = await users_service.list_users(session)
    return visit.area.pages.render(request, "console/users.html", title="Users", area=visit.area, users=users)


async def create(request: Request) -> Response:
    """Add a user with an opening balance."""
    visit = await visitor(request)
    form = await form_of(request, visit)
    name = field(form, "name")
    try:
        balance = yuan_field(form, "balance", what="opening balance") or 0
        async with unit_of_work(visit) as session:
            user = await users_service.create_user(session, name=name, balance_micros=balance)
            await note(session, visit, "user.create", name, balance_micros=balance)
    except GatewayError as refused:
        return visit.area.pages.redirect(request, visit.area.url("/users"), failed(refused.message))
    return visit.area.pages.redirect(request, visit.area.url(f"/users/{user.id}"), ok(f"Created user {name}."))


async def _user(visit: Visit, request: Request) -> User:
    async with reading(visit) as session:
        user = await users_service.find_user_by_id(session, id_of(request, "user_id"))
    if user is None:
        raise NotFound("there is no such user; the users page lists who there is")
    return user


async def user_page(request: Request) -> Response:
    """Show a user: their money, prices, keys and latest ledger lines, with the forms that change them."""
    visit = await visitor(request)
    user = await _user(visit, request)
    async with reading(visit) as session:
        keys = await keys_service.list_keys(session, user_id=user.id)
        entries = await ledger.recent_entries(session, user_id=user.id, limit=RECENT_ENTRIES)
    rates = users_service.rates_of(user, visit.area.parts.settings)
    return visit.area.pages.render(
        request,
        "console/user.html",
        title=f"User {user.name}",
        area=visit.area,
        user=user,
        keys=[key for key, _ in keys],
        entries=entries,
        rates=rates,
        dialects=[dialect.value for dialect in Dialect],
    )


async def top_up(request: Request) -> Response:
    """Add money to a user's balance (a negative amount corrects it)."""
    visit = await visitor(request)
    user = await _user(visit, request)
    form = await form_of(request, visit)
    back = visit.area.url(f"/users/{user.id}")
    try:
        amount = yuan_field(form, "amount", what="amount")
        if amount is None:
            raise InvalidRequest("amount: give the yuan to add (or, negative, to take away)")
        async with unit_of_work(visit) as session:
            after = await users_service.add_credits(
                session, name=user.name, amount_micros=amount, note=field(form, "note")
            )
            await note(session, visit, "user.top-up", user.name, amount_micros=amount, note=field(form, "note"))
    except GatewayError as refused:
        return visit.area.pages.redirect(request, back, failed(refused.message))
    done = f"Balance of {user.name} is now {after.balance_micros / 1_000_000:.2f} yuan."
    return visit.area.pages.redirect(request, back, ok(done))


async def set_rates(request: Request) -> Response:
    """Set a user's price of each credit (empty: the gateway's default), for the tasks they submit from now on."""
    visit = await visitor(request)
    user = await _user(visit, request)
    form = await form_of(request, visit)
    back = visit.area.url(f"/users/{user.id}")
    try:
        changes: users_service.UserChanges = {}
        for column, kind in RATE_FIELDS:
            changes[column] = yuan_field(form, kind, what=f"price of a {kind} credit")  # type: ignore[literal-required]
        changes["note"] = field(form, "note")
        async with unit_of_work(visit) as session:
            await users_service.update_user(session, name=user.name, changes=changes)
            await note(session, visit, "user.update", user.name, **{key: value for key, value in changes.items()})
    except GatewayError as refused:
        return visit.area.pages.redirect(request, back, failed(refused.message))
    return visit.area.pages.redirect(request, back, ok(f"Saved the prices and note of {user.name}."))


async def set_enabled(request: Request) -> Response:
    """Disable a user (their keys and new tasks are refused) or enable them again."""
    visit = await visitor(request)
    user = await _user(visit, request)
    await form_of(request, visit)
    disable = request.url.path.endswith("/disable")
    async with unit_of_work(visit) as session:
        _, changed = await users_service.set_disabled(
            session, name=user.name, disabled=disable, now_ms=visit.area.parts.clock.now_ms()
        )
        if changed:
            await note(session, visit, "user.disable" if disable else "user.enable", user.name)
    word = "disabled" if disable else "enabled"
    ttl = visit.area.parts.settings.key_cache_ttl_s
    said = (
        f"{user.name} is {word}; their keys follow within {ttl:g} s." if changed else f"{user.name} was already {word}."
    )
    return visit.area.pages.redirect(request, visit.area.url(f"/users/{user.id}"), ok(said))


async def set_password(request: Request) -> Response:
    """Set or reset the user's portal password; their portal sessions end. The password itself is never noted."""
    visit = await visitor(request)
    user = await _user(visit, request)
    form = await form_of(request, visit)
    back = visit.area.url(f"/users/{user.id}")
    had = user.password_hash is not None
    try:
        async with unit_of_work(visit) as session:
            await users_service.set_password(
                session, name=user.name, password=field(form, "password"), now_ms=visit.area.parts.clock.now_ms()
            )
            await note(session, visit, "user.password-reset" if had else "user.password-set", user.name)
    except GatewayError as refused:
        return visit.area.pages.redirect(request, back, failed(refused.message))
    said = f"{user.name} can sign in to the portal with the new password" + (
        "; their other portal sessions have ended." if had else "."
    )
    return visit.area.pages.redirect(request, back, ok(said))


async def create_key(request: Request) -> Response:
    """Issue a key to the user and show its secrets, this once."""
    visit = await visitor(request)
    user = await _user(visit, request)
    form = await form_of(request, visit)
    try:
        dialect_text = field(form, "dialect")
        dialect = Dialect(dialect_text) if dialect_text else None
        rps_text = field(form, "rps").strip()
        rps = float(rps_text) if rps_text else None
        in_flight = int_field(form, "max_in_flight", what="tasks in flight")
        async with unit_of_work(visit) as session:
            key, secret = await keys_service.create_key(
                session,
                user_id=user.id,
                name=field(form, "name"),
                dialect=dialect,
                rate_limit_rps=rps,
                max_in_flight=in_flight,
            )
            await note(session, visit, "key.create", f"{user.name} key {key.id}", name=key.name)
    except ValueError:
        refused = "the dialect or requests per second is not one the form offers; pick a dialect, write a number"
        return visit.area.pages.redirect(request, visit.area.url(f"/users/{user.id}"), failed(refused))
    except GatewayError as error:
        return visit.area.pages.redirect(request, visit.area.url(f"/users/{user.id}"), failed(error.message))
    return _secret_page(visit, request, user, key, secret, issued="Issued")


async def revoke_key(request: Request) -> Response:
    """Revoke one of the user's keys for good."""
    visit = await visitor(request)
    user = await _user(visit, request)
    await form_of(request, visit)
    key_id = id_of(request, "key_id")
    back = visit.area.url(f"/users/{user.id}")
    async with unit_of_work(visit) as session:
        key = await _key_of(session, user, key_id)
        await keys_service.revoke_key(session, key_id=key.id)
        await note(session, visit, "key.revoke", f"{user.name} key {key.id}")
    ttl = visit.area.parts.settings.key_cache_ttl_s
    return visit.area.pages.redirect(request, back, ok(f"Revoked key {key_id}; it stops working within {ttl:g} s."))


async def rotate_key(request: Request) -> Response:
    """Replace a key: revoke it and issue one like it (name, dialect, limits), whose secrets are shown once."""
    visit = await visitor(request)
    user = await _user(visit, request)
    await form_of(request, visit)
    async with unit_of_work(visit) as session:
        old = await _key_of(session, user, id_of(request, "key_id"))
        if old.revoked_at is not None:
            raise InvalidRequest(f"key {old.id} is revoked already; issue a new key instead")
        await keys_service.revoke_key(session, key_id=old.id)
        key, secret = await keys_service.create_key(
            session,
            user_id=user.id,
            name=old.name,
            dialect=None if old.dialect is None else Dialect(old.dialect),
            rate_limit_rps=old.rate_limit_rps,
            max_in_flight=old.max_in_flight,
        )
        await note(session, visit, "key.rotate", f"{user.name} key {old.id}", replaced_by=key.id)
    return _secret_page(visit, request, user, key, secret, issued=f"Replaced key {old.id} with")


async def _key_of(session: AsyncSession, user: User, key_id: int) -> ApiKey:
    found = await keys_service.find_key(session, key_id=key_id)
    if found is None or found[0].user_id != user.id:
        raise NotFound(f"{user.name} has no key {key_id}")
    return found[0]


def _secret_page(visit: Visit, request: Request, user: User, key: ApiKey, secret: str, *, issued: str) -> Response:
    return visit.area.pages.render(
        request,
        "console/key_secret.html",
        title="New key",
        area=visit.area,
        user=user,
        key=key,
        secret=secret,
        issued=issued,
    )
