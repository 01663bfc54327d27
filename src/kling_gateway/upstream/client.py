"""Call the Kling API for any number of channels: signed requests in, parsed tasks or sorted errors out."""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
import orjson

from kling_gateway.kling.codes import KlingCode
from kling_gateway.upstream.errors import (
    CREDENTIAL_CODES,
    ChannelUnavailable,
    OutcomeUnknown,
    error_for_answer,
)
from kling_gateway.upstream.tokens import TokenCache

T = TypeVar("T")

# Raised before a single byte of the request left: nothing can have been created upstream.
_NOT_SENT: tuple[type[Exception], ...] = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
    httpx.ProxyError,
    httpx.UnsupportedProtocol,
    httpx.InvalidURL,
)
_EXCERPT_CHARS = 200  # of an unexpected body, quoted in the error message


@dataclass(frozen=True)
class ChannelCredentials:
    """Say where one channel's Kling API lives and which key pair signs its requests."""

    base_url: str
    access_key: str
    secret_key: str = field(repr=False)

    def __post_init__(self) -> None:
        # Paths are appended as "/v1/...": a trailing slash would double it.
        object.__setattr__(self, "base_url", self.base_url.rstrip("/"))


@dataclass(frozen=True)
class UpstreamTask:
    """One task as the upstream reports it."""

    task_id: str
    task_status: str  # submitted | processing | succeed | failed, as sent
    task_status_msg: str
    task_info: dict[str, Any]
    task_result: dict[str, Any]
    final_unit_deduction: str | None  # a decimal string, e.g. "5"
    created_at: int  # ms
    updated_at: int  # ms

    @property
    def external_task_id(self) -> str | None:
        value = self.task_info.get("external_task_id")
        return value if isinstance(value, str) else None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> UpstreamTask:
        """Read a task object as create, query, list and callback bodies carry it; raise OutcomeUnknown if malformed."""
        if not isinstance(data, Mapping):
            raise OutcomeUnknown(f"upstream sent a task that is not an object: {_excerpt(repr(data))}")
        task_id = _field(data, "task_id", str, "")
        task_status = _field(data, "task_status", str, "")
        if not task_id or not task_status:
            raise OutcomeUnknown(f"upstream sent a task without task_id or task_status: {_excerpt(repr(data))}")
        created_at = _field(data, "created_at", int, 0)  # the official bodies always carry both times
        return cls(
            task_id=task_id,
            task_status=task_status,
            task_status_msg=_field(data, "task_status_msg", str, ""),
            task_info=_field(data, "task_info", dict, {}),
            task_result=_field(data, "task_result", dict, {}),
            final_unit_deduction=_units(data.get("final_unit_deduction")),
            created_at=created_at,
            updated_at=_field(data, "updated_at", int, created_at),
        )


