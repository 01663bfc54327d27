"""Apps in the test process: one event loop on a thread, a network of ASGI apps by host name, loopback servers.

Every app a test starts (sandboxes, gateways, callback receivers) runs on the same event loop, on its own thread,
so a test's plain code can call them while they run their background work. Requests reach an app in-process
(`httpx.ASGITransport`) when its host is one of the network's; any other host is reached over the real network,
which is where apps served on a loopback port answer: for subprocesses, and for senders that open their own clients.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import itertools
import socket
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import httpx
import uvicorn
import uvloop

from kling_gateway.serving import ConnectionLimits, server_config

T = TypeVar("T")
ASGIApp = Any  # any ASGI 3 application: Starlette, FastAPI, or a middleware around one
CALL_TIMEOUT_S = 60.0  # the most a set-up or tear-down step on the loop may take
LOOPBACK = "127.0.0.1"


class EventLoopThread:
    """Run one asyncio event loop on a daemon thread and hand it coroutines from any other thread."""

    def __init__(self) -> None:
        self.loop = uvloop.new_event_loop()  # the loop uvicorn serves the gateway on in production
        self._thread = threading.Thread(target=self.loop.run_forever, name="test-apps", daemon=True)
        self._thread.start()

    def run(self, coroutine: Coroutine[Any, Any, T], timeout_s: float | None = CALL_TIMEOUT_S) -> T:
        """Run a coroutine on the loop and wait for its result."""
        if threading.current_thread() is self._thread:
            coroutine.close()
            raise RuntimeError("the loop's own thread cannot wait for the loop")
        future = asyncio.run_coroutine_threadsafe(coroutine, self.loop)
        try:
            return future.result(timeout_s)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise

    def close(self) -> None:
        """Cancel whatever still runs on the loop, then stop it and its thread."""
        self.run(_cancel_others())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)
        self.loop.close()


async def _cancel_others() -> None:
    others = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
    for task in others:
        task.cancel()
    await asyncio.gather(*others, return_exceptions=True)


class Network:
    """Name in-process apps by host and route requests to them; other hosts are reached over the real network."""

    def __init__(self, loop: EventLoopThread) -> None:
        self.loop = loop
        self._apps: dict[str, httpx.ASGITransport] = {}
        self._numbers = itertools.count(1)
        self._router = Router(self._apps)

    def add(self, app: ASGIApp, name: str) -> str:
        """Give an app a host of its own and return its base URL."""
        host = f"{name}-{next(self._numbers)}.test"
        # Like a server: an app's unhandled error is the 500 it answered, not an exception in the caller.
        self._apps[host] = httpx.ASGITransport(app=app, raise_app_exceptions=False, client=(LOOPBACK, 50_000))
        return f"http://{host}"

    def remove(self, url: str) -> None:
        """Take an app's host off the network."""
        self._apps.pop(httpx.URL(url).host, None)

    def transport(self) -> httpx.AsyncBaseTransport:
        """A transport for async clients on the loop: to the network's apps in-process, elsewhere for real."""
        return Router(self._apps)

    def client(self, **options: Any) -> httpx.Client:
        """Open a plain client (for a test's own code) whose requests go through the loop and the network."""
        return httpx.Client(transport=LoopTransport(self.loop, self._router), **({"timeout": 15} | options))

    def close(self) -> None:
        """Close the connections the network opened to real hosts."""
        self.loop.run(self._router.aclose())


class Router(httpx.AsyncBaseTransport):
    """Send each request to the in-process app of its host, or over the real network if it has none."""

    def __init__(self, apps: dict[str, httpx.ASGITransport]) -> None:
        self._apps = apps
        self._network: httpx.AsyncHTTPTransport | None = None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        app = self._apps.get(request.url.host)
        if app is not None:
            return await app.handle_async_request(request)
        if self._network is None:
            self._network = httpx.AsyncHTTPTransport()
        return await self._network.handle_async_request(request)

    async def aclose(self) -> None:
        if self._network is not None:
            await self._network.aclose()


class LoopTransport(httpx.BaseTransport):
    """Carry a plain client's requests to an async transport on the loop, and their whole answers back."""

    def __init__(self, loop: EventLoopThread, transport: httpx.AsyncBaseTransport) -> None:
        self._loop = loop
        self._transport = transport

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        body = request.read()
        timeout = request.extensions.get("timeout", {}).get("read")
        try:
            status, headers, content = self._loop.run(self._send(request, body), timeout_s=timeout)
        except concurrent.futures.TimeoutError:
            raise httpx.ReadTimeout(f"no answer within {timeout} s", request=request) from None
        return httpx.Response(status, headers=headers, stream=httpx.ByteStream(content), request=request)

    async def _send(self, request: httpx.Request, body: bytes) -> tuple[int, httpx.Headers, bytes]:
        forwarded = httpx.Request(request.method, request.url, headers=request.headers, content=body)
        response = await self._transport.handle_async_request(forwarded)
        try:
            return response.status_code, response.headers, await response.aread()
        finally:
            await response.aclose()


