"""A real gateway for tests: its own database (SQLite or PostgreSQL), sandbox channels, users and keys.

It runs in-process, its upstream calls reaching the sandbox in-process too; it listens on a loopback port only
for a test that needs a socket (upstream callbacks, a subprocess calling it).
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Coroutine, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx
import orjson
import pytest
from sqlalchemy import select, text, update

from kling_gateway.api import create_app
from kling_gateway.api.runtime import Runtime
from kling_gateway.billing import ledger
from kling_gateway.billing.money import yuan_to_micros
from kling_gateway.channels.admin import KEEP, Keep, add_channel, set_channel_enabled, update_credentials
from kling_gateway.clock import Clock, now_ms
from kling_gateway.dialects import Dialect
from kling_gateway.keys.service import create_key, revoke_key, update_key
from kling_gateway.operators.service import create_operator
from kling_gateway.sandbox import Account
from kling_gateway.settings import Settings, SyncConfig, WebConfig
from kling_gateway.store.database import Database
from kling_gateway.store.models import API_KEYS, CHANNELS, LEDGER, TASKS, USERS, Channel
from kling_gateway.users.service import create_user, set_disabled, set_password
from tests.conftest import ROOMY, RunningSandbox, SandboxFactory
from tests.helpers import SteppedClock, wait_until
from tests.inprocess import Apps, EventLoopThread, Network, loopback_socket, url_of

T = TypeVar("T")
QUICK_SYNC = SyncConfig(poll_interval_s=0.02, idle_sleep_s=0.02)
TEST_WEB = WebConfig(session_secret="a secret that signs the test gateways' session cookies")  # none in ./data
OPERATOR_PASSWORD = "correct horse battery staple"
USER_PASSWORD = "a user's own long passphrase"


def free_port() -> int:
    """Find a loopback port nobody listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass(frozen=True)
class IssuedKey:
    """A key as `keys create` hands it out: its id, its `sk-` secret, its signing pair and its webhook secret."""

    id: int
    secret: str
    access_key: str
    secret_key: str
    webhook_secret: str


