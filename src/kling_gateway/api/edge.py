"""The outermost layer of every request: the shape its errors speak, bounds on its body, and an answer for what
no route answered.

A body is counted as it arrives, before anything parses it: a declared `Content-Length` past the limit is refused
at once, a chunked one as soon as it passes the limit, and one that does not arrive in time is cut; so is one that
the bodies of the requests under way leave no room for. The answer (413, 408, 503) is in the caller's dialect and
closes the connection, so the rest is never read.

A failure no route answered becomes one log line with its reason and an answer in the caller's dialect: a client
that went away, a store that is unavailable (503); only a bug gets a traceback.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from starlette.requests import ClientDisconnect, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kling_gateway.api import responses
from kling_gateway.api.surfaces import openai_shaped, text_only_create
from kling_gateway.errors import (
    GatewayError,
    InvalidRequest,
    Overloaded,
    PayloadTooLarge,
    RequestTimeout,
    ServerError,
    StoreUnavailable,
)
from kling_gateway.observability.metrics import UNEXPECTED_ERRORS
from kling_gateway.redaction import redact
from kling_gateway.settings import HttpConfig
from kling_gateway.store.outages import unavailable_reason

log = logging.getLogger(__name__)
CLOSE = (b"connection", b"close")


def too_large(limit: int, *, text_only: bool = False) -> PayloadTooLarge:
    """Say that a body is over the limit, and what the limit is."""
    if text_only:
        return PayloadTooLarge(
            f"the request body is larger than {limit} bytes, the most the gateway takes for an action without media "
            "(KLING_GATEWAY_HTTP__MAX_TEXT_BODY_BYTES): its body holds only text and numbers"
        )
    return PayloadTooLarge(
        f"the request body is larger than {limit} bytes, the most the gateway takes "
        "(KLING_GATEWAY_HTTP__MAX_BODY_BYTES); send large media by URL"
    )


def answer_failure(request: Request, failure: Exception) -> GatewayError:
    """Log a failure no route answered, in one line unless it is a bug; say what the client is answered."""
    where = f"{request.method} {redact(request.url.path)}"
    if isinstance(failure, ClientDisconnect):
        log.info("%s: the client went away before its request body was complete", where)
        return InvalidRequest("the request body ended before it was complete")
    reason = unavailable_reason(failure)
    if reason is not None:
        log_unavailable(request, failure)
        return StoreUnavailable(f"the gateway's store is unavailable ({reason}); retry in a few seconds")
    UNEXPECTED_ERRORS.labels("http").inc()
    log.exception("unexpected failure on %s", where, exc_info=failure)
    return ServerError()


def log_unavailable(request: Request, failure: BaseException) -> None:
    """Note in one line that a request met an unavailable store, and why (the address is the operator's)."""
    log.warning("%s %s: the store is unavailable: %s", request.method, redact(request.url.path), failure)


@dataclass
class _Budget:
    """The body bytes the requests under way hold, all together, and the most they may."""

    limit: int
    held: int = 0

    def take(self, size: int) -> bool:
        """Count `size` more bytes as held, if they fit."""
        if self.held + size > self.limit:
            return False
        self.held += size
        return True


def overloaded() -> Overloaded:
    """Say that the bodies under way leave no room for this one."""
    return Overloaded(
        "the gateway is reading too many large request bodies at once "
        "(KLING_GATEWAY_HTTP__MAX_BODIES_IN_FLIGHT_BYTES); retry in a few seconds"
    )


@dataclass
class _Body:
    """A request's `receive`, counting the body's bytes against the limit, the shared budget and the deadline."""

    receive: Receive
    limit: int
    timeout_s: float
    budget: _Budget
    text_only: bool = False  # the limit is that of an action without media
    received: int = 0
    complete: bool = False
    cut: bool = False  # refused part-way: the answer closes the connection
    deadline: float | None = None

    async def __call__(self) -> Message:
        if self.complete:  # e.g. a streaming answer listening for the client to go away: no bound
            return await self.receive()
        loop = asyncio.get_running_loop()
        if self.deadline is None:
            self.deadline = loop.time() + self.timeout_s
        try:
            async with asyncio.timeout_at(self.deadline):
                message = await self.receive()
        except TimeoutError:
            self.cut = True
            raise RequestTimeout(f"the request body did not arrive within {self.timeout_s:g} s") from None
        if message["type"] == "http.request":
            size = len(message.get("body", b""))
            if self.received + size > self.limit:
                self.cut = True
                raise too_large(self.limit, text_only=self.text_only)
            if not self.budget.take(size):
                self.cut = True
                raise overloaded()
            self.received += size
            self.complete = not message.get("more_body", False)
        return message


class Edge:
    """Bound every request's body, mark the OpenAI-shaped surface, and answer failures no route answered."""

    def __init__(self, app: ASGIApp, config: HttpConfig) -> None:
        self.app = app
        self.config = config
        self.budget = _Budget(config.max_bodies_in_flight_bytes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if openai_shaped(scope["method"], scope["path"]):
            scope.setdefault("state", {})["openai_shaped"] = True
        request = Request(scope)
        text_only = self.config.max_text_body_bytes < self.config.max_body_bytes and text_only_create(
            scope["method"], scope["path"]
        )
        limit = self.config.max_text_body_bytes if text_only else self.config.max_body_bytes
        declared = _declared_length(scope)
        if declared > limit:
            await self._answer(request, too_large(limit, text_only=text_only), send, close=True)
            return
        if self.budget.held + declared > self.budget.limit:
            await self._answer(request, overloaded(), send, close=True)
            return
        body = _Body(receive, limit, self.config.body_timeout_s, self.budget, text_only)
        started = False

        async def sending(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                if body.cut:
                    message = {**message, "headers": [*message.get("headers", []), CLOSE]}
            await send(message)

        try:
            await self.app(scope, body, sending)
        except Exception as failure:
            refusal = answer_failure(request, failure)
            if not started:  # else the answer is under way and can only be cut short
                await self._answer(request, refusal, send, close=body.cut)
        finally:
            self.budget.held -= body.received  # the request and its body are done with

    @staticmethod
    async def _answer(request: Request, failure: GatewayError, send: Send, *, close: bool) -> None:
        answer = responses.error(request, failure)
        if close:
            answer.headers["connection"] = "close"
        await answer(request.scope, request.receive, send)


def _declared_length(scope: Scope) -> int:
    """The body's length as its Content-Length says (the server has checked the header's form); 0 if none."""
    for name, value in scope["headers"]:
        if name == b"content-length":
            return int(value) if value.isdigit() else 0
    return 0
