"""Name every request and log one line when it is answered.

Each request gets an id: the client's `X-Request-Id` when it sent a well-formed one (a reverse proxy's, or its own),
else a new `req_<ULID>`. The id is sent back as `X-Request-Id`, is the `request_id` of Kling-shaped bodies, and is on
every log line written while the request is answered (`kling_gateway.logs`), so a client quoting it leads to its
lines. The access log is one line per request: method, path (secrets redacted), status, duration, request and key
ids; never a header, a body or a query string, which may carry keys and tokens.

The layer sits outside the framework's own, its last-resort error handler included, so a 500 carries its id too.
"""

from __future__ import annotations

import logging
import re
import time

from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kling_gateway import logs
from kling_gateway.redaction import redact

REQUEST_ID_HEADER = b"x-request-id"
# What a client's id may be: a UUID, a ULID, a proxy's hex `$request_id`, `req_…`; anything else could forge lines.
WELL_FORMED_ID = re.compile(rb"[A-Za-z0-9._:-]{1,128}")

access = logging.getLogger(logs.ACCESS_LOGGER)
access_lines = logs.LineRecords(access, logging.INFO, __file__)


def install(app: FastAPI, *, access_log: bool) -> None:
    """Make naming and logging requests the outermost layer of `app`, with or without the access log."""
    build = app.build_middleware_stack

    def outermost() -> ASGIApp:
        return RequestLog(build(), access_log=access_log)

    app.build_middleware_stack = outermost  # type: ignore[method-assign]


class RequestLog:
    """Name each HTTP request, send its id back, and log the request once it is answered."""

    def __init__(self, app: ASGIApp, *, access_log: bool = True) -> None:
        self.app = app
        self.access_log = access_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = client_request_id(scope) or logs.generate_request_id()
        named = (REQUEST_ID_HEADER, request_id.encode())
        started = time.perf_counter()
        status, answered = 0, False

        async def send_named(message: Message) -> None:
            nonlocal status, answered
            if message["type"] == "http.response.start":
                status = message["status"]
                message = {**message, "headers": [*message.get("headers", ()), named]}
            elif message["type"] == "http.response.body" and not message.get("more_body", False):
                answered = True
            await send(message)

        token = logs.enter_request(request_id)
        try:
            await self.app(scope, receive, send_named)
        except Exception:
            # Answered and logged, with this id, by the last-resort handler: raised on, the server would log it
            # again, outside the request. Unanswered, the server must close the connection.
            if not answered:
                raise
        finally:
            if self.access_log and access.isEnabledFor(logging.INFO):
                log_access(scope, status or 500, (time.perf_counter() - started) * 1000)
            logs.leave_request(token)


def client_request_id(scope: Scope) -> str | None:
    """The client's own id of the request, when it sent one that is safe to log."""
    for name, value in scope["headers"]:
        if name == REQUEST_ID_HEADER:
            return value.decode("ascii") if WELL_FORMED_ID.fullmatch(value) else None
    return None


def log_access(scope: Scope, status: int, duration_ms: float) -> None:
    """Write the access-log line of one request.

    The record is made (`logs.LineRecords`) and handed to the handlers directly: through `Logger.info` every line
    would also search the stack for its caller, a fifth of the line's cost, to say what the logger's name already
    says.
    """
    method, path = scope["method"], redact(scope["path"])
    fields = {"method": method, "path": path, "status": status, "duration_ms": round(duration_ms, 3)}
    access.handle(access_lines.record(f"{method} {path} {status} {duration_ms:.2f} ms", fields))