@dataclass
class Admin:
    """Set up and inspect a gateway's database directly, as the admin commands do (on the apps' loop, over a pool
    of its own that `close` ends)."""

    database_url: str
    loop: EventLoopThread
    _db: Database | None = None

    def _run(self, work: Callable[[Any], Coroutine[Any, Any, T]]) -> T:
        """Do one piece of work in a transaction of its own."""

        async def unit() -> T:
            if self._db is None:
                self._db = Database(self.database_url)
            async with self._db.session() as session, session.begin():
                return await work(session)

        return self.loop.run(unit())

    async def close(self) -> None:
        """Close the pool, before the database goes."""
        if self._db is not None:
            await self._db.dispose()
            self._db = None

    def user(self, name: str, balance_yuan: str = "1000", **rates: int) -> str:
        """Create a user with a balance and one key; return the key."""

        async def work(session: Any) -> str:
            user = await create_user(session, name=name, balance_micros=yuan_to_micros(balance_yuan), **rates)
            return (await create_key(session, user_id=user.id, name="tests"))[1]

        return self._run(work)

    def key(
        self, user: str, dialect: Dialect | None = None, *, rps: float | None = None, max_in_flight: int | None = None
    ) -> IssuedKey:
        """Issue another key to an existing user, with a default dialect and its own limits when given."""

        async def work(session: Any) -> IssuedKey:
            user_id = (await session.execute(select(USERS.c.id).where(USERS.c.name == user))).scalar_one()
            key, secret = await create_key(
                session,
                user_id=user_id,
                name="signing",
                dialect=dialect,
                rate_limit_rps=rps,
                max_in_flight=max_in_flight,
            )
            assert key.access_key is not None
            assert key.secret_key is not None
            assert key.webhook_secret is not None
            return IssuedKey(
                id=key.id,
                secret=secret,
                access_key=key.access_key,
                secret_key=key.secret_key,
                webhook_secret=key.webhook_secret,
            )

        return self._run(work)

    def operator(self, name: str, password: str = OPERATOR_PASSWORD) -> None:
        """Create an operator who signs in to the console, as `operators create` does."""
        self._run(lambda session: create_operator(session, name=name, password=password, now_ms=now_ms()))

    def portal_password(self, name: str, password: str = USER_PASSWORD) -> None:
        """Give a user a portal password, as `users set-password` does."""
        self._run(lambda session: set_password(session, name=name, password=password, now_ms=now_ms()))

    def disable_user(self, name: str, disabled: bool = True) -> None:
        """Disable (or enable again) a user, as `users disable|enable` does."""
        self._run(lambda session: set_disabled(session, name=name, disabled=disabled, now_ms=now_ms()))

    def limit_key(self, key_id: int, *, rps: float | None) -> None:
        """Set a key's own requests per second; None: the gateway's default from now on."""
        self._run(lambda session: update_key(session, key_id=key_id, changes={"rate_limit_rps": rps}))

    def revoke_key(self, key_id: int) -> None:
        """Revoke one key, its `sk-` secret and its access-key/secret-key pair."""
        self._run(lambda session: revoke_key(session, key_id=key_id))

    def channel(
        self, name: str, url: str, account: Account, *, pair: bool = True, api_key: bool = False, **options: Any
    ) -> None:
        """Add a channel for a sandbox account, with its key pair and/or its API key; roomy limits unless given."""
        limits = {"video_concurrency": ROOMY, "image_concurrency": ROOMY, "try_on_concurrency": ROOMY}
        self._run(
            lambda session: add_channel(
                session,
                name=name,
                base_url=url,
                access_key=account.access_key if pair else None,
                secret_key=account.secret_key if pair else None,
                api_key=account.api_key if api_key else None,
                **(limits | options),
            )
        )

    def execute(self, statement: str) -> None:
        """Run one SQL statement, for a test that changes the schema under a running gateway."""
        self._run(lambda session: session.execute(text(statement)))

    def enable_channel(self, name: str, enabled: bool) -> None:
        """Enable or disable a channel, as `channels enable|disable` does."""
        self._run(lambda session: set_channel_enabled(session, name=name, enabled=enabled))

    def update_channel_credentials(
        self, name: str, *, key_pair: tuple[str, str] | Keep | None = KEEP, api_key: str | Keep | None = KEEP
    ) -> None:
        """Set or clear a channel's credentials, as `channels update` does."""
        self._run(lambda session: update_credentials(session, name=name, key_pair=key_pair, api_key=api_key))

    def task_billing(self, platform_id: str) -> tuple[list[dict[str, Any]], str | None]:
        """Return a task's stored billing entries and the reason it was left unbilled, if it was."""

        async def work(session: Any) -> tuple[list[dict[str, Any]], str | None]:
            query = select(TASKS.c.billing_json, TASKS.c.unbilled_reason).where(TASKS.c.platform_id == platform_id)
            row = (await session.execute(query)).one()
            return orjson.loads(row.billing_json), row.unbilled_reason

        return self._run(work)

    def task_channels(self) -> dict[str, str]:
        """Return the name of the channel each task went to, by platform id."""

        async def work(session: Any) -> dict[str, str]:
            query = select(TASKS.c.platform_id, CHANNELS.c.name).join(CHANNELS, CHANNELS.c.id == TASKS.c.channel_id)
            return {platform_id: name for platform_id, name in (await session.execute(query)).all()}

        return self._run(work)

    def channel_state(self, name: str) -> Channel:
        """Read a channel's row as it is now."""

        async def work(session: Any) -> Channel:
            found: Channel = (await session.scalars(select(Channel).where(Channel.name == name))).one()
            return found

        return self._run(work)

    def top_up(self, name: str, amount_micros: int) -> None:
        """Add to (or, negative, take from) a user's balance, as `credits add` does."""

        async def work(session: Any) -> None:
            user_id = (await session.execute(select(USERS.c.id).where(USERS.c.name == name))).scalar_one()
            await ledger.top_up(session, user_id=user_id, amount_micros=amount_micros)

        self._run(work)

    def money(self, name: str) -> tuple[int, int]:
        """Return a user's balance and held amount in micro-yuan."""

        async def work(session: Any) -> tuple[int, int]:
            row = (
                await session.execute(select(USERS.c.balance_micros, USERS.c.held_micros).where(USERS.c.name == name))
            ).one()
            return int(row[0]), int(row[1])

        return self._run(work)

    def ledger(self, platform_id: str) -> dict[str, int]:
        """Return a task's ledger entries as kind → amount."""

        async def work(session: Any) -> dict[str, int]:
            query = select(LEDGER.c.kind, LEDGER.c.amount_micros).where(LEDGER.c.task_platform_id == platform_id)
            return {kind: int(amount) for kind, amount in (await session.execute(query)).all()}

        return self._run(work)

    def entry_kinds(self, name: str) -> list[str]:
        """List the kinds of a user's ledger entries, oldest first."""

        async def work(session: Any) -> list[str]:
            user_id = (await session.execute(select(USERS.c.id).where(USERS.c.name == name))).scalar_one()
            query = select(LEDGER.c.kind).where(LEDGER.c.user_id == user_id).order_by(LEDGER.c.id)
            return list((await session.scalars(query)).all())

        return self._run(work)

    def revoke_keys(self, name: str) -> None:
        """Revoke every key of a user."""

        async def work(session: Any) -> None:
            user_id = (await session.execute(select(USERS.c.id).where(USERS.c.name == name))).scalar_one()
            await session.execute(update(API_KEYS).where(API_KEYS.c.user_id == user_id).values(revoked_at=1))

        self._run(work)

    def task_count(self) -> int:
        """Count the stored tasks."""

        async def work(session: Any) -> int:
            return len((await session.execute(select(TASKS.c.id))).all())

        return self._run(work)


