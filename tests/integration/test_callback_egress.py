"""A client callback goes where its address was checked: the delivery connects to the very address the check
passed (a name that resolves elsewhere a moment later reaches nothing new), and never through a proxy of the
environment, only through one the operator configured."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

import httpx
import pytest
from starlette.types import Receive, Scope, Send

from kling_gateway.egress.addresses import Address
from kling_gateway.settings import Settings, SyncConfig
from kling_gateway.store.database import Database
from kling_gateway.store.records import TaskStatus
from kling_gateway.sync.worker import Worker
from kling_gateway.upstream.client import KlingClient
from tests.conftest import CallbackReceiver
from tests.inprocess import Apps
from tests.integration.test_outbox import callbacks, db, deliverer, make_owner, make_task, move

__all__ = ["db"]  # the outbox tests' fixture

PUBLIC = ipaddress.ip_address("93.184.216.34")
LOOPBACK = ipaddress.ip_address("127.0.0.1")


@dataclass
class Rebinding:
    """A name server as a rebinding attacker runs it: a public address the first time, loopback after that."""

    asked: list[str] = field(default_factory=list)

    async def __call__(self, host: str, _port: int) -> list[Address]:
        self.asked.append(host)
        return [PUBLIC if len(self.asked) == 1 else LOOPBACK]


@dataclass
class Proxy:
    """A loopback server standing in for an HTTP proxy: it records every request it is sent and answers 200."""

    url: str = ""
    received: list[tuple[str, str]] = field(default_factory=list)  # the Host header and path of each

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = dict(scope["headers"])
        self.received.append((headers.get(b"host", b"").decode(), scope["path"]))
        while (await receive()).get("more_body"):
            pass
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})


@pytest.fixture
def proxy(apps: Apps) -> Proxy:
    running = Proxy()
    running.url = apps.listen(running)
    return running


async def test_a_delivery_connects_to_the_address_it_checked_with_the_name_in_host_and_tls(db: Database) -> None:
    sent: list[httpx.Request] = []

    def receive(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(204)

    upstream = httpx.MockTransport(receive)
    name_server = Rebinding()
    owner = await make_owner(db)
    task_id = await make_task(db, owner, "https://hooks.example.com/kling?order=7")
    await move(db, task_id, TaskStatus.SUBMITTED)
    async with httpx.AsyncClient(transport=upstream) as http:
        sender = deliverer(db, http, allow_private=False, resolver=name_server)
        assert await sender.run_once() == 1
        [request] = sent
        assert (request.url.host, request.url.path, request.url.query) == (str(PUBLIC), "/kling", b"order=7")
        assert request.headers["host"] == "hooks.example.com"
        assert request.extensions["sni_hostname"] == "hooks.example.com"  # the certificate is checked for the name
        await move(db, task_id, TaskStatus.PROCESSING)
        assert await sender.run_once() == 1  # the name now points inside: refused, nothing sent
    assert name_server.asked == ["hooks.example.com", "hooks.example.com"]
    assert len(sent) == 1
    [delivered, refused] = await callbacks(db, task_id)
    assert delivered.delivered_at is not None
    assert refused.delivered_at is None
    assert "hooks.example.com resolves to 127.0.0.1, which is a loopback address" in refused.last_error


async def deliver_once(database_url: str, sync: SyncConfig | None = None) -> None:
    """Deliver the due callback as the worker of `kling-gateway worker` does, with the client it opens for them."""
    settings = Settings(database_url=database_url, allow_private_callbacks=True, sync=sync or SyncConfig())
    worker_db = Database(database_url)
    async with httpx.AsyncClient() as upstream:
        worker = Worker(worker_db, KlingClient(upstream), settings)
        try:
            assert await worker.deliverer.run_once() == 1
        finally:
            await worker.aclose()
            await worker_db.dispose()


async def test_a_proxy_of_the_environment_never_carries_callbacks(
    db: Database, database_url: str, callback_receiver: CallbackReceiver, proxy: Proxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.setenv(name, proxy.url)
    for name in ("http_proxy", "https_proxy", "all_proxy", "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    task_id = await make_task(db, await make_owner(db), callback_receiver.url)
    await move(db, task_id, TaskStatus.SUBMITTED)
    await deliver_once(database_url)
    assert proxy.received == []
    assert len(callback_receiver.received) == 1


async def test_callbacks_go_through_the_proxy_the_operator_configured(
    db: Database, database_url: str, callback_receiver: CallbackReceiver, proxy: Proxy
) -> None:
    task_id = await make_task(db, await make_owner(db), callback_receiver.url)
    await move(db, task_id, TaskStatus.SUBMITTED)
    await deliver_once(database_url, SyncConfig(callback_proxy=proxy.url))
    target = httpx.URL(callback_receiver.url)
    assert proxy.received == [(f"{target.host}:{target.port}", target.path)]
    assert callback_receiver.received == []
