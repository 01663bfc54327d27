"""What one request may send, and how slowly: bodies are bounded in the caller's shape before anything parses them
(in-process), heads and idle connections by the server itself (on a loopback port, as `serve` runs)."""

from __future__ import annotations

import asyncio
import base64
import logging
import socket
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import pytest

from kling_gateway.settings import HttpConfig
from tests.gateway import GatewayFactory, RunningGateway

T2V = "/v1/videos/text2video"
SMALL = HttpConfig(max_body_bytes=2000)
PROMPT_BODY = {"prompt": "a fox in the snow"}
# Each shape a body's refusal can speak: (path, X-Response-Format or None, how to read the body's error code)
SHAPES = (
    pytest.param(T2V, "kling", lambda body: body["code"], 1201, id="kling"),
    pytest.param(T2V, "task", lambda body: body["code"], "request_too_large", id="task"),
    pytest.param(T2V, "video", lambda body: body["error"]["code"], "request_too_large", id="video"),
    pytest.param("/v1/videos", None, lambda body: body["error"]["code"], "request_too_large", id="openai"),
    pytest.param("/v1/video/generations", None, lambda body: body["error"]["code"], "request_too_large", id="new-api"),
    pytest.param("/kling/text-to-video/kling-3.0-turbo", None, lambda body: body["code"], 1201, id="new-generation"),
)
Connect = Callable[[RunningGateway], socket.socket]
SOCKET_TIMEOUT_S = 10.0  # a guard against a server that never answers, far above every bound tested


def _padded(size: int) -> bytes:
    """A JSON create body of exactly `size` bytes."""
    head = b'{"prompt": "a fox in the snow", "negative_prompt": "'
    return head + b"x" * (size - len(head) - 2) + b'"}'


@pytest.mark.parametrize(("path", "dialect", "code_of", "code"), SHAPES)
def test_a_body_over_the_limit_is_refused_413_in_the_callers_shape_unread(
    gateway_factory: GatewayFactory, path: str, dialect: str | None, code_of: Callable[[Any], Any], code: object
) -> None:
    gateway = gateway_factory(worker=False, http=SMALL)
    headers = {} if dialect is None else {"X-Response-Format": dialect}
    with gateway.client(**headers) as client:
        refused = client.post(path, content=_padded(2001), headers={"content-type": "application/json"})
    assert refused.status_code == 413
    assert code_of(refused.json()) == code
    assert "larger than 2000 bytes" in refused.text
    assert refused.headers["connection"] == "close"  # the rest of the body is never read
    assert gateway.admin.task_count() == 0


def test_a_create_without_media_is_refused_past_its_own_smaller_limit_unread(gateway_factory: GatewayFactory) -> None:
    gateway = gateway_factory(worker=False, http=HttpConfig(max_body_bytes=10_000, max_text_body_bytes=2000))
    with gateway.client() as client:
        for path in (T2V, "/kling/v1/videos/video-extend", "/v1/audio/text-to-audio", "/text-to-video/kling-2.6"):
            refused = client.post(path, content=_padded(2001), headers={"content-type": "application/json"})
            assert refused.status_code == 413, (path, refused.text)
            assert "larger than 2000 bytes, the most the gateway takes for an action without media" in refused.text
            assert "KLING_GATEWAY_HTTP__MAX_TEXT_BODY_BYTES" in refused.text
        # An action that takes pictures in Base64 has the larger limit: the body is read, and judged on its fields.
        taken = client.post(
            "/v1/videos/image2video", content=_padded(5000), headers={"content-type": "application/json"}
        )
        assert taken.status_code == 400, taken.text
        assert "larger than" not in taken.text
    assert gateway.admin.task_count() == 0


def test_a_body_within_the_limit_is_taken(gateway_factory: GatewayFactory) -> None:
    gateway = gateway_factory(worker=False, http=SMALL)
    with gateway.client() as client:
        taken = client.post(T2V, content=_padded(2000), headers={"content-type": "application/json"})
    assert taken.status_code == 200, taken.text
    assert gateway.admin.task_count() == 1


