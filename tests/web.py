"""A browser's part in a form's life, for in-process tests of the pages: keep cookies, read a page's CSRF token,
send its forms, and read what the page says."""

from __future__ import annotations

import html
import re
from collections.abc import Mapping

import httpx

from tests.gateway import OPERATOR_PASSWORD, RunningGateway

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
TAGS = re.compile(r"<[^>]+>")


def csrf_of(page: httpx.Response) -> str:
    """The CSRF token a page's forms carry."""
    found = CSRF.search(page.text)
    assert found is not None, f"no form with a CSRF token on {page.url}"
    return found.group(1)


def text_of(page: httpx.Response) -> str:
    """A page's words, without its markup, on one line."""
    return " ".join(html.unescape(TAGS.sub(" ", page.text)).split())


class Browser:
    """One visitor's cookies, over the gateway's in-process network; redirects are followed as a browser does."""

    def __init__(self, gw: RunningGateway) -> None:
        self.http = gw.network.client(base_url=gw.url, follow_redirects=True, timeout=15)

    def get(self, path: str) -> httpx.Response:
        return self.http.get(path)

    def submit(self, page_path: str, action: str, fields: Mapping[str, str] | None = None) -> httpx.Response:
        """Open a page and send one of its forms (to `action`) with its CSRF token and these fields."""
        token = csrf_of(self.get(page_path))
        return self.http.post(action, data={"csrf_token": token, **(fields or {})})

    def sign_in(self, name: str, password: str = OPERATOR_PASSWORD, *, area: str = "/console") -> httpx.Response:
        """Sign in through the area's form."""
        return self.submit(f"{area}/login", f"{area}/login", {"username": name, "password": password})

    def close(self) -> None:
        self.http.close()
