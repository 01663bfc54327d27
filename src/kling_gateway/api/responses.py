"""Pick the response shape of a request and encode bodies once, with orjson.

A request speaks the dialect its `X-Response-Format` header names, else its key's default, else `kling`. Routes
with a shape of their own (the OpenAI videos API, the new-api generations route) fix it for every answer,
errors included.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from kling_gateway.api.auth import caller
from kling_gateway.api.runtime import Runtime
from kling_gateway.dialects import DIALECT_HEADER, Dialect, video
from kling_gateway.dialects.shapes import SHAPES
from kling_gateway.errors import GatewayError, InvalidRequest, RateLimited
from kling_gateway.keys.service import Principal

JSON_TYPE = "application/json"


def json(body: Any, status_code: int = 200) -> Response:
    """Answer with a JSON body."""
    return Response(orjson.dumps(body), status_code=status_code, media_type=JSON_TYPE)


def asked_dialect(request: Request) -> Dialect | None:
    """Read the dialect a request asks for in its header; None when it asks for none."""
    raw = request.headers.get(DIALECT_HEADER)
    if raw is None:
        return None
    try:
        return Dialect(raw.strip().lower())
    except ValueError:
        allowed = ", ".join(dialect.value for dialect in Dialect)
        raise InvalidRequest(
            f"{DIALECT_HEADER}: {raw!r} is not a response format; use one of {allowed}", param=DIALECT_HEADER
        ) from None


def choose_dialect(request: Request, key_default: Dialect | None) -> Dialect:
    """Settle the dialect of a request once its key is known; errors after this point answer in it too."""
    request.state.key_dialect = key_default
    dialect = asked_dialect(request) or key_default or Dialect.KLING
    request.state.dialect = dialect
    return dialect


class OpenAiShapedRoutes:
    """Routes of an API with one shape of its own: every answer, errors included, is OpenAI-style."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    async def _caller(self, request: Request) -> Principal:
        request.state.openai_shaped = True  # errors from here on, auth's included, are OpenAI-style
        return await caller(self.runtime.keys, request)


def error(request: Request, failure: GatewayError) -> Response:
    """Answer an error in the shape this request speaks, as far as it is known when the error happens."""
    answer = json(_error_body(request, failure), failure.http_status)
    if isinstance(failure, RateLimited):
        answer.headers["Retry-After"] = str(failure.retry_after_s)
    return answer


def _error_body(request: Request, failure: GatewayError) -> Any:
    state = request.state
    if getattr(state, "openai_shaped", False):
        return video.error(failure)
    dialect = getattr(state, "dialect", None)
    if dialect is None:
        try:
            dialect = asked_dialect(request)
        except InvalidRequest:
            dialect = None  # the header itself is at fault: fall back to the key's default, then kling
        dialect = dialect or getattr(state, "key_dialect", None) or Dialect.KLING
    return SHAPES[dialect].error(failure)
