"""Browser fixtures shared by the console's and the portal's tests: one Chromium per test process (Debian's, at
/usr/bin/chromium: no browser is ever downloaded), a page per test, a gateway listening on a loopback port, and a
screenshot of every page visited in tests/browser/screenshots/ (not kept in git).

Playwright's sync API keeps an event loop running in the thread that started it, where `asyncio.run` (the command
line, the database fixtures) then refuses to run; so it runs in a thread of its own, and the tests' calls on its
objects are carried there (`InThread`): a test uses them as Playwright's own, `with page.expect_…()` included."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import pytest
from playwright.sync_api import Browser, Page, Playwright, sync_playwright

from tests.gateway import OPERATOR_PASSWORD, GatewayFactory, RunningGateway

CHROMIUM = "/usr/bin/chromium"
SCREENSHOTS = Path(__file__).parent / "screenshots"
TIMEOUT_MS = 10_000  # a page of a gateway on loopback answers in milliseconds; this is for a loaded machine
PHONE = {"width": 390, "height": 844}


class InThread:
    """A Playwright object whose every attribute read and call happens in Playwright's own thread; what comes back
    from Playwright is wrapped the same way."""

    def __init__(self, target: Any, thread: ThreadPoolExecutor) -> None:
        self._target = target
        self._thread = thread

    def _wrap(self, value: Any) -> Any:
        if type(value).__module__.startswith("playwright."):
            return InThread(value, self._thread)
        return value

    def _run(self, function: Callable[..., Any], *arguments: Any, **options: Any) -> Any:
        return self._wrap(self._thread.submit(function, *arguments, **options).result())

    def __getattr__(self, name: str) -> Any:
        value = self._thread.submit(getattr, self._target, name).result()
        if callable(value) and not type(value).__module__.startswith("playwright."):
            return lambda *arguments, **options: self._run(value, *arguments, **options)
        return self._wrap(value)

    def __enter__(self) -> Any:
        return self._run(self._target.__enter__)

    def __exit__(self, *exc: object) -> Any:
        return self._run(self._target.__exit__, *exc)


@pytest.fixture(scope="session")
def chromium() -> Iterator[Browser]:
    """The test process's one browser, driven from Playwright's own thread."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no {CHROMIUM}: `apt-get install chromium` (.ci/run does)")
    thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="playwright")
    started: Playwright = thread.submit(lambda: sync_playwright().start()).result()
    browser = thread.submit(
        started.chromium.launch, executable_path=CHROMIUM, args=["--autoplay-policy=no-user-gesture-required"]
    ).result()
    yield cast(Browser, InThread(browser, thread))
    thread.submit(browser.close).result()
    thread.submit(started.stop).result()
    thread.shutdown()


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
    name = re.sub(r"[^A-Za-z0-9]+", "_", request.node.name)[-80:]  # the end keeps a parametrized test's case
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
