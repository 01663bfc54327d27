"""Pick the response shape of a request and encode bodies once, with orjson.

A request speaks the dialect its `X-Response-Format` header names, else its key's default, else `kling`. Routes
with a shape of their own (the OpenAI videos API, the new-api generations route) fix it for every answer,
errors included.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from kling_gateway.dialects import DIALECT_HEADER, Dialect, video
from kling_gateway.dialects.shapes import SHAPES
from kling_gateway.errors import GatewayError, InvalidRequest, MethodNotAllowed, RateLimited


class JsonAnswer(JSONResponse):
    """A JSON answer, encoded once with orjson; every route's response class, so the document says JSON."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def json(body: Any, status_code: int = 200) -> Response:
    """Answer with a JSON body."""
    return JsonAnswer(body, status_code)


def asked_dialect(request: Request) -> Dialect | None:
    """Read the dialect a request asks for in its header; None when it asks for none."""
    return parse_dialect(request.headers.get(DIALECT_HEADER))


def parse_dialect(raw: str | None) -> Dialect | None:
    """Read the value of a dialect header, in any case; None for no header."""
    if raw is None:
        return None
    try:
        return Dialect(raw.strip().lower())
    except ValueError:
        allowed = ", ".join(dialect.value for dialect in Dialect)
        raise InvalidRequest(
            f"{DIALECT_HEADER}: {raw!r} is not a response format; use one of {allowed}", param=DIALECT_HEADER
        ) from None


def choose_dialect(request: Request, key_default: Dialect | None, asked: str | None) -> Dialect:
    """Settle the dialect of a request once its key is known (authenticating noted the key's default on the
    request), from its header's value `asked`; errors after this point answer in it too."""
    dialect = (None if asked is None else parse_dialect(asked)) or key_default or Dialect.KLING
    request.state.dialect = dialect
    return dialect


def error(request: Request, failure: GatewayError) -> Response:
    """Answer an error in the shape this request speaks, as far as it is known when the error happens: an
    OpenAI-shaped answer with HTTP's status (405 for a wrong method), the others with Kling's."""
    openai_shaped = getattr(request.state, "openai_shaped", False)
    if openai_shaped:
        answer = json(video.error(failure), failure.openai_http_status)
    else:
        answer = json(_error_body(request, failure), failure.http_status)
    if isinstance(failure, RateLimited):
        answer.headers["Retry-After"] = str(failure.retry_after_s)
    if isinstance(failure, MethodNotAllowed) and failure.allowed and openai_shaped:
        answer.headers["Allow"] = failure.allowed
    return answer


def _error_body(request: Request, failure: GatewayError) -> Any:
    state = request.state
    dialect = getattr(state, "dialect", None)
    if dialect is None:
        try:
            dialect = asked_dialect(request)
        except InvalidRequest:
            dialect = None  # the header itself is at fault: fall back to the key's default, then kling
        dialect = dialect or getattr(state, "key_dialect", None) or Dialect.KLING
    return SHAPES[dialect].error(failure)