def test_the_default_limit_takes_a_50_mb_picture_in_base64() -> None:
    # Kling's new generation takes Base64 pictures of up to 50 MB (the 2026 reference, §3).
    encoded = len(base64.b64encode(b"\0" * 3)) * -(-50_000_000 // 3)
    assert HttpConfig().max_body_bytes > encoded + 64 * 1024  # and the rest of the body


def _send_streamed(gateway: RunningGateway, chunks: AsyncIterator[bytes], path: str = T2V) -> httpx.Response:
    """POST a body without a Content-Length, chunk by chunk as `chunks` yields them (the test's plain client
    would read it whole first)."""

    async def send() -> httpx.Response:
        headers = {"Authorization": f"Bearer {gateway.keys['alice']}", "content-type": "application/json"}
        async with httpx.AsyncClient(transport=gateway.network.transport(), base_url=gateway.url) as client:
            answer = await client.post(path, content=chunks, headers=headers)
            await answer.aread()
            return answer

    return gateway.network.loop.run(send())


def test_a_chunked_body_is_counted_as_it_arrives_and_cut_at_the_limit(gateway_factory: GatewayFactory) -> None:
    gateway = gateway_factory(worker=False, http=SMALL)
    pulled = 0

    async def chunks() -> AsyncIterator[bytes]:
        nonlocal pulled
        yield b'{"prompt": "'
        for _ in range(1000):
            pulled += 1
            yield b"x" * 100

    refused = _send_streamed(gateway, chunks())
    assert refused.status_code == 413
    assert refused.json()["code"] == 1201
    assert pulled <= 21  # the 2 001st byte ends the reading, not the 100 012th
    assert gateway.admin.task_count() == 0


def test_bodies_past_the_budget_of_the_requests_under_way_are_503_until_room_is_made(
    gateway_factory: GatewayFactory,
) -> None:
    gateway = gateway_factory(worker=False, http=HttpConfig(max_body_bytes=2000, max_bodies_in_flight_bytes=3000))
    counted, finish = asyncio.Event(), asyncio.Event()

    async def slow_body() -> AsyncIterator[bytes]:
        yield _padded(1500)[:1499]
        counted.set()  # asked for more: the first 1 499 bytes are held
        await finish.wait()
        yield b"}"

    async def burst() -> tuple[httpx.Response, int, int]:
        headers = {"Authorization": f"Bearer {gateway.keys['alice']}", "content-type": "application/json"}
        async with httpx.AsyncClient(transport=gateway.network.transport(), base_url=gateway.url) as client:
            held = asyncio.create_task(client.post(T2V, content=slow_body(), headers=headers))
            await counted.wait()
            crowded = await client.post(T2V, content=_padded(1600), headers=headers)
            finish.set()
            first = await held
            after = await client.post(T2V, content=_padded(1600), headers=headers)
            return crowded, first.status_code, after.status_code

    crowded, first, after = gateway.network.loop.run(burst())
    assert crowded.status_code == 503
    assert crowded.json()["code"] == 5001
    assert "too many large request bodies at once" in crowded.json()["message"]
    assert (first, after) == (200, 200)  # the one under way is finished, and then there is room again
    assert gateway.admin.task_count() == 2


def test_a_body_that_does_not_arrive_in_time_is_answered_408(gateway_factory: GatewayFactory) -> None:
    gateway = gateway_factory(worker=False, http=HttpConfig(body_timeout_s=0.05))
    gone = gateway.network.loop.loop.create_future()  # never set: the rest of the body never comes

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"prompt": '
        await gone
        yield b'"late"}'

    late = _send_streamed(gateway, chunks(), path="/v1/videos")
    assert late.status_code == 408
    assert late.json()["error"]["code"] == "request_timeout"
    assert "did not arrive within 0.05 s" in late.json()["error"]["message"]
    assert gateway.admin.task_count() == 0


# -- the server itself, on a loopback port ----------------------------------------------------------------------


@pytest.fixture
def connect() -> Iterator[Connect]:
    """Open raw connections to a listening gateway; close them after the test."""
    opened: list[socket.socket] = []

    def open_to(gateway: RunningGateway) -> socket.socket:
        address = httpx.URL(gateway.url)
        assert address.port is not None
        connection = socket.create_connection((address.host, address.port), timeout=SOCKET_TIMEOUT_S)
        opened.append(connection)
        return connection

    yield open_to
    for connection in opened:
        connection.close()


def _read_all(connection: socket.socket) -> bytes:
    """Read until the server closes the connection."""
    received = b""
    while chunk := connection.recv(65536):
        received += chunk
    return received


@pytest.mark.parametrize("complete", [True, False], ids=["whole-head", "head-still-coming"])
def test_a_head_over_the_limit_is_answered_431_and_closed(
    gateway_factory: GatewayFactory, connect: Connect, complete: bool
) -> None:
    gateway = gateway_factory(worker=False, listen=True)
    connection = connect(gateway)
    head = f"GET /healthz HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer {'x' * 1_000_000}\r\n"
    connection.sendall((head + ("\r\n" if complete else "")).encode())
    answer = _read_all(connection)
    assert answer.startswith(b"HTTP/1.1 431 ")
    assert b"larger than 65536 bytes" in answer
    with gateway.http() as client:  # the server goes on serving others
        assert client.get("/healthz").status_code == 200


def test_a_client_that_keeps_sending_after_the_refusal_is_cut_off(
    gateway_factory: GatewayFactory, connect: Connect
) -> None:
    gateway = gateway_factory(worker=False, listen=True)
    connection = connect(gateway)
    connection.sendall(b"GET /healthz HTTP/1.1\r\nHost: gw\r\nX-Pad: ")
    with pytest.raises((BrokenPipeError, ConnectionResetError)):
        connection.sendall(b"x" * 64 * 1024 * 1024)  # far past what is read and dropped after the 431
    with gateway.http() as client:
        assert client.get("/healthz").status_code == 200


def test_a_head_that_comes_too_slowly_is_answered_408_and_closed(
    gateway_factory: GatewayFactory, connect: Connect
) -> None:
    gateway = gateway_factory(worker=False, listen=True, http=HttpConfig(head_timeout_s=0.05))
    connection = connect(gateway)
    connection.sendall(b"GET /healthz HTTP/1.1\r\nHost: gw\r\n")  # a byte at a time or not at all: never ends
    answer = _read_all(connection)
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert b"did not arrive within 0.05 s" in answer


def test_a_connection_that_sends_nothing_is_closed(gateway_factory: GatewayFactory, connect: Connect) -> None:
    gateway = gateway_factory(worker=False, listen=True, http=HttpConfig(keep_alive_s=0.05))
    connection = connect(gateway)
    assert _read_all(connection) == b""  # closed by the server, well before the socket's own timeout


def test_a_client_that_leaves_mid_body_is_one_log_line_without_traceback(
    gateway_factory: GatewayFactory, connect: Connect, caplog: pytest.LogCaptureFixture
) -> None:
    gateway = gateway_factory(worker=False, listen=True)
    caplog.set_level(logging.INFO)
    connection = connect(gateway)
    connection.sendall(
        f"POST {T2V} HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer {gateway.keys['alice']}\r\n"
        'Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"prompt": '.encode()
    )
    connection.close()
    deadline = time.monotonic() + SOCKET_TIMEOUT_S
    while not any("went away" in record.getMessage() for record in caplog.records):
        assert time.monotonic() < deadline, "the gateway never noticed the client leave"
        time.sleep(0.01)
    (noted,) = [record for record in caplog.records if "went away" in record.getMessage()]
    assert noted.getMessage() == f"POST {T2V}: the client went away before its request body was complete"
    assert [record.getMessage() for record in caplog.records if record.exc_info] == []
    assert not any("unexpected failure" in record.getMessage() for record in caplog.records)
    assert gateway.admin.task_count() == 0
