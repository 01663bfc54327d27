"""Serve an ASGI app with uvicorn, with limits on what a connection may send before the app sees a request.

uvicorn's httptools protocol reads a request's head without bound (a 10 MB header is parsed whole) and waits for
it forever (a new connection that sends nothing, or a byte at a time, stays open). `limited_protocol` is that
protocol with three limits: the head's size (431 past it), the time from a request's first byte to its last header
(408), and a new connection's wait for its first byte, which uvicorn bounds only between requests (keep-alive).
Bodies are bounded by the app, which knows the caller's dialect.
"""

from __future__ import annotations

import asyncio
import http
import socket
import threading
import time
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import httptools
import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


@dataclass(frozen=True)
class ConnectionLimits:
    """What one connection may send, and how slowly, before a request reaches the app."""

    max_head_bytes: int = 64 * 1024  # request line and headers together
    head_timeout_s: float = 10.0  # from a request's first byte to the end of its headers
    keep_alive_s: float = 5.0  # an idle connection, new or between requests, is closed after this


LINGER_S = 2.0  # how long a refused connection's further bytes are read and dropped, so the refusal is read
LINGER_BYTES = 1024 * 1024  # and how many at most: past them the connection is closed (reset) at once


class _HeadTooLarge(Exception):
    """Stop parsing: the head is larger than allowed."""


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, refusing a head that is too large or too slow."""

    limits = ConnectionLimits()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.timeout_keep_alive = self.limits.keep_alive_s  # type: ignore[assignment]  # uvicorn's is whole seconds
        self._awaiting_head = True  # until the headers of the request under way are complete
        self._head_bytes = 0
        self._head_timer: asyncio.TimerHandle | None = None
        self._refused = False  # answered before its head was read: what else comes is dropped
        self._dropped = 0  # bytes dropped since the refusal

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        # A connection that never sends a byte is idle too: uvicorn starts this timer only after a response.
        self.timeout_keep_alive_task = self.loop.call_later(self.timeout_keep_alive, self.timeout_keep_alive_handler)

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_head_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        # uvicorn's own, but for the head's bounds: a refusal raised while parsing is not a malformed request.
        if self._refused:
            self._dropped += len(data)
            if self._dropped > LINGER_BYTES:  # a client that keeps sending is not reading: spend nothing more on it
                self.transport.close()
            return
        self._unset_keepalive_if_required()
        if self._awaiting_head:
            self._head_bytes += len(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as error:
            if isinstance(error.__context__, _HeadTooLarge):
                self._head_too_large()
            else:
                self.logger.warning("Invalid HTTP request received.")
                self.send_400_response("Invalid HTTP request received.")
            return
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
            return
        if self._awaiting_head and self._head_bytes > self.limits.max_head_bytes:
            self._head_too_large()  # the head is not even complete, and already too large

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._awaiting_head = True
        if self._head_timer is None:
            self._head_timer = self.loop.call_later(self.limits.head_timeout_s, self._head_too_slow)

    def on_headers_complete(self) -> None:
        head = len(self.url) + sum(len(name) + len(value) + 4 for name, value in self.headers)
        if head > self.limits.max_head_bytes:
            raise _HeadTooLarge
        self._awaiting_head = False
        self._head_bytes = 0
        self._stop_head_timer()
        super().on_headers_complete()

    def _stop_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_too_large(self) -> None:
        self._refuse(
            http.HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE,
            f"the request line and headers are larger than {self.limits.max_head_bytes} bytes, the most this "
            "server reads",
        )

    def _head_too_slow(self) -> None:
        self._head_timer = None
        if self._awaiting_head and not self.transport.is_closing():
            self._refuse(
                http.HTTPStatus.REQUEST_TIMEOUT,
                f"the request's headers did not arrive within {self.limits.head_timeout_s:g} s",
            )

    def _refuse(self, status: http.HTTPStatus, message: str) -> None:
        """Answer before any app has the request, and close the connection."""
        self._stop_head_timer()
        self._awaiting_head = False
        body = message.encode()
        head = [f"HTTP/1.1 {status.value} {status.phrase}".encode()]
        head += [name + b": " + value for name, value in self.server_state.default_headers]
        head += [
            b"content-type: text/plain; charset=utf-8",
            b"content-length: " + str(len(body)).encode(),
            b"connection: close",
        ]
        self.transport.write(b"\r\n".join(head) + b"\r\n\r\n" + body)
        self.logger.info("refused a request: %s", message)
        self._refused = True
        if not self.transport.can_write_eof():
            self.transport.close()
            return
        # Closing with the client's bytes unread would reset the connection, losing the answer on the way: end
        # the sending side, drop what still comes for a while, then close.
        self.transport.write_eof()
        self.loop.call_later(LINGER_S, self.transport.close)


def limited_protocol(limits: ConnectionLimits) -> type[asyncio.Protocol]:
    """The httptools protocol with these limits, for `uvicorn.Config(http=...)`."""
    return type("LimitedHttpTools", (LimitedHttpToolsProtocol,), {"limits": limits})


def server_options(limits: ConnectionLimits | None = None) -> dict[str, Any]:
    """uvicorn's options that enforce `limits` (the defaults unless given)."""
    return {"http": limited_protocol(limits or ConnectionLimits())}


def server_config(app: Any, limits: ConnectionLimits | None = None, **options: Any) -> uvicorn.Config:
    """Configure uvicorn to serve an app within `limits`; `options` go to uvicorn."""
    return uvicorn.Config(app, **server_options(limits), **options)


def serve(app: Any, limits: ConnectionLimits | None = None, **options: Any) -> None:
    """Serve an app until interrupted, as `uvicorn.run` does, within `limits`."""
    uvicorn.run(app, **server_options(limits), **options)


class BackgroundServer:
    """Serve an app with uvicorn on its own thread and event loop; a context manager that starts and stops it."""

    def __init__(
        self,
        app: Any,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        log_level: str = "warning",
        limits: ConnectionLimits | None = None,
        access_log: bool = False,
    ) -> None:
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind((host, port))
        self.host, self.port = self._socket.getsockname()[:2]
        config = server_config(app, limits, log_level=log_level, lifespan="on", access_log=access_log)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._serve, name=f"server:{self.port}", daemon=True)

    @property
    def url(self) -> str:
        """The base URL the app answers on."""
        return f"http://{self.host}:{self.port}"

    def _serve(self) -> None:
        self._server.run(sockets=[self._socket])

    def start(self, timeout_s: float = 10.0) -> BackgroundServer:
        """Start serving and wait until the app has finished starting up."""
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the server on {self.url} did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        """Ask the server to finish and wait for its thread."""
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._socket.close()

    def __enter__(self) -> BackgroundServer:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()
