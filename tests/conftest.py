"""Fixtures shared by every test: the in-process network, sandboxes, clients, and a callback receiver."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from kling_gateway import passwords
from kling_gateway.sandbox import Account, SandboxConfig, create_app
from kling_gateway.sandbox.app import SandboxApi
from kling_gateway.sandbox.config import Now
from kling_gateway.sandbox.service import Sandbox
from tests.helpers import sign_jwt
from tests.inprocess import Apps, EventLoopThread, Lifespan, LoopbackServer, Network

FAST = 10_000.0  # sandbox speed-up that makes a 2-minute video take about a hundredth of a second
ROOMY = 10_000  # concurrency that tests which are not about limits never reach
DEFAULTS = SandboxConfig(
    accounts=(Account.generate(), Account.generate()),
    speed=FAST,
    seed=7,
    video_concurrency=ROOMY,
    image_concurrency=ROOMY,
    try_on_concurrency=ROOMY,
)


# argon2id as cheap as it gets (1 pass over 64 KiB, one lane): the production parameters take a fifth of a second
# of both cores a hash, and the console's and portal's tests hash and check a hundred passwords. The production
# hasher is tested in tests/unit/test_passwords.py; every hash carries its parameters, so nothing else changes.
CHEAP_HASHER = PasswordHasher(time_cost=1, memory_cost=64, parallelism=1)


@pytest.fixture(autouse=True)
def cheap_passwords(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Hash and check passwords with CHEAP_HASHER, but in a test marked `production_passwords`."""
    if request.node.get_closest_marker("production_passwords") is None:
        monkeypatch.setattr(passwords, "_hasher", CHEAP_HASHER)


@dataclass
class RunningSandbox:
    """A running sandbox: where it answers (in-process, or on a loopback port), its accounts, and its state."""

    url: str
    config: SandboxConfig
    app: Starlette
    network: Network

    @property
    def state(self) -> Sandbox:
        sandbox: Sandbox = self.app.state.sandbox
        return sandbox

    @property
    def account(self) -> Account:
        return self.config.accounts[0]

    def client(self, account: Account | None = None, *, token: str | None = None) -> httpx.Client:
        """Open a client that signs a fresh JWT for `account` (the first by default), or sends `token`."""
        bearer = token if token is not None else sign_jwt(account or self.account)
        return self.network.client(base_url=self.url, headers={"Authorization": f"Bearer {bearer}"}, timeout=10)

    def reset(self) -> None:
        """Forget every task, session and count, and every callback not yet sent."""
        api: SandboxApi = self.app.state.api

        async def reset() -> None:
            api.reset()

        self.network.loop.run(reset())


@pytest.fixture(scope="session")
def network() -> Iterator[Network]:
    """The event loop every app of the session runs on, and the in-process network that names them."""
    loop = EventLoopThread()
    opened = Network(loop)
    yield opened
    opened.close()
    loop.close()


@pytest.fixture
def apps(network: Network) -> Iterator[Apps]:
    """Apps started for this test; stopped when it ends."""
    started = Apps(network)
    yield started
    started.stop()


@dataclass
class SharedSandbox:
    """The session's sandbox of default settings: in-process, and on a loopback port for who needs a socket."""

    app: Starlette
    url: str
    loopback_url: str


@pytest.fixture(scope="session")
def shared_sandbox(network: Network) -> Iterator[SharedSandbox]:
    """Start the default sandbox once for the whole session."""
    app = create_app(DEFAULTS)
    lifespan, server = Lifespan(app), LoopbackServer(app)
    network.loop.run(lifespan.startup())
    network.loop.run(server.start())
    url = network.add(app, "sandbox")
    yield SharedSandbox(app=app, url=url, loopback_url=server.url)
    network.remove(url)
    network.loop.run(server.stop())
    network.loop.run(lifespan.shutdown())


@pytest.fixture
def sandbox(shared_sandbox: SharedSandbox, network: Network) -> RunningSandbox:
    """A fast sandbox with two accounts, default limits and no faults, fresh for this test (in-process)."""
    running = RunningSandbox(url=shared_sandbox.url, config=DEFAULTS, app=shared_sandbox.app, network=network)
    running.reset()
    return running


@pytest.fixture
def loopback_sandbox(shared_sandbox: SharedSandbox, network: Network) -> RunningSandbox:
    """The same fresh sandbox, reached over a real loopback port: for clients and processes of their own."""
    running = RunningSandbox(url=shared_sandbox.loopback_url, config=DEFAULTS, app=shared_sandbox.app, network=network)
    running.reset()
    return running


SandboxFactory = Callable[..., RunningSandbox]


@pytest.fixture
def sandbox_factory(apps: Apps, network: Network) -> SandboxFactory:
    """Start sandboxes with chosen settings (two accounts, fast and roomy unless told); stop them after the test.

    `listen=True` serves one on a loopback port instead of in-process; `clock` gives it a clock of its own (a
    callable reading milliseconds since the epoch), so a test can move its time instead of waiting.
    """

    def start(*, listen: bool = False, clock: Now | None = None, **overrides: Any) -> RunningSandbox:
        config = SandboxConfig.model_validate(DEFAULTS.model_dump() | {"accounts": _fresh_accounts()} | overrides)
        app = create_app(config) if clock is None else create_app(config, clock=clock)
        url = apps.start(app, "sandbox", listen=listen)
        return RunningSandbox(url=url, config=config, app=app, network=network)

    return start


def _fresh_accounts() -> tuple[Account, Account]:
    return Account.generate(), Account.generate()


@pytest.fixture
def client(sandbox: RunningSandbox) -> Iterator[httpx.Client]:
    """A client of the default sandbox's first account, signing JWTs."""
    with sandbox.client() as opened:
        yield opened


@dataclass
class CallbackReceiver:
    """A real HTTP endpoint that records every callback it is sent."""

    url: str
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)


@dataclass
class CallbackPost:
    """The session's receiver of callbacks: a loopback server with a path per test."""

    url: str
    receivers: dict[str, CallbackReceiver] = field(default_factory=dict)


@pytest.fixture(scope="session")
def callback_post(network: Network) -> Iterator[CallbackPost]:
    """Listen on loopback for callbacks to every test's receiver; answer 200 to each."""
    post = CallbackPost(url="")

    async def record(request: Request) -> Response:
        receiver = post.receivers.get(request.path_params["name"])
        if receiver is not None:
            receiver.received.append((dict(request.headers), await request.body()))
        return Response(b"ok")

    server = LoopbackServer(Starlette(routes=[Route("/hooks/{name}", record, methods=["POST"])]))
    network.loop.run(server.start())
    post.url = server.url
    yield post
    network.loop.run(server.stop())


@pytest.fixture
def callback_receiver(callback_post: CallbackPost) -> Iterator[CallbackReceiver]:
    """A callback URL on loopback of this test's own: it answers 200 and keeps each call's headers and raw body."""
    name = uuid.uuid4().hex
    receiver = CallbackReceiver(url=f"{callback_post.url}/hooks/{name}")
    callback_post.receivers[name] = receiver
    yield receiver
    del callback_post.receivers[name]


pytest_plugins = ["tests.databases", "tests.gateway"]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Start the slow tests first, so that the two workers share them and the quick ones fill the gaps after:
    a minute-long test that starts last is a minute at the end of the run."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)
