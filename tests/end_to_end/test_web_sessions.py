"""Signing in to the console and what protects it, in-process: sessions that end when they should, forms refused
without their CSRF token or from another origin, sign-in failures held to a few a minute, errors answered as pages
with the security headers on, and the operators' command line."""

from __future__ import annotations

import json
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kling_gateway.cli import app
from kling_gateway.clock import ManualClock
from kling_gateway.web.secret import kept_secret
from kling_gateway.web.sessions import Signer
from tests.gateway import TEST_WEB, GatewayFactory, RunningGateway
from tests.web import Browser, csrf_of, text_of

runner = CliRunner()
OTHER_PASSWORD = "another long passphrase"


@pytest.fixture
def gw(gateway_factory: GatewayFactory) -> RunningGateway:
    gateway = gateway_factory(worker=False)
    gateway.admin.operator("root")
    return gateway


@pytest.fixture
def browser(gw: RunningGateway) -> Iterator[Browser]:
    opened = Browser(gw)
    yield opened
    opened.close()


def test_an_operator_signs_in_and_out_and_a_wrong_password_is_refused(gw: RunningGateway, browser: Browser) -> None:
    first = browser.get("/console/")
    assert (first.url.path, first.status_code) == ("/console/login", 200)
    assert "Sign in to continue." in text_of(first)
    wrong = browser.sign_in("root", "not the password at all")
    assert wrong.status_code == 401
    assert "That name and password do not match" in text_of(wrong)
    assert browser.sign_in("nobody", "not the password at all").status_code == 401
    signed_in = browser.sign_in("root")
    assert (signed_in.url.path, signed_in.status_code) == ("/console/", 200)
    assert "Signed in as root." in text_of(signed_in)
    cookie = next(c for c in browser.http.cookies.jar if c.name == "kg_console")
    assert (cookie.path, cookie.secure, cookie.has_nonstandard_attr("HttpOnly")) == ("/console", False, True)
    out = browser.submit("/console/", "/console/logout")
    assert (out.url.path, "Signed out." in text_of(out)) == ("/console/login", True)
    assert browser.get("/console/").url.path == "/console/login"


def test_a_session_ends_when_its_operator_is_disabled_or_changes_password(gw: RunningGateway) -> None:
    def operators(*arguments: str) -> None:
        result = runner.invoke(
            app, ["operators", *arguments, "--database-url", gw.admin.database_url], input=OTHER_PASSWORD + "\n"
        )
        assert result.exit_code == 0, result.output

    for change, then in ((("disable", "root"), ("enable", "root")), (("set-password", "root", "--password-stdin"), ())):
        browser = Browser(gw)
        assert browser.sign_in("root").url.path == "/console/"
        operators(*change)
        assert browser.get("/console/").url.path == "/console/login", change
        browser.close()
        if then:
            operators(*then)
    browser = Browser(gw)
    assert browser.sign_in("root").status_code == 401  # the old password no longer works
    assert browser.sign_in("root", OTHER_PASSWORD).url.path == "/console/"
    browser.close()


def test_a_session_ends_when_it_expires_and_a_forged_cookie_is_nobody(gateway_factory: GatewayFactory) -> None:
    clock = ManualClock()
    gw = gateway_factory(worker=False, clock=clock)
    gw.admin.operator("root")
    browser = Browser(gw)
    browser.sign_in("root")
    clock.advance(s=TEST_WEB.session_ttl_s - 1)
    assert browser.get("/console/").url.path == "/console/"
    clock.advance(s=2)
    assert browser.get("/console/").url.path == "/console/login"
    browser.close()
    forger = Browser(gw)
    value = Signer(lambda: b"another gateway's secret").sign(["operator", 1, clock.now_ms(), "token", 0])
    forger.http.cookies.set("kg_console", value, domain=forger.http.base_url.host, path="/console")
    assert forger.get("/console/").url.path == "/console/login"
    forger.close()


def test_the_session_secret_is_generated_once_for_this_user_alone(tmp_path: Path) -> None:
    path = tmp_path / "data" / "web-session-secret"
    first = kept_secret(path)
    assert len(first) >= 40
    assert kept_secret(path) == first
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_form_without_its_token_or_from_another_origin_is_refused(gw: RunningGateway, browser: Browser) -> None:
    browser.sign_in("root")
    page = browser.get("/console/")
    for data, headers in (
        ({}, {}),
        ({"csrf_token": "forged"}, {}),
        ({"csrf_token": csrf_of(page)}, {"Origin": "https://elsewhere.example"}),
    ):
        refused = browser.http.post("/console/logout", data=data, headers=headers)
        assert refused.status_code == 403, data
        assert "Form refused" in text_of(refused)
        assert refused.headers["content-type"].startswith("text/html")
    assert browser.get("/console/").url.path == "/console/"  # still signed in: nothing was done


def test_sign_in_failures_are_held_to_a_few_a_minute(gw: RunningGateway, browser: Browser) -> None:
    for _ in range(5):
        assert browser.sign_in("root", "wrong guess number n").status_code == 401
    held = browser.sign_in("root")  # even the right password waits now
    assert held.status_code == 429
    assert int(held.headers["retry-after"]) >= 1
    assert "Too many failed sign-ins" in text_of(held)


def test_errors_are_pages_with_the_security_headers(gw: RunningGateway, browser: Browser) -> None:
    browser.sign_in("root")
    missing = browser.get("/console/no-such-page")
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("text/html")
    assert "There is no page at /console/no-such-page" in text_of(missing)
    headers = missing.headers
    assert "script-src 'self'" in headers["content-security-policy"]
    assert "unsafe-inline" not in headers["content-security-policy"]
    assert (headers["x-frame-options"], headers["referrer-policy"], headers["cache-control"]) == (
        "DENY",
        "same-origin",
        "no-store",
    )
    wrong_method = browser.http.delete("/console/")
    assert (wrong_method.status_code, wrong_method.headers["content-type"][:9]) == (405, "text/html")
    css = browser.get("/web/static/web.css")
    assert (css.status_code, css.headers["cache-control"]) == (200, "public, max-age=3600")
    assert browser.get("/console").url.path == "/console/"


def test_the_operators_command_line(database_url: str) -> None:
    def admin(*arguments: str, stdin: str = "", exit_code: int = 0) -> str:
        result = runner.invoke(app, [*arguments, "--database-url", database_url], input=stdin)
        assert result.exit_code == exit_code, result.output
        return result.output

    short = admin("operators", "create", "ops", "--password-stdin", stdin="short\n", exit_code=1)
    assert "the password is 5 characters long; use at least 10" in short
    assert "--password-stdin" in admin("operators", "create", "ops", exit_code=1)
    admin("operators", "create", "ops", "--password-stdin", stdin=OTHER_PASSWORD + "\n")
    taken = admin("operators", "create", "ops", "--password-stdin", stdin=OTHER_PASSWORD + "\n", exit_code=1)
    assert "an operator named 'ops' already exists" in taken
    assert "Operator ops is disabled" in admin("operators", "disable", "ops")
    assert "was already disabled" in admin("operators", "disable", "ops")
    listed = json.loads(admin("operators", "list", "--json").splitlines()[-1])
    assert [(o["name"], o["status"]) for o in listed["operators"]] == [("ops", "disabled")]
    assert "there is no operator named 'nobody'" in admin(
        "operators", "set-password", "nobody", "--password-stdin", stdin=OTHER_PASSWORD + "\n", exit_code=1
    )
