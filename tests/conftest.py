"""Fixtures shared by every test: a real sandbox on a loopback port, clients, and a callback receiver."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from kling_gateway.sandbox import Account, SandboxConfig, create_app
from kling_gateway.sandbox.service import Sandbox
from kling_gateway.serving import BackgroundServer
from tests.helpers import sign_jwt

FAST = 1000.0  # sandbox speed-up that makes a 2-minute video take about a tenth of a second
ROOMY = 10_000  # concurrency that tests which are not about limits never reach


@dataclass
class RunningSandbox:
    """A sandbox serving on loopback, with its accounts and a way to reach its state."""

    url: str
    config: SandboxConfig
    state: Sandbox

    @property
    def account(self) -> Account:
        return self.config.accounts[0]

    def client(self, account: Account | None = None, *, token: str | None = None) -> httpx.Client:
        """Open a client that signs a fresh JWT for `account` (the first by default), or sends `token`."""
        bearer = token if token is not None else sign_jwt(account or self.account)
        return httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {bearer}"}, timeout=10)


SandboxFactory = Callable[..., RunningSandbox]


@pytest.fixture
def sandbox_factory() -> Iterator[SandboxFactory]:
    """Start sandboxes with chosen settings (two accounts, fast by default); stop them after the test."""
    servers: list[BackgroundServer] = []

    def start(**overrides: Any) -> RunningSandbox:
        base = SandboxConfig(
            accounts=(Account.generate(), Account.generate()),
            speed=FAST,
            seed=7,
            video_concurrency=ROOMY,
            image_concurrency=ROOMY,
            try_on_concurrency=ROOMY,
        )
        config = SandboxConfig.model_validate(base.model_dump() | overrides)
        app = create_app(config)
        server = BackgroundServer(app).start()
        servers.append(server)
        return RunningSandbox(url=server.url, config=config, state=app.state.sandbox)

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def sandbox(sandbox_factory: SandboxFactory) -> RunningSandbox:
    """A fast sandbox with default limits and no faults."""
    return sandbox_factory()


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


@pytest.fixture
def callback_receiver() -> Iterator[CallbackReceiver]:
    """Listen on loopback for callbacks; answer 200 to each and keep its headers and raw body."""
    receiver = CallbackReceiver(url="")

    async def record(request: Request) -> Response:
        receiver.received.append((dict(request.headers), await request.body()))
        return Response(b"ok")

    app = Starlette(routes=[Route("/hook", record, methods=["POST"])])
    with BackgroundServer(app) as server:
        receiver.url = f"{server.url}/hook"
        yield receiver


pytest_plugins = ["tests.databases", "tests.gateway"]
