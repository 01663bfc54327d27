"""Browser fixtures shared by the console's and the portal's tests: one Chromium per test process (Debian's, at
/usr/bin/chromium: no browser is ever downloaded), a page per test, a gateway listening on a loopback port, and a
screenshot of every page visited in tests/browser/screenshots/ (not kept in git)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Playwright, sync_playwright

from tests.gateway import OPERATOR_PASSWORD, GatewayFactory, RunningGateway

CHROMIUM = "/usr/bin/chromium"
SCREENSHOTS = Path(__file__).parent / "screenshots"
TIMEOUT_MS = 10_000  # a page of a gateway on loopback answers in milliseconds; this is for a loaded machine
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as started:
        yield started


@pytest.fixture(scope="session")
def chromium(playwright: Playwright) -> Iterator[Browser]:
    """The test process's one browser."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no {CHROMIUM}: `apt-get install chromium` (.ci/run does)")
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--autoplay-policy=no-user-gesture-required"])
    yield browser
    browser.close()


@dataclass
class Visitor:
    """A browser tab on a gateway: `goto` a path and every page it shows is screenshotted as `shot` names it."""

    page: Page
    base_url: str
    test_name: str
    shots: list[Path] = field(default_factory=list)

    def goto(self, path: str) -> Page:
        """Open a page of the gateway and take its picture."""
        self.page.goto(self.base_url + path)
        self.shot()
        return self.page

    def shot(self, name: str | None = None) -> Path:
        """Take a picture of the page as it is now."""
        label = name or self.page.url.removeprefix(self.base_url).strip("/") or "root"
        path = SCREENSHOTS / f"{self.test_name}-{len(self.shots):02d}-{re.sub(r'[^A-Za-z0-9]+', '_', label)}.png"
        self.page.screenshot(path=str(path), full_page=True)
        self.shots.append(path)
        return path

    def sign_in(self, name: str, password: str = OPERATOR_PASSWORD, *, area: str = "/console") -> None:
        """Sign in through the area's form."""
        self.goto(f"{area}/login")
        self.page.get_by_label("Name").fill(name)
        self.page.get_by_label("Password").fill(password)
        self.page.get_by_role("button", name="Sign in").click()
        self.page.wait_for_load_state()
        self.shot()


@pytest.fixture
def web_gateway(gateway_factory: GatewayFactory) -> RunningGateway:
    """A gateway on a loopback port, with an operator `root` (password OPERATOR_PASSWORD) and users alice and bob."""
    gateway = gateway_factory(listen=True)
    gateway.admin.operator("root")
    return gateway


def _visitor(
    chromium: Browser, gateway: RunningGateway, request: pytest.FixtureRequest, **options: object
) -> Iterator[Visitor]:
    SCREENSHOTS.mkdir(exist_ok=True)
    context = chromium.new_context(**options)  # type: ignore[arg-type]  # keyword options, passed as given
    context.set_default_timeout(TIMEOUT_MS)
    name = re.sub(r"[^A-Za-z0-9]+", "_", request.node.name)[:60]
    yield Visitor(context.new_page(), gateway.url, name)
    context.close()


@pytest.fixture
def visitor(chromium: Browser, web_gateway: RunningGateway, request: pytest.FixtureRequest) -> Iterator[Visitor]:
    """A fresh tab (its own cookies) on the web gateway, desktop-sized."""
    yield from _visitor(chromium, web_gateway, request, viewport={"width": 1280, "height": 900})


@pytest.fixture
def phone_visitor(chromium: Browser, web_gateway: RunningGateway, request: pytest.FixtureRequest) -> Iterator[Visitor]:
    """A fresh tab on the web gateway the size of a phone."""
    yield from _visitor(chromium, web_gateway, request, viewport=PHONE, is_mobile=True)