class Lifespan:
    """Drive an app's ASGI lifespan as a server does: startup before the first request, shutdown after the last."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app
        self._events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._replies: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    async def startup(self) -> None:
        """Start the app; raise if its startup fails."""
        scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}, "state": {}}
        self._task = asyncio.create_task(self._app(scope, self._events.get, self._replies.put))
        await self._exchange("startup")

    async def shutdown(self) -> None:
        """Stop the app; raise if its shutdown fails."""
        await self._exchange("shutdown")
        assert self._task is not None
        await self._task

    async def _exchange(self, phase: str) -> None:
        assert self._task is not None
        await self._events.put({"type": f"lifespan.{phase}"})
        reply = asyncio.ensure_future(self._replies.get())
        await asyncio.wait({reply, self._task}, return_when=asyncio.FIRST_COMPLETED)
        if not reply.done():
            reply.cancel()
            self._task.result()  # raises what ended the app
            raise RuntimeError(f"the app ended its lifespan without answering {phase}")
        if reply.result()["type"] != f"lifespan.{phase}.complete":
            with contextlib.suppress(BaseException):
                await self._task
            raise RuntimeError(f"the app's {phase} failed: {reply.result().get('message', '')}")


class _PromptServer(uvicorn.Server):
    """A uvicorn server that stops as soon as it is told, instead of at its next tenth-of-a-second tick."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.exit_now = asyncio.Event()

    async def main_loop(self) -> None:
        await self.on_tick(0)  # sets the default headers, as the first tick does
        await self.exit_now.wait()


def loopback_socket(port: int = 0) -> socket.socket:
    """Bind a loopback port (any free one by default) for a server to take: its URL is known before the server."""
    bound = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    bound.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    bound.bind((LOOPBACK, port))
    return bound


def url_of(bound: socket.socket) -> str:
    """The base URL of a server on a bound socket."""
    return f"http://{LOOPBACK}:{bound.getsockname()[1]}"


class LoopbackServer:
    """Serve an app with uvicorn on a loopback port, on the loop; the app's lifespan is run by its owner."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        port: int = 0,
        bound: socket.socket | None = None,
        limits: ConnectionLimits | None = None,
    ) -> None:
        self._socket = bound or loopback_socket(port)
        self.url = url_of(self._socket)
        # As `serve` runs the gateway: with the limits on a connection's head and idle time (defaults unless given).
        config = server_config(app, limits, lifespan="off", log_level="warning", access_log=False)
        self._server = _PromptServer(config)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Listen, and return once the server accepts connections."""
        self._task = asyncio.create_task(self._server.serve(sockets=[self._socket]))
        while not self._server.started:
            if self._task.done():
                self._task.result()
                raise RuntimeError(f"the server on {self.url} did not start")
            await asyncio.sleep(0.002)

    async def stop(self) -> None:
        """Stop listening, let requests under way finish, and close the socket."""
        self._server.should_exit = True
        self._server.exit_now.set()
        if self._task is not None:
            await self._task
        self._socket.close()


class Apps:
    """Start apps for one test, in-process or on a loopback port; stop them all, newest first, when it ends."""

    def __init__(self, network: Network) -> None:
        self._network = network
        self._stops: list[Callable[[], Coroutine[Any, Any, None]]] = []

    def start(
        self,
        app: ASGIApp,
        name: str,
        *,
        listen: bool = False,
        bound: socket.socket | None = None,
        limits: ConnectionLimits | None = None,
    ) -> str:
        """Run an app's startup, then put it on the network (or on a loopback port, or the bound socket given,
        with these connection limits); return its base URL."""
        lifespan = Lifespan(app)
        self._network.loop.run(lifespan.startup())
        self._stops.append(lifespan.shutdown)
        if listen or bound is not None:
            return self.listen(app, bound=bound, limits=limits)
        url = self._network.add(app, name)
        self.after(lambda: self._unlisted(url))
        return url

    def listen(
        self,
        app: ASGIApp,
        *,
        port: int = 0,
        bound: socket.socket | None = None,
        limits: ConnectionLimits | None = None,
    ) -> str:
        """Serve an app whose lifespan runs elsewhere (or that has none) on a loopback port; return its URL."""
        server = LoopbackServer(app, port=port, bound=bound, limits=limits)
        self._network.loop.run(server.start())
        self._stops.append(server.stop)
        return server.url

    def after(self, step: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Run a step on the loop when the apps started so far have stopped (e.g. close a client they use)."""
        self._stops.append(step)

    async def _unlisted(self, url: str) -> None:
        self._network.remove(url)

    def stop(self) -> None:
        """Stop every app, newest first; raise the first failure once all have had their turn."""
        failures: list[BaseException] = []
        while self._stops:
            try:
                self._network.loop.run(self._stops.pop()())
            except Exception as failure:  # keep stopping the others
                failures.append(failure)
        if failures:
            raise failures[0]