@dataclass
class RunningGateway:
    """A running gateway in front of a sandbox, with users alice and bob."""

    url: str
    admin: Admin
    sandbox: RunningSandbox
    network: Network
    keys: dict[str, str] = field(default_factory=dict)
    runtime: Runtime | None = None  # the gateway's own parts, for tests that inspect e.g. its upstream client

    def client(self, user: str = "alice", **headers: str) -> httpx.Client:
        """Open a client that sends a user's key (none for user "")."""
        auth = {"Authorization": f"Bearer {self.keys[user]}"} if user else {}
        return self.http(auth | headers)

    def http(self, headers: Mapping[str, str] | None = None) -> httpx.Client:
        """Open a client that sends exactly these headers."""
        return self.network.client(base_url=self.url, headers=dict(headers or {}), timeout=15)


GatewayFactory = Callable[..., RunningGateway]
KLING_T2V = "/kling/v1/videos/text2video"


def live_through(gw: RunningGateway, clock: SteppedClock, client: httpx.Client, platform_ids: list[str]) -> None:
    """Move the upstream's clock through the lives of these text2video tasks, a status at a time, each seen by the
    gateway before the clock moves on: its polls see every status, however slowly a round runs."""
    upstream = [task for task in gw.sandbox.state.tasks.all_tasks() if task.body.external_task_id in platform_ids]
    assert len(upstream) == len(platform_ids), "every task must be upstream already"
    for task in sorted(upstream, key=lambda task: task.timeline.processing_ms):
        clock.move_to(task.timeline.processing_ms)
        wait_until(client, f"{KLING_T2V}/{task.body.external_task_id}", ("processing", "succeed", "failed"))
    clock.move_to(max(task.timeline.finished_ms for task in upstream))
    for platform_id in platform_ids:
        wait_until(client, f"{KLING_T2V}/{platform_id}")


class UpstreamFault(httpx.AsyncBaseTransport):
    """A transport between the gateway and its network that forces a fault; `gateway_factory(upstream=f.around)`."""

    network: httpx.AsyncBaseTransport

    def around(self, network: httpx.AsyncBaseTransport) -> UpstreamFault:
        """Sit in front of the gateway's network."""
        self.network = network
        return self


@pytest.fixture
def gateway_factory(
    database_url: str, sandbox: RunningSandbox, sandbox_factory: SandboxFactory, network: Network
) -> Iterator[GatewayFactory]:
    """Start gateways over a fresh database and a sandbox; stop them after the test.

    `sandbox` options start a sandbox of their own (else the test's default one serves), `channels` (default 1)
    sandbox accounts become channels, the rest are gateway settings (e.g. `sync=SyncConfig(...)`,
    `public_url=...`). `callbacks=True` has the upstream call back to the gateway, which then listens on a
    loopback port, as `listen=True` has it do for other callers; `upstream` wraps the transport of the gateway's
    upstream calls, to force a network fault. `real_network=True` has the gateway open its own pools, from its
    settings, as in production: it then reaches only servers on a loopback port (a sandbox started with
    `listen=True`).
    """
    gateways = Apps(network)

    def start(
        *,
        sandbox: dict[str, Any] | None = None,
        channels: int = 1,
        worker: bool = True,
        callbacks: bool = False,
        listen: bool = False,
        upstream: Callable[[httpx.AsyncBaseTransport], httpx.AsyncBaseTransport] | None = None,
        real_network: bool = False,
        clock: Clock | None = None,
        **settings: Any,
    ) -> RunningGateway:
        running = default_sandbox if sandbox is None else sandbox_factory(**sandbox)
        admin = Admin(database_url, network.loop)
        gateways.after(admin.close)  # once the gateway has stopped
        for number, account in enumerate(running.config.accounts[:channels], start=1):
            admin.channel(f"sandbox-{number}", running.url, account)
        keys = {name: admin.user(name) for name in ("alice", "bob")}
        bound = loopback_socket() if callbacks or listen else None
        if callbacks and bound is not None:  # the upstream calls back to this gateway, on the port it will take
            settings["public_url"] = url_of(bound)
        config = Settings(database_url=database_url, **({"sync": QUICK_SYNC, "web": TEST_WEB} | settings))
        if real_network:
            app = create_app(config, run_worker=worker, clock=clock)
        else:
            transport = network.transport()
            http = httpx.AsyncClient(transport=transport if upstream is None else upstream(transport))
            gateways.after(http.aclose)  # once the gateway has stopped
            files = network.transport()  # result files, through the downloads pool's own transport
            app = create_app(config, run_worker=worker, http=http, downloads_transport=files, clock=clock)
        url = gateways.start(app, "gateway", bound=bound, limits=config.http.connection_limits())
        return RunningGateway(
            url=url, admin=admin, sandbox=running, network=network, keys=keys, runtime=app.state.runtime
        )

    default_sandbox = sandbox
    yield start
    gateways.stop()


@pytest.fixture
def gateway(gateway_factory: GatewayFactory) -> RunningGateway:
    """A gateway with one sandbox channel, users alice and bob with ¥1000 each, a fast sync worker."""
    return gateway_factory()
