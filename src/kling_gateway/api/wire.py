"""The `kling` dialect on the wire: the official envelope around a task, encoded once with orjson."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response
from ulid import ULID

from kling_gateway.errors import GatewayError

JSON_TYPE = "application/json"
SUCCESS_MESSAGE = "success"  # seed 000's envelope


def new_request_id() -> str:
    """Name a request in answers and logs."""
    return f"req_{ULID()}"


def ok(data: Any) -> Response:
    """Answer 200 with the success envelope around `data`."""
    body = {"code": 0, "message": SUCCESS_MESSAGE, "request_id": new_request_id(), "data": data}
    return Response(orjson.dumps(body), media_type=JSON_TYPE)


def error(failure: GatewayError) -> Response:
    """Answer an error with its status and the Kling error envelope."""
    body = {"code": failure.kling_code.code, "message": failure.message, "request_id": new_request_id()}
    return Response(orjson.dumps(body), status_code=failure.http_status, media_type=JSON_TYPE)
