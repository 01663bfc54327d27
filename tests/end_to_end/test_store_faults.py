"""A database that ends connections, refuses them, holds a lock or stops answering: the next request recovers or
is answered 503 in the caller's shape, within the configured bounds, and a submit told so can always learn whether
its task was stored, and be resent without making two."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator, Iterator
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy.engine import make_url

from kling_gateway.api import create_app
from kling_gateway.settings import Settings, StoreConfig
from tests.gateway import GatewayFactory, RunningGateway, free_port
from tests.inprocess import Network

T2V = "/v1/videos/text2video"
ON_POSTGRES = pytest.mark.parametrize("backend", ["postgresql"])
# Short enough to wait out in a test, long enough that a loaded machine's ordinary statement stays within them.
QUICK_BOUNDS = StoreConfig(connect_timeout_s=0.5, statement_timeout_s=1.0, pool_timeout_s=1.0)
UNAVAILABLE = "store is unavailable"


def _asyncpg_dsn(database_url: str) -> str:
    return make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)


def _submit(client: httpx.Client, external_id: str) -> httpx.Response:
    return client.post(T2V, json={"prompt": "a fox in the snow", "external_task_id": external_id})


def _tasks_named(gateway: RunningGateway, external_id: str) -> int:
    with gateway.client() as client:
        found = client.get(f"{T2V}/{external_id}")
    assert found.status_code in (200, 404), found.text
    return 1 if found.status_code == 200 else 0


@ON_POSTGRES
def test_a_submit_after_the_database_ended_every_connection_succeeds(
    gateway_factory: GatewayFactory, database_url: str
) -> None:
    gateway = gateway_factory(worker=False)
    with gateway.client() as client:
        assert _submit(client, "before").status_code == 200

        async def terminate() -> None:
            connection = await asyncpg.connect(_asyncpg_dsn(database_url))
            try:
                await connection.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            finally:
                await connection.close()

        gateway.network.loop.run(terminate())
        after = _submit(client, "after")
        assert after.status_code == 200, after.text
        assert client.get(f"{T2V}/after").status_code == 200


# Every shape a refusal speaks: (path, X-Response-Format, body, reading the code and the message)
SHAPES = (
    pytest.param(T2V, "kling", {"prompt": "x"}, lambda b: (b["code"], b["message"]), 5001, id="kling"),
    pytest.param(T2V, "task", {"prompt": "x"}, lambda b: (b["code"], b["message"]), "store_unavailable", id="task"),
    pytest.param(
        T2V, "video", {"prompt": "x"}, lambda b: (b["error"]["code"], b["error"]["message"]), "store_unavailable",
        id="video",
    ),
    pytest.param(
        "/v1/videos", None, {"prompt": "x", "model": "kling-v2-6"},
        lambda b: (b["error"]["code"], b["error"]["message"]), "store_unavailable", id="openai",
    ),
    pytest.param(
        "/v1/video/generations", None, {"prompt": "x", "model": "kling-v2-6"},
        lambda b: (b["error"]["code"], b["error"]["message"]), "store_unavailable", id="new-api",
    ),
)  # fmt: skip


@pytest.fixture
def unreachable(network: Network) -> Iterator[str]:
    """A gateway whose database refuses every connection (nothing listens on its port): its base URL.

    Its lifespan is not run, as the schema could not be made; every request still goes through all of the app.
    """
    settings = Settings(database_url=f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/gone", store=QUICK_BOUNDS)
    app = create_app(settings, run_worker=False)
    url = network.add(app, "gateway")
    yield url
    network.remove(url)
    network.loop.run(app.state.runtime.db.dispose())


@pytest.mark.parametrize(("path", "dialect", "body", "read", "code"), SHAPES)
@pytest.mark.parametrize("method", ["POST", "GET"])
def test_a_database_that_refuses_connections_is_503_in_every_shape(
    network: Network,
    unreachable: str,
    method: str,
    path: str,
    dialect: str | None,
    body: dict[str, str],
    read: Any,
    code: object,
) -> None:
    headers = {"Authorization": "Bearer sk-anything"} | ({} if dialect is None else {"X-Response-Format": dialect})
    with network.client(base_url=unreachable, headers=headers) as client:
        # A query (on a Kling path, answered before the framework's layers) meets the same store as a submit.
        answer = client.post(path, json=body) if method == "POST" else client.get(f"{path}/video_01ABC")
    assert answer.status_code == 503, answer.text
    got_code, message = read(answer.json())
    assert got_code == code
    assert f"the gateway's {UNAVAILABLE} (the database could not be connected to)" in message
    assert "127.0.0.1" not in answer.text  # where the database is stays in the log


@contextlib.asynccontextmanager
async def _locked(database_url: str, table: str) -> AsyncIterator[None]:
    """Hold a lock on a table from a connection of another program, until the block ends."""
    connection = await asyncpg.connect(_asyncpg_dsn(database_url))
    try:
        async with connection.transaction():
            await connection.execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
            yield
    finally:
        await connection.close()


@ON_POSTGRES
@pytest.mark.parametrize(
    ("table", "names_the_task"),
    [("tasks", False), ("ledger", True)],  # before the submit looks for an earlier task, or after it made its id
)
def test_a_statement_past_the_timeout_is_503_and_the_submit_is_found_or_not_consistently(
    gateway_factory: GatewayFactory, database_url: str, table: str, names_the_task: bool
) -> None:
    gateway = gateway_factory(worker=False, store=QUICK_BOUNDS)
    loop = gateway.network.loop
    with gateway.client() as client:
        assert client.get(T2V).status_code == 200  # the key is known from here on: the lock does not touch it
        lock = _locked(database_url, table)
        loop.run(lock.__aenter__())
        try:
            refused = _submit(client, "locked-1")
        finally:
            loop.run(lock.__aexit__(None, None, None))
        assert refused.status_code == 503, refused.text
        message = refused.json()["message"]
        assert UNAVAILABLE in message
        assert "did not finish a statement in time" in message
        if names_the_task:
            assert "it is not known whether this task was stored" in message
            assert "resend it with external_task_id 'locked-1', which never makes a second task" in message
        # Once the lock is gone, what the client finds agrees with what a resend does.
        stored = _tasks_named(gateway, "locked-1")
        again = _submit(client, "locked-1")
        assert again.status_code == 200, again.text
        assert gateway.admin.task_count() == 1
        if stored:
            assert again.json()["data"]["task_info"]["external_task_id"] == "locked-1"


def test_a_sqlite_file_locked_past_the_timeout_is_503_and_a_resend_makes_one_task(
    gateway_factory: GatewayFactory, database_url: str
) -> None:
    gateway = gateway_factory(worker=False, store=QUICK_BOUNDS)
    with gateway.client() as client:
        assert client.get(T2V).status_code == 200
        other = sqlite3.connect(make_url(database_url).database or "", isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")  # another program holds the write lock
            refused = _submit(client, "locked-1")
        finally:
            other.execute("ROLLBACK")
            other.close()
        assert refused.status_code == 503, refused.text
        assert "the database file stayed locked by another writer" in refused.json()["message"]
        assert _tasks_named(gateway, "locked-1") == 0
        assert _submit(client, "locked-1").status_code == 200
    assert gateway.admin.task_count() == 1


class FreezableProxy:
    """A TCP relay to PostgreSQL on loopback that can stop answering, as a database behind a dropped link does."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.thawed = asyncio.Event()
        self.thawed.set()
        self._server: asyncio.Server | None = None
        self._pumps: set[asyncio.Task[None]] = set()
        self.port = 0

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await self.thawed.wait()  # a frozen database accepts no session either
        upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        for source, sink in ((reader, upstream_writer), (upstream_reader, writer)):
            pump = asyncio.create_task(self._pump(source, sink))
            self._pumps.add(pump)
            pump.add_done_callback(self._pumps.discard)

    async def _pump(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError):
            while data := await source.read(65536):
                await self.thawed.wait()
                sink.write(data)
                await sink.drain()
        sink.close()

    async def stop(self) -> None:
        for pump in list(self._pumps):
            pump.cancel()
        await asyncio.gather(*self._pumps, return_exceptions=True)
        if self._server is not None:
            self._server.close()


