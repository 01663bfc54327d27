"""Each key's requests per second, held at the API edge: a 429 with Retry-After, in the dialect the caller speaks.

Limits here are one request per minute, so that the second request is refused however slowly the machine runs.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
import socket
import subprocess
from typing import Any

import httpx
import pytest
from limits.aio.storage import RedisStorage

from kling_gateway.api import create_app
from kling_gateway.dialects import Dialect
from kling_gateway.settings import AdmissionConfig, Settings
from tests.gateway import GatewayFactory, RunningGateway, free_port
from tests.helpers import TEXT2VIDEO, sign_jwt, wait_for
from tests.inprocess import Apps

ONE_PER_MINUTE = 1 / 60
REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
REDIS_URL = f"redis://{REDIS_HOST}:{REDIS_PORT}/15"  # a database of its own, emptied of counters before each test
OPENAI_VIDEOS = "/v1/videos"


def key_client(gateway: RunningGateway, secret: str, **headers: str) -> httpx.Client:
    """Open a client of a gateway that sends this bearer secret."""
    return gateway.http({"Authorization": f"Bearer {secret}"} | headers)


def refused(answer: httpx.Response) -> Any:
    """Check that an answer refuses a request over a limit of one a minute; return its body."""
    assert answer.status_code == 429, answer.text
    assert 1 <= int(answer.headers["Retry-After"]) <= 60
    return answer.json()


def test_a_key_over_its_rate_is_refused_in_the_dialect_it_speaks(gateway: RunningGateway) -> None:
    limited = gateway.admin.key("alice", rps=ONE_PER_MINUTE)
    with key_client(gateway, limited.secret) as client:
        assert client.get(TEXT2VIDEO).status_code == 200
        kling = refused(client.get(TEXT2VIDEO))
        task = refused(client.get(TEXT2VIDEO, headers={"X-Response-Format": "task"}))
        video = refused(client.get(TEXT2VIDEO, headers={"X-Response-Format": "video"}))
        openai = refused(client.get(OPENAI_VIDEOS))
    assert kling["code"] == 1302
    assert re.fullmatch(
        r"too many requests: this key may send 1 request per 60 seconds \(its own limit\); retry after \d+ s",
        kling["message"],
    )
    assert task == {"code": "rate_limit_exceeded", "message": task["message"], "data": None}
    for body in (video, openai):
        assert (body["error"]["type"], body["error"]["code"]) == ("rate_limit_error", "rate_limit_exceeded")
        assert "1 request per 60 seconds" in body["error"]["message"]

    with key_client(gateway, sign_jwt(limited)) as signed:  # the key's signing pair draws on the same allowance
        assert refused(signed.get(TEXT2VIDEO))["code"] == 1302

    speaks_task = gateway.admin.key("alice", Dialect.TASK, rps=ONE_PER_MINUTE)
    with key_client(gateway, speaks_task.secret) as client:
        assert client.get(TEXT2VIDEO).status_code == 200
        assert refused(client.get(TEXT2VIDEO))["code"] == "rate_limit_exceeded"  # the key's default dialect

    with gateway.client("alice") as other_key, gateway.client("bob") as other_user:
        assert [other_key.get(TEXT2VIDEO).status_code for _ in range(5)] == [200] * 5
        assert [other_user.get(OPENAI_VIDEOS).status_code for _ in range(5)] == [200] * 5


def test_keys_without_a_limit_of_their_own_follow_the_gateway_default(gateway_factory: GatewayFactory) -> None:
    gateway = gateway_factory(admission=AdmissionConfig(requests_per_second=ONE_PER_MINUTE), key_cache_ttl_s=0)
    with gateway.client("alice") as alice:
        assert alice.get(TEXT2VIDEO).status_code == 200
        assert "(the gateway's default for keys)" in refused(alice.get(TEXT2VIDEO))["message"]

    key = gateway.admin.key("bob")
    with key_client(gateway, key.secret) as client:
        assert client.get(TEXT2VIDEO).status_code == 200
        refused(client.get(TEXT2VIDEO))
        gateway.admin.limit_key(key.id, rps=1000)  # a running gateway applies it within key_cache_ttl_s
        assert [client.get(TEXT2VIDEO).status_code for _ in range(5)] == [200] * 5
        gateway.admin.limit_key(key.id, rps=None)  # back to the default, whose window still holds the first request
        refused(client.get(TEXT2VIDEO))


def test_the_api_keeps_serving_when_its_redis_is_down(gateway_factory: GatewayFactory) -> None:
    gateway = gateway_factory(redis_url=f"redis://127.0.0.1:{free_port()}/0")  # nothing listens there
    limited = gateway.admin.key("alice", rps=ONE_PER_MINUTE)
    with key_client(gateway, limited.secret) as client:
        assert [client.get(TEXT2VIDEO).status_code for _ in range(2)] == [200, 200]


def _redis_answers() -> bool:
    try:
        with socket.create_connection((REDIS_HOST, REDIS_PORT), timeout=1) as connection:
            connection.sendall(b"PING\r\n")
            return connection.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@pytest.fixture
def redis_url() -> str:
    """The URL of a running Redis database holding no rate-limit counters; start the server if it is down."""
    if not _redis_answers():
        subprocess.run(
            ["redis-server", "--bind", REDIS_HOST, "--port", str(REDIS_PORT), "--daemonize", "yes", "--save", ""],
            check=True,
        )
        wait_for(_redis_answers, "redis-server to start", timeout_s=10)
    asyncio.run(RedisStorage(f"async+{REDIS_URL}").reset())  # counters left by a run over another database
    return REDIS_URL


@pytest.fixture
def second_gateway(
    gateway_factory: GatewayFactory, redis_url: str, apps: Apps
) -> tuple[RunningGateway, RunningGateway]:
    """A gateway counting in Redis, and another API over the same database and Redis (as another process would be)."""
    first = gateway_factory(redis_url=redis_url)
    app = create_app(Settings(database_url=first.admin.database_url, redis_url=redis_url), run_worker=False)
    second = dataclasses.replace(first, url=apps.start(app, "gateway"), runtime=app.state.runtime)
    return first, second


def test_gateways_sharing_a_redis_share_each_key_allowance(
    second_gateway: tuple[RunningGateway, RunningGateway],
) -> None:
    first, second = second_gateway
    limited = first.admin.key("alice", rps=ONE_PER_MINUTE)
    with key_client(first, limited.secret) as one, key_client(second, limited.secret) as other:
        assert one.get(TEXT2VIDEO).status_code == 200
        assert refused(other.get(TEXT2VIDEO))["code"] == 1302
        assert refused(one.get(TEXT2VIDEO))["code"] == 1302
    with key_client(second, first.keys["alice"]) as unlimited:
        assert [unlimited.get(TEXT2VIDEO).status_code for _ in range(3)] == [200] * 3
