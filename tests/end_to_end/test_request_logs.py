"""Every request has an id, sent back as `X-Request-Id`, in Kling bodies and on each log line written while it is
answered, with the key that made it; the access log has one line per request and no secret."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest

from kling_gateway.logs import ACCESS_LOGGER, log_handler
from tests.gateway import GatewayFactory, RunningGateway, UpstreamFault
from tests.helpers import sign_jwt

T2V = "/kling/v1/videos/text2video"


class Lines:
    """What the gateway logged, as JSON lines."""

    def __init__(self, stream: io.StringIO) -> None:
        self._stream = stream

    def all(self) -> list[dict[str, Any]]:
        """Every line so far, each parsed."""
        return [orjson.loads(line) for line in self._stream.getvalue().splitlines()]

    def of(self, request_id: str) -> list[dict[str, Any]]:
        """The lines of one request."""
        return [line for line in self.all() if line.get("request_id") == request_id]

    def access(self, request_id: str) -> dict[str, Any]:
        """The access-log line of one request."""
        [line] = [line for line in self.of(request_id) if line["logger"] == ACCESS_LOGGER]
        return line

    def text(self) -> str:
        """Everything logged, as written."""
        return self._stream.getvalue()


@pytest.fixture
def json_lines() -> Iterator[Lines]:
    """Write every log line of this process as the gateway's JSON lines, at info, while the test runs."""
    stream = io.StringIO()
    handler, root = log_handler("json", stream), logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield Lines(stream)
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


class CreatesBreak(UpstreamFault):
    """Fail every create with an error nothing in the gateway expects."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            raise RuntimeError("the sender broke")
        return await self.network.handle_async_request(request)


def test_json_lines_carry_the_request_id_and_the_key_of_the_request_that_caused_them(
    gateway_factory: GatewayFactory, json_lines: Lines
) -> None:
    gw = gateway_factory(upstream=CreatesBreak().around, worker=False)
    key = gw.admin.key("alice")
    with gw.http({"Authorization": f"Bearer {key.secret}"}) as client:
        failed = client.post(T2V, json={"prompt": "a fox"})
        listed = client.get(T2V)  # answered before the framework's layers
        missing = client.get(f"{T2V}/no-such-task")
    assert failed.status_code == 500
    request_id = failed.headers["X-Request-Id"]
    assert failed.json()["request_id"] == request_id  # the id the 500 asks to report is the one in the logs
    [failure] = [line for line in json_lines.of(request_id) if line["level"] == "ERROR"]
    assert failure["key_id"] == key.id
    assert "RuntimeError: the sender broke" in failure["exception"]
    for answer, status in ((failed, 500), (listed, 200), (missing, 404)):
        request_id = answer.headers["X-Request-Id"]
        assert answer.json()["request_id"] == request_id
        line = json_lines.access(request_id)
        assert line["key_id"] == key.id
        asked = answer.request
        assert (line["method"], line["path"], line["status"]) == (asked.method, asked.url.path, status)
        assert line["duration_ms"] > 0
        assert {"time", "level", "logger", "pid", "message"} <= line.keys()
    assert len({answer.headers["X-Request-Id"] for answer in (failed, listed, missing)}) == 3


def test_a_clients_request_id_is_kept_and_a_malformed_one_replaced(gateway: RunningGateway, json_lines: Lines) -> None:
    with gateway.client() as client:
        kept = client.get(f"{T2V}/nothing", headers={"X-Request-Id": "edge-7f3a.1:2"})
        unauthenticated = gateway.http({"X-Request-Id": "0f8fad5b-d9cb-469f-a165-70867728950e"}).get(T2V)
        replaced = [client.get(T2V, headers={"X-Request-Id": bad}) for bad in ("two words", "x" * 129, "a\x7fb")]
    assert kept.headers["X-Request-Id"] == "edge-7f3a.1:2"
    assert kept.json()["request_id"] == "edge-7f3a.1:2"
    assert json_lines.access("edge-7f3a.1:2")["status"] == 404
    assert unauthenticated.headers["X-Request-Id"] == "0f8fad5b-d9cb-469f-a165-70867728950e"
    assert "key_id" not in json_lines.access("0f8fad5b-d9cb-469f-a165-70867728950e")  # no key was found
    for answer in replaced:
        assert answer.headers["X-Request-Id"].startswith("req_")
        assert answer.json()["request_id"] == answer.headers["X-Request-Id"]


def test_the_access_log_carries_no_secret(gateway: RunningGateway, json_lines: Lines) -> None:
    key = gateway.admin.key("alice")
    token = sign_jwt(key)
    callback_token = "c0ffee" * 10
    with gateway.http({"Authorization": f"Bearer {key.secret}"}) as client:
        client.get(T2V, params={"access_token": "query-secret-1", "pageSize": 5})
        client.post(T2V, json={"prompt": "a fox", "callback_url": "https://hooks.example.com/x?sig=body-secret-2"})
    with gateway.http({"Authorization": f"Bearer {token}"}) as client:
        client.get(f"{T2V}/nothing")
        client.post(f"/upstream/callbacks/video_01JCHARGE0000000000000000/{callback_token}", json={})
    logged = json_lines.text()
    assert len([line for line in json_lines.all() if line["logger"] == ACCESS_LOGGER]) == 4
    for secret in (key.secret, key.secret_key, token, callback_token, "query-secret-1", "body-secret-2"):
        assert secret not in logged
    assert "/upstream/callbacks/video_01JCHARGE0000000000000000/[redacted]" in logged


def test_the_access_log_can_be_turned_off(gateway_factory: GatewayFactory, json_lines: Lines) -> None:
    gw = gateway_factory(access_log=False, worker=False)
    with gw.client() as client:
        answer = client.get(T2V)
    assert answer.headers["X-Request-Id"].startswith("req_")  # requests are still named
    assert [line for line in json_lines.all() if line["logger"] == ACCESS_LOGGER] == []
