"""One area of pages (the console, the portal): its session cookie, who may sign in to it, its sign-in and
sign-out pages, its CSRF checks, and an edge that answers every failure as a page with the security headers on.

A page handler asks `visitor(request)` for who is signed in (redirected to sign in when nobody is) and, for a
form, `form_of(request, visit)`, which refuses a POST without the session's CSRF token or from another origin.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import NamedTuple
from urllib.parse import urlsplit

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.middleware.exceptions import ExceptionMiddleware
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route, Router
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kling_gateway.errors import GatewayError, NotFound, RateLimited
from kling_gateway.web.pages import PageError, Pages, failed, ok
from kling_gateway.web.parts import Parts
from kling_gateway.web.sessions import ANONYMOUS, Session, SessionCookie
from kling_gateway.web.signin import SignInLimits

log = logging.getLogger(__name__)

CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; media-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = (
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (b"x-content-type-options", b"nosniff"),
)
NO_STORE = (b"cache-control", b"no-store")  # pages show balances and secrets: never kept by a cache


class Holder(NamedTuple):
    """Who a session belongs to, as the area's accounts know them now."""

    kind: str  # operator | user
    id: int
    name: str
    credentials_at: int  # a session issued under another value has ended


Authenticate = Callable[[AsyncSession, str, str], Awaitable[Holder | None]]
LoadHolder = Callable[[AsyncSession, int], Awaitable[Holder | None]]


@dataclass(frozen=True)
class Accounts:
    """Who may sign in to an area: how to check a name and password, and how to find a session's holder (None for
    one who is gone or disabled)."""

    kind: str
    authenticate: Authenticate
    load: LoadHolder


@dataclass(frozen=True)
class Visit:
    """The request's session, and its holder when signed in."""

    area: Area
    session: Session
    holder: Holder | None

    @property
    def csrf(self) -> str:
        """The token every form of this session carries."""
        return self.session.csrf


@dataclass
class Area:
    """An area of pages under one prefix, for one kind of account."""

    name: str  # console | portal: the cookie's and the rate limit's name
    prefix: str  # /console
    title: str  # what the pages' titles end with
    accounts: Accounts
    nav: Sequence[tuple[str, str]]  # (path under the prefix, label) of the navigation
    parts: Parts
    pages: Pages
    cookie: SessionCookie
    limits: SignInLimits

    def url(self, path: str = "/") -> str:
        """An absolute path inside the area."""
        return f"{self.prefix}{path}"


AREA_KEY = "kling_gateway.web.area"  # where the scope carries the area a request is in


def area_of(request: Request) -> Area:
    """The area a request is in."""
    area: Area = request.scope[AREA_KEY]
    return area


async def visitor(request: Request) -> Visit:
    """Return the signed-in visit of the request; send anyone else to the sign-in page."""
    visit = await current_visit(request)
    if visit.holder is None:
        area = visit.area
        raise SignInNeeded(area.url("/login"))
    return visit


async def current_visit(request: Request) -> Visit:
    """Return the request's visit: its holder, if its session is still theirs, and an anonymous one otherwise."""
    cached: Visit | None = getattr(request.state, "visit", None)
    if cached is not None:
        return cached
    area = area_of(request)
    now = area.parts.clock.now_ms()
    session = area.cookie.read(request, now_ms=now)
    holder = None
    if session is not None and session.kind == area.accounts.kind:
        async with area.parts.db.session() as db:
            found = await area.accounts.load(db, session.holder_id)
        if found is not None and found.credentials_at == session.credentials_at:
            holder = found
    if holder is None and (session is None or session.kind != ANONYMOUS):
        session = Session.anonymous(now_ms=now)
        request.state.new_session = session  # the edge sets it on the answer
    assert session is not None
    visit = Visit(area, session, holder)
    request.state.visit = visit
    return visit


async def form_of(request: Request, visit: Visit) -> FormData:
    """Read a POSTed form; refuse it (403) unless it carries the session's CSRF token and, when the browser names
    one, comes from this site's own origin."""
    origin = request.headers.get("origin")
    if origin is not None and urlsplit(origin).netloc != request.headers.get("host", ""):
        raise PageError(
            403,
            "Form refused",
            f"The form was sent from another site ({origin}); changes are taken only from pages of this gateway.",
        )
    form = await request.form()
    token = form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER) or ""
    if not isinstance(token, str) or not hmac.compare_digest(token.encode(), visit.csrf.encode()):
        raise PageError(
            403,
            "Form refused",
            "The form did not carry this session's security token (it may be from an older page, or your session "
            "ended). Reload the page and send it again.",
        )
    return form


def field(form: FormData, name: str) -> str:
    """A text field of a form, stripped of nothing; '' when absent."""
    value = form.get(name)
    return value if isinstance(value, str) else ""


