"""The demo's background server: an app on a loopback port, on a thread of its own, started and stopped in turn."""

from __future__ import annotations

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from kling_gateway.serving import BackgroundServer


def hello_app() -> Starlette:
    async def hello(_request: Request) -> Response:
        return PlainTextResponse("hello")

    return Starlette(routes=[Route("/", hello)])


def test_a_server_answers_once_started_and_lets_go_of_its_port_when_stopped() -> None:
    with BackgroundServer(hello_app()) as server:
        assert server.url == f"http://127.0.0.1:{server.port}"
        assert httpx.get(server.url).text == "hello"
    with pytest.raises(httpx.TransportError):
        httpx.get(server.url)
    with BackgroundServer(hello_app(), port=server.port) as again:  # the port is free again
        assert httpx.get(again.url).text == "hello"


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")  # uvicorn ends its thread
def test_an_app_that_cannot_start_is_reported() -> None:
    def broken_lifespan(_app: Starlette) -> object:
        raise RuntimeError("no database")

    server = BackgroundServer(Starlette(lifespan=broken_lifespan))  # type: ignore[arg-type]
    with pytest.raises(RuntimeError, match="did not start"):
        server.start(timeout_s=5)
    server.stop()