class KlingClient:
    """Call one Kling API (any number of channels) over an injected httpx.AsyncClient."""

    def __init__(self, http: httpx.AsyncClient, *, tokens: TokenCache | None = None) -> None:
        self._http = http
        self._tokens = tokens or TokenCache()
        self.requests_sent = 0  # every request handed to the transport, answered or not

    async def create(
        self, channel: ChannelCredentials, family: str, action: str, body: Mapping[str, object]
    ) -> UpstreamTask:
        """Create a task; the answer carries only its id, status, info and times."""
        response = await self._send(channel, "POST", f"/v1/{family}/{action}", content=orjson.dumps(dict(body)))
        return UpstreamTask.from_json(self._data(channel, response, dict))

    async def get(self, channel: ChannelCredentials, family: str, action: str, reference: str) -> UpstreamTask | None:
        """Fetch one task by task_id or external_task_id; return None when the upstream does not know it."""
        if not reference:
            raise ValueError("reference must not be empty: the request would list the tasks instead")
        response = await self._send(channel, "GET", f"/v1/{family}/{action}/{quote(reference, safe='')}")
        if response.status_code == 404 and _code(_envelope(response)) == KlingCode.RESOURCE_NOT_FOUND.code:
            return None
        return UpstreamTask.from_json(self._data(channel, response, dict))

    async def call(self, channel: ChannelCredentials, path: str, body: Mapping[str, object]) -> dict[str, Any]:
        """Make a synchronous call that creates no task (e.g. `/v1/videos/identify-face`); return its `data`."""
        response = await self._send(channel, "POST", path, content=orjson.dumps(dict(body)))
        return self._data(channel, response, dict)

    async def call_answer(
        self, channel: ChannelCredentials, path: str, body: Mapping[str, object]
    ) -> tuple[dict[str, Any], str | None]:
        """Make a synchronous call; return its `data` and its envelope's `request_id`, what names a billed call
        that has no `task_id` of its own in the upstream's ledger."""
        response = await self._send(channel, "POST", path, content=orjson.dumps(dict(body)))
        data = self._data(channel, response, dict)
        envelope = _envelope(response)
        request_id = None if envelope is None else envelope.get("request_id")
        return data, request_id if isinstance(request_id, str) else None

    async def _send(
        self,
        channel: ChannelCredentials,
        method: str,
        path: str,
        *,
        content: bytes | None = None,
        params: Mapping[str, int] | None = None,
    ) -> httpx.Response:
        """Send one signed request; raise the matching error when no answer came back."""
        headers = {"Authorization": f"Bearer {self._tokens.token(channel.access_key, channel.secret_key)}"}
        if content is not None:
            headers["Content-Type"] = "application/json"
        self.requests_sent += 1
        try:
            return await self._http.request(
                method, channel.base_url + path, content=content, params=params, headers=headers
            )
        except _NOT_SENT as error:
            raise ChannelUnavailable(
                f"could not reach the upstream at {channel.base_url}: {_describe(error)}"
            ) from error
        except httpx.RequestError as error:  # timeouts and drops after sending, and undecodable answers
            raise OutcomeUnknown(
                f"lost the upstream at {channel.base_url} during {method} {path}: {_describe(error)}"
            ) from error

    def _data(self, channel: ChannelCredentials, response: httpx.Response, expected: type[T]) -> T:
        """Return the `data` of a success answer, or raise the error the answer stands for."""
        envelope = _envelope(response)
        code = _code(envelope)
        if not response.is_success:
            if code in CREDENTIAL_CODES:
                # An expired or refused token would otherwise be reused until its planned refresh.
                self._tokens.forget(channel.access_key, channel.secret_key)
            message = envelope.get("message") if envelope is not None else None
            request_id = envelope.get("request_id") if envelope is not None else None
            raise error_for_answer(
                response.status_code,
                code,
                message if isinstance(message, str) else None,
                request_id if isinstance(request_id, str) else None,
            )
        data = envelope.get("data") if envelope is not None else None
        if code != 0 or not isinstance(data, expected):
            raise OutcomeUnknown(
                f"upstream answered HTTP {response.status_code} with a body that is not a Kling success envelope: "
                f"{_excerpt(response.text)}",
                code=code,
                http_status=response.status_code,
            )
        return data

    # Last, because inside the class body below this point `list` names this method, not the builtin.
    async def list(
        self, channel: ChannelCredentials, family: str, action: str, *, page_num: int = 1, page_size: int = 500
    ) -> builtins.list[UpstreamTask]:
        """Fetch one page of an action's tasks, newest first."""
        params = {"pageNum": page_num, "pageSize": page_size}
        response = await self._send(channel, "GET", f"/v1/{family}/{action}", params=params)
        return [UpstreamTask.from_json(item) for item in self._data(channel, response, builtins.list)]


def _envelope(response: httpx.Response) -> dict[str, Any] | None:
    """Decode a Kling envelope (an object with an integer code), or return None when the body is anything else."""
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return None
    if isinstance(body, dict) and _is_int(body.get("code")):
        return body
    return None


def _code(envelope: Mapping[str, Any] | None) -> int | None:
    return envelope["code"] if envelope is not None else None


def _field(data: Mapping[str, Any], name: str, kind: type[T], default: T) -> T:
    """Return `data[name]` when it has the right type, `default` when absent or null; raise OutcomeUnknown otherwise."""
    value = data.get(name)
    if value is None:
        return default
    if not isinstance(value, kind) or (kind is int and not _is_int(value)):
        raise OutcomeUnknown(f"upstream sent a task whose {name} is a {type(value).__name__}, not a {kind.__name__}")
    return value


def _units(value: object) -> str | None:
    """Read `final_unit_deduction`: a decimal string, tolerated as a whole number; None when absent or empty."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return value
    if _is_int(value):
        return str(value)
    raise OutcomeUnknown(f"upstream sent a task whose final_unit_deduction is a {type(value).__name__}")


def _is_int(value: object) -> bool:
    # JSON true/false decode to bool, which Python counts as int.
    return isinstance(value, int) and not isinstance(value, bool)


def _describe(error: Exception) -> str:
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__


def _excerpt(text: str) -> str:
    return repr(text[:_EXCERPT_CHARS] + ("…" if len(text) > _EXCERPT_CHARS else ""))
