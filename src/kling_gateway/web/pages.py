"""Render pages: the Jinja2 environment, the context every page shares, flash messages, and pages for errors."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, NamedTuple

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from kling_gateway.billing.money import format_yuan
from kling_gateway.web.sessions import Signer

FLASH_COOKIE = "kg_flash"
STATIC_PATH = "/web/static"


class Flash(NamedTuple):
    """A message shown once, on the page after a change: `ok` or `error`."""

    level: str
    text: str


class PageError(Exception):
    """A request answered with an error page: its status, a title, and what went wrong and what to do."""

    def __init__(self, status: int, title: str, message: str, *, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.title = title
        self.message = message
        self.headers = dict(headers or {})


def iso_time(ms: int | None) -> str:
    """Write Unix milliseconds as a UTC date and time to the second; nothing as a dash."""
    if ms is None:
        return "–"
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")


def yuan(micros: int | None) -> str:
    """Write micro-yuan as yuan; nothing as a dash."""
    return "–" if micros is None else format_yuan(micros)


def environment() -> Environment:
    """The templates of `web/templates`, escaped, failing loudly on a name the context lacks."""
    env = Environment(
        loader=PackageLoader("kling_gateway.web", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["time"] = iso_time
    env.filters["yuan"] = yuan
    env.globals["static"] = lambda path: f"{STATIC_PATH}/{path}"
    return env


class Pages:
    """Render templates with the context every page shares: the area, who is signed in, the CSRF token, the
    navigation and the flash messages waiting."""

    def __init__(self, signer: Signer) -> None:
        self.env = environment()
        self.signer = signer

    def render(
        self,
        request: Request,
        template: str,
        *,
        status: int = 200,
        headers: Mapping[str, str] | None = None,
        **context: Any,
    ) -> HTMLResponse:
        """Answer a page; the flash messages it shows are forgotten."""
        flashes = self.flashes(request)
        shared = {"request": request, "visit": getattr(request.state, "visit", None), "flashes": flashes}
        body = self.env.get_template(template).render(shared | context)
        response = HTMLResponse(body, status_code=status, headers=dict(headers or {}))
        if flashes:
            response.delete_cookie(FLASH_COOKIE, path="/", httponly=True, samesite="lax")
        return response

    def error(self, request: Request, failure: PageError, **context: Any) -> HTMLResponse:
        """Answer an error as a page of the area it happened in (given as `area`: its title, navigation and way
        back)."""
        return self.render(
            request,
            "error.html",
            status=failure.status,
            headers=failure.headers,
            title=failure.title,
            message=failure.message,
            status_code=failure.status,
            **context,
        )

    def flashes(self, request: Request) -> list[Flash]:
        """The messages the previous answer left for this page."""
        value = self.signer.read(request.cookies.get(FLASH_COOKIE))
        if not isinstance(value, list):
            return []
        return [Flash(str(level), str(text)) for level, text in value if isinstance(text, str)]

    def redirect(self, request: Request, url: str, *flashes: Flash) -> Response:
        """Answer a form with a redirect to the page that shows its outcome (303: the browser GETs it)."""
        response = RedirectResponse(url, status_code=303)
        if flashes:
            response.set_cookie(
                FLASH_COOKIE,
                self.signer.sign([list(flash) for flash in flashes]),
                path="/",
                secure=request.url.scheme == "https",
                httponly=True,
                samesite="lax",
            )
        return response


def ok(text: str) -> Flash:
    """A message that a change was made."""
    return Flash("ok", text)


def failed(text: str) -> Flash:
    """A message that a change was refused, and why."""
    return Flash("error", text)


def pager(items: Sequence[Any], more: bool) -> Any:
    """The last item of a page that has a next one (where the next page starts), else None."""
    return items[-1] if more and items else None
