"""What the routes take, as typed dependencies: the runtime, the authenticated caller, the dialect, the database,
the body, and query parameters that validate themselves.

Authenticating records the key's dialect on the request before its request is counted, so that every error from
then on (a 429 for the key's own rate included) speaks it. A query parameter that fails validation is answered
like any other bad field: the dialect's error body, 400, Kling code 1201, a message naming the field and what is
allowed (`invalid_request`); FastAPI's own 422 never reaches a client.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any, NamedTuple

import orjson
from fastapi import Depends, Query
from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, PydanticCustomError, core_schema
from starlette.requests import Request

from kling_gateway.api import responses
from kling_gateway.api.auth import KeyCache, api_key_caller, caller
from kling_gateway.api.runtime import Runtime
from kling_gateway.dialects import DIALECT_HEADER, Dialect
from kling_gateway.errors import InvalidRequest
from kling_gateway.keys.service import Principal
from kling_gateway.kling.paths import PAGE_NUM_RANGE, PAGE_SIZE_RANGE, WHOLE_NUMBER
from kling_gateway.store.database import Database

WHOLE_NUMBER_ERROR = "whole_number"


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


async def get_runtime(request: Request) -> Runtime:
    """The gateway's parts: its services, its database, its upstream client."""
    return _runtime(request)


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


async def get_database(runtime: RuntimeDep) -> Database:
    """The gateway's database, for a route that reads or writes it through a service of its own."""
    return runtime.db


DatabaseDep = Annotated[Database, Depends(get_database)]


async def get_caller(request: Request) -> Principal:
    """Authenticate the request (`documentation.AUTH_SCHEME`) and count it against its key."""
    return await caller(_runtime(request).keys, request)


async def get_openai_caller(request: Request) -> Principal:
    """Authenticate a request to an API with a shape of its own: every answer, errors included, is OpenAI-style."""
    request.state.openai_shaped = True  # errors from here on, auth's included, are OpenAI-style
    return await get_caller(request)


async def get_kling_caller(request: Request) -> Principal:
    """Authenticate a request to a route only Kling has: every answer is in the Kling envelope."""
    request.state.dialect = Dialect.KLING
    return await get_caller(request)


OpenAiCallerDep = Annotated[Principal, Depends(get_openai_caller)]
KlingCallerDep = Annotated[Principal, Depends(get_kling_caller)]


class Speaker(NamedTuple):
    """An authenticated caller and the dialect its answers speak."""

    owner: Principal
    dialect: Dialect


async def speaker(keys: KeyCache, request: Request, asked: str | None) -> Speaker:
    """Authenticate a request, then settle its dialect: `asked` (its header's value), else its key's default,
    else kling. The query lane, which runs before FastAPI, calls this too."""
    owner = await caller(keys, request)
    return Speaker(owner, responses.choose_dialect(request, owner.dialect, asked))


async def get_speaker(request: Request) -> Speaker:
    """Authenticate the request and settle the dialect it speaks (`documentation.DIALECT_PARAMETER`)."""
    return await speaker(_runtime(request).keys, request, request.headers.get(DIALECT_HEADER))


# One dependency for both, not a dialect depending on the caller, with the credential and the header read here
# rather than declared (the document says both): FastAPI analyses every dependency of every route anew as the app
# is made, building a validator per parameter, and for a hundred routes that is most of the cost of making an app.
SpeakerDep = Annotated[Speaker, Depends(get_speaker)]


async def get_api_key_speaker(request: Request) -> Speaker:
    """Authenticate a request to a new-generation route by its API key alone, and settle its dialect."""
    owner = await api_key_caller(_runtime(request).keys, request)
    return Speaker(owner, responses.choose_dialect(request, owner.dialect, request.headers.get(DIALECT_HEADER)))


async def get_api_key_kling_caller(request: Request) -> Principal:
    """Authenticate a request to `/tasks` by its API key alone: every answer is in the Kling envelope."""
    request.state.dialect = Dialect.KLING
    return await api_key_caller(_runtime(request).keys, request)


ApiKeySpeakerDep = Annotated[Speaker, Depends(get_api_key_speaker)]
ApiKeyKlingCallerDep = Annotated[Principal, Depends(get_api_key_kling_caller)]


async def read_json(request: Request) -> Any:
    """Read a JSON request body, whatever its content type says; say what is wrong with one that is not JSON."""
    try:
        return orjson.loads(await request.body())
    except orjson.JSONDecodeError as error:
        raise InvalidRequest(f"request body is not valid JSON ({error})") from None


JsonBody = Annotated[Any, Depends(read_json)]


@dataclass(frozen=True, slots=True)
class WholeNumber:
    """A query parameter that is a whole number of ASCII digits from `low` to `high`, refused with both bounds.

    `int` alone would take " 5", "+5", "5_0" and "5.0"; the official API and the sandbox refuse them.
    """

    low: int
    high: int

    def read(self, raw: Any) -> int:
        """Return the number, or raise the error that names the bounds."""
        if isinstance(raw, str) and WHOLE_NUMBER.fullmatch(raw) and self.low <= int(raw) <= self.high:
            return int(raw)
        raise PydanticCustomError(
            WHOLE_NUMBER_ERROR,
            "must be a whole number from {low} to {high} (got {got})",
            {"low": self.low, "high": self.high, "got": repr(raw)},
        )

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        return core_schema.no_info_before_validator_function(self.read, handler(source))

    def __get_pydantic_json_schema__(self, schema: CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        document = handler(schema)
        document.update(minimum=self.low, maximum=self.high)
        return document


def whole_number_parameter(request: Request, name: str, number: WholeNumber, default: int) -> int:
    """Read a whole-number query parameter as the routes' `Query` does, for a handler that runs before FastAPI:
    the default when absent, else the number, else the same 400 naming the parameter and its bounds."""
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        return number.read(raw)
    except PydanticCustomError as error:
        raise InvalidRequest(f"{name}: {error.message()}", param=name) from None


PAGE_NUM = WholeNumber(*PAGE_NUM_RANGE)
PAGE_SIZE = WholeNumber(*PAGE_SIZE_RANGE)
# The paging of a Kling list query; out of range is an error, never silently reset. Two scalar parameters, not one
# model of them: FastAPI reads a model of query parameters several times slower, on every list request.
PageNum = Annotated[int, PAGE_NUM, Query(alias="pageNum")]
PageSize = Annotated[int, PAGE_SIZE, Query(alias="pageSize")]


def invalid_request(errors: Sequence[Any]) -> InvalidRequest:
    """Say what is wrong with the first parameter FastAPI refused, as the gateway says it of any field."""
    error = errors[0]
    name = str(error["loc"][-1])
    if error["type"] == "literal_error":
        allowed = str(error["ctx"]["expected"]).replace("'", "")
        return InvalidRequest(f"{name}: {error['input']!r} is not allowed; use {allowed}", param=name)
    return InvalidRequest(f"{name}: {error['msg']}", param=name)