@pytest.fixture
def proxied(gateway_factory: GatewayFactory, database_url: str) -> Iterator[tuple[RunningGateway, str, FreezableProxy]]:
    """A gateway (without worker) whose database is reached through a relay that can stop answering: the
    fixture's gateway (for looking around, on the same database), the proxied gateway's URL, and the relay."""
    gateway = gateway_factory(worker=False)
    url = make_url(database_url)
    proxy = FreezableProxy(url.port or 5432)
    loop, network = gateway.network.loop, gateway.network
    loop.run(proxy.start())
    # The client's own bound (statement + as much again, for a server that says nothing) is what is waited out.
    bounds = StoreConfig(connect_timeout_s=0.5, statement_timeout_s=0.5, pool_timeout_s=1.0)
    settings = Settings(database_url=url.set(port=proxy.port).render_as_string(hide_password=False), store=bounds)
    upstream = httpx.AsyncClient(transport=network.transport())
    app = create_app(settings, run_worker=False, http=upstream)
    base = network.add(app, "proxied")
    yield gateway, base, proxy
    network.remove(base)
    loop.run(app.state.runtime.db.dispose())
    loop.run(upstream.aclose())
    loop.run(proxy.stop())


@ON_POSTGRES
def test_a_database_that_stops_answering_is_503_within_the_bounds_then_recovers(
    proxied: tuple[RunningGateway, str, FreezableProxy],
) -> None:
    gateway, base, proxy = proxied
    loop = gateway.network.loop
    with gateway.network.client(base_url=base, headers={"Authorization": f"Bearer {gateway.keys['alice']}"}) as client:
        assert _submit(client, "warm").status_code == 200
        loop.run(_call(proxy.thawed.clear))
        try:
            refused = _submit(client, "frozen-1")
        finally:
            loop.run(_call(proxy.thawed.set))
        assert refused.status_code == 503, refused.text
        assert UNAVAILABLE in refused.json()["message"]
        # Once it answers again, what the client finds agrees with what a resend does.
        found = client.get(f"{T2V}/frozen-1")
        again = _submit(client, "frozen-1")
        assert again.status_code == 200, again.text
        if found.status_code == 200:
            assert again.json()["data"]["platform_id"] == found.json()["data"]["platform_id"]
        else:
            assert found.status_code == 404
        assert _tasks_named(gateway, "frozen-1") == 1
    assert gateway.admin.task_count() == 2


async def _call(step: Any) -> None:
    step()