class SignInNeeded(Exception):
    """Nobody is signed in: the answer is the sign-in page."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.url = url


# -- sign-in and sign-out ---------------------------------------------------------------------------------------


async def sign_in_page(request: Request) -> Response:
    """Show the sign-in form (or, to someone signed in, the area's first page)."""
    visit = await current_visit(request)
    if visit.holder is not None:
        return RedirectResponse(visit.area.url("/"), status_code=303)
    return visit.area.pages.render(request, "login.html", title="Sign in", area=visit.area, username="", error=None)


async def sign_in(request: Request) -> Response:
    """Check a name and password; start a session with a fresh CSRF token, or say the pair was wrong."""
    visit = await current_visit(request)
    area = visit.area
    form = await form_of(request, visit)
    name, password = field(form, "username").strip(), field(form, "password")
    address = request.client.host if request.client else "unknown"
    wait_s = await area.limits.retry_after_s(area.name, name=name, address=address)
    if wait_s is not None:
        raise PageError(
            429,
            "Too many sign-in attempts",
            f"Too many failed sign-ins for this name or from this address in the last minute; try again in {wait_s} s.",
            headers={"Retry-After": str(wait_s)},
        )
    async with area.parts.db.session() as db, db.begin():
        holder = await area.accounts.authenticate(db, name, password)
    if holder is None:
        await area.limits.failed(area.name, name=name, address=address)
        return area.pages.render(
            request,
            "login.html",
            status=401,
            title="Sign in",
            area=area,
            username=name,
            error="That name and password do not match an account that may sign in.",
        )
    session = Session.signed_in(
        holder.kind, holder.id, credentials_at=holder.credentials_at, now_ms=area.parts.clock.now_ms()
    )
    response = area.pages.redirect(request, area.url("/"), ok(f"Signed in as {holder.name}."))
    area.cookie.write(response, request, session)
    return response


async def sign_out(request: Request) -> Response:
    """End the session (its cookie goes) and go back to the sign-in page."""
    visit = await current_visit(request)
    await form_of(request, visit)
    response = visit.area.pages.redirect(request, visit.area.url("/login"), ok("Signed out."))
    visit.area.cookie.clear(response, request)
    return response


def sign_in_routes() -> list[BaseRoute]:
    """The sign-in page, its form, and sign-out."""
    return [
        Route("/login", sign_in_page, methods=["GET"]),
        Route("/login", sign_in, methods=["POST"]),
        Route("/logout", sign_out, methods=["POST"]),
    ]


# -- the area's app and its edge ---------------------------------------------------------------------------------


def area_app(area: Area, routes: Sequence[BaseRoute]) -> ASGIApp:
    """Build the area's app: its routes and sign-in routes, every error a page, every answer with the security
    headers."""
    handlers = {
        HTTPException: _http_exception,
        GatewayError: _gateway_error,
        PageError: _page_error,
        SignInNeeded: _sign_in_needed,
    }
    # A router, not an app of its own: a failure nobody expected reaches the edge before any answer has started.
    return PageEdge(ExceptionMiddleware(Router([*sign_in_routes(), *routes]), handlers=handlers), area)


async def _sign_in_needed(request: Request, needed: Exception) -> Response:
    assert isinstance(needed, SignInNeeded)
    return area_of(request).pages.redirect(request, needed.url, failed("Sign in to continue."))


def _error_page(request: Request, failure: PageError) -> Response:
    """The error as a page of its area, with the area's title and navigation."""
    area = area_of(request)
    return area.pages.error(request, failure, area=area)


async def _page_error(request: Request, failure: Exception) -> Response:
    assert isinstance(failure, PageError)
    return _error_page(request, failure)


async def _http_exception(request: Request, failure: Exception) -> Response:
    assert isinstance(failure, HTTPException)
    if failure.status_code == 404:
        page = PageError(404, "Not found", f"There is no page at {request.url.path}.")
    elif failure.status_code == 405:
        page = PageError(405, "Not allowed", f"{request.method} is not allowed on {request.url.path}.")
    else:
        page = PageError(failure.status_code, "Refused", str(failure.detail))
    return _error_page(request, page)


async def _gateway_error(request: Request, failure: Exception) -> Response:
    assert isinstance(failure, GatewayError)
    if isinstance(failure, NotFound):
        page = PageError(404, "Not found", failure.message)
    elif isinstance(failure, RateLimited):
        page = PageError(429, "Too many at once", failure.message)
    else:
        page = PageError(failure.http_status, "Refused", failure.message)
    return _error_page(request, page)


class PageEdge:
    """Wrap an area's app: sign-in redirects, a page for an unexpected failure, the security headers, no caching
    of pages, and the anonymous session cookie a visitor was given."""

    def __init__(self, app: ASGIApp, area: Area) -> None:
        self.app = app
        self.area = area

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False
        scope[AREA_KEY] = self.area
        request = Request(scope, receive)

        async def guarded(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = list(message.get("headers", []))
                names = {name for name, _ in headers}
                headers += [header for header in SECURITY_HEADERS if header[0] not in names]
                if b"cache-control" not in names:
                    headers.append(NO_STORE)
                headers += _new_session_cookie(request, self.area)
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, guarded)
        except Exception:
            if started:
                raise
            log.exception("page %s %s failed", scope["method"], scope["path"])
            page = PageError(
                500,
                "Something went wrong",
                "The gateway could not answer this page; it has noted why. Try again in a moment.",
            )
            await self.area.pages.error(request, page, area=self.area)(scope, receive, guarded)


def _new_session_cookie(request: Request, area: Area) -> list[tuple[bytes, bytes]]:
    session: Session | None = getattr(request.state, "new_session", None)
    if session is None:
        return []
    carrier = Response()
    area.cookie.write(carrier, request, session)
    return [(name, value) for name, value in carrier.raw_headers if name == b"set-cookie"]
