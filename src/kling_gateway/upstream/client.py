"""Call the Kling API for any number of channels: authorized requests in, parsed tasks or sorted errors out.

Both API generations go through one client and come back as one report type (`UpstreamTask`): the legacy
`/v1/{family}/{action}` endpoints and the model-in-path `/{product}/{model}` ones with their batched `/tasks`.
"""

from __future__ import annotations

import builtins
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
import orjson

from kling_gateway.kling.codes import KlingCode
from kling_gateway.kling.schemas import Generation
from kling_gateway.redaction import redact
from kling_gateway.upstream.calls import CallKind, CallMetrics, CallObserver, FinishedCall, classify
from kling_gateway.upstream.errors import (
    CREDENTIAL_CODES,
    ChannelMisconfigured,
    ChannelUnavailable,
    OutcomeUnknown,
    error_for_answer,
)
from kling_gateway.upstream.tokens import TokenCache

T = TypeVar("T")
log = logging.getLogger(__name__)

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


TASKS_PER_QUERY = 20  # ids one `GET /tasks` may name, in total: the upstream refuses 21 with 400/1201
_NEW_STATUSES = {"succeeded": "succeed"}  # the new generation's spelling → the one internal status vocabulary


@dataclass(frozen=True)
class ChannelCredentials:
    """Say where one channel's Kling API lives and what authorizes its requests: a static API key, an
    access-key/secret-key pair that signs JWTs, or both."""

    base_url: str
    access_key: str | None = None
    secret_key: str | None = field(default=None, repr=False)
    api_key: str | None = field(default=None, repr=False)
    name: str = ""  # the channel's name, for metrics; "" where the caller has no channel row
    channel_id: int | None = None  # the channel's row, whose health each call feeds; None where there is none

    def __post_init__(self) -> None:
        # Paths are appended as "/v1/...": a trailing slash would double it.
        object.__setattr__(self, "base_url", self.base_url.rstrip("/"))
        if (self.access_key is None) != (self.secret_key is None):
            raise ValueError("a channel's access key and secret key come together: give both or neither")
        if self.api_key is None and self.access_key is None:
            raise ValueError("a channel needs an API key, an access-key/secret-key pair, or both")

    @property
    def pair(self) -> tuple[str, str] | None:
        """The access-key/secret-key pair, when the channel has one."""
        if self.access_key is None or self.secret_key is None:
            return None
        return self.access_key, self.secret_key

    @property
    def callback_secret(self) -> str:
        """The channel's secret that upstream-callback URLs are signed with: the secret key, else the API key."""
        secret = self.secret_key or self.api_key
        assert secret is not None  # __post_init__ makes every channel have one of them
        return secret


@dataclass(frozen=True)
class UpstreamTask:
    """One task as the upstream reports it, in either generation's shape, read into one vocabulary."""

    task_id: str
    task_status: str  # submitted | processing | succeed | failed (the new `succeeded` is read as `succeed`)
    task_status_msg: str
    task_info: dict[str, Any]
    task_result: dict[str, Any]  # legacy: the task_result as sent; new: {"outputs": [...]}
    final_unit_deduction: str | None  # a decimal string, e.g. "5"
    created_at: int  # ms
    updated_at: int  # ms
    billing: tuple[dict[str, Any], ...] = ()  # the new record's billing[] entries, as sent
    final_balance_deduction: dict[str, Any] | None = None  # legacy cash deduction {quota, list_price}, as sent
    generation: Generation = Generation.LEGACY  # which shape the report was read from

    @property
    def external_task_id(self) -> str | None:
        value = self.task_info.get("external_task_id")
        return value if isinstance(value, str) else None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> UpstreamTask:
        """Read a legacy task object as create, query, list and callback bodies carry it; raise OutcomeUnknown if
        malformed."""
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
            final_balance_deduction=_field(data, "final_balance_deduction", dict, {}) or None,
        )

    @classmethod
    def from_new_json(cls, data: Mapping[str, Any]) -> UpstreamTask:
        """Read a new-generation record (`{id, status, message, create_time, update_time, external_id, outputs[],
        billing[]}`, as create, `/tasks` and callbacks carry it); raise OutcomeUnknown if malformed."""
        if not isinstance(data, Mapping):
            raise OutcomeUnknown(f"upstream sent a task that is not an object: {_excerpt(repr(data))}")
        task_id = _field(data, "id", str, "")
        status = _field(data, "status", str, "")
        if not task_id or not status:
            raise OutcomeUnknown(f"upstream sent a task without id or status: {_excerpt(repr(data))}")
        external_id = _field(data, "external_id", str, "")
        billing = _field(data, "billing", list, [])
        if not all(isinstance(entry, dict) for entry in billing):
            raise OutcomeUnknown(f"upstream sent a task whose billing[] holds a non-object: {_excerpt(repr(billing))}")
        created_at = _field(data, "create_time", int, 0)
        return cls(
            task_id=task_id,
            task_status=_NEW_STATUSES.get(status, status),
            task_status_msg=_field(data, "message", str, ""),
            task_info={"external_task_id": external_id} if external_id else {},
            # Kept under its own key, so whoever renders the result can tell it from a legacy task_result.
            task_result={"outputs": _field(data, "outputs", list, [])},
            final_unit_deduction=None,
            created_at=created_at,
            updated_at=_field(data, "update_time", int, created_at),
            billing=tuple(billing),
            generation=Generation.NEW,
        )

    @classmethod
    def from_either_json(cls, data: object) -> UpstreamTask:
        """Read a task object of either generation, told apart by its id field (`task_id` or `id`), as callbacks
        may send either."""
        if isinstance(data, Mapping) and "task_id" not in data and "id" in data:
            return cls.from_new_json(data)
        return cls.from_json(data)  # type: ignore[arg-type]  # from_json refuses a non-object itself


class KlingClient:
    """Call one Kling API (any number of channels) over an injected httpx.AsyncClient."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        tokens: TokenCache | None = None,
        observers: Sequence[CallObserver] = (),
    ) -> None:
        self._http = http
        self._tokens = tokens or TokenCache()
        self.requests_sent = 0  # every request handed to the transport, answered or not
        # Told of every finished call, the metrics first; more may be added while the client is in use.
        self.observers: builtins.list[CallObserver] = [CallMetrics(), *observers]

    async def create(
        self,
        channel: ChannelCredentials,
        family: str,
        action: str,
        body: Mapping[str, object],
        *,
        generation: Generation = Generation.LEGACY,
    ) -> UpstreamTask:
        """Create a task (legacy: at `/v1/{family}/{action}`; new: at `/{action}`, the `<product>/<model>` path);
        the answer carries only its id, status, external id and times."""
        new = generation is Generation.NEW
        path = f"/{action}" if new else f"/v1/{family}/{action}"
        response = await self._send(channel, "POST", path, content=orjson.dumps(dict(body)), generation=generation)
        data = self._data(channel, response, dict)
        return UpstreamTask.from_new_json(data) if new else UpstreamTask.from_json(data)

    async def tasks_by_ids(self, channel: ChannelCredentials, task_ids: Sequence[str]) -> builtins.list[UpstreamTask]:
        """Fetch up to 20 tasks by their upstream ids with one `GET /tasks`; ids the upstream does not know are
        simply missing from the answer."""
        return await self._query_tasks(channel, "task_ids", task_ids)

    async def tasks_by_external_ids(
        self, channel: ChannelCredentials, external_ids: Sequence[str]
    ) -> builtins.list[UpstreamTask]:
        """Fetch up to 20 tasks by their external ids with one `GET /tasks`; unknown ones are missing."""
        return await self._query_tasks(channel, "external_task_ids", external_ids)

    async def _query_tasks(
        self, channel: ChannelCredentials, name: str, ids: Sequence[str]
    ) -> builtins.list[UpstreamTask]:
        if not 1 <= len(ids) <= TASKS_PER_QUERY:
            raise ValueError(f"one GET /tasks names 1 to {TASKS_PER_QUERY} ids, not {len(ids)}")
        if any(not value or "," in value for value in ids):
            raise ValueError(f"{name} must be non-empty and hold no comma: the upstream splits the list on commas")
        params = {name: ",".join(ids)}
        response = await self._send(channel, "GET", "/tasks", params=params, generation=Generation.NEW)
        found = []
        for item in self._data(channel, response, builtins.list):
            try:
                found.append(UpstreamTask.from_new_json(item))
            except OutcomeUnknown as malformed:
                # One garbled record must not hide the batch's others: it reads as absent, and only its task counts
                # an absence (a task left absent long enough fails with a reason, as any unseen task does).
                log.warning("%s: skipped a GET /tasks record: %s", channel.base_url, malformed.message)
        return found

    async def get(self, channel: ChannelCredentials, family: str, action: str, reference: str) -> UpstreamTask | None:
        """Fetch one task by task_id or external_task_id; return None when the upstream does not know it."""
        if not reference:
            raise ValueError("reference must not be empty: the request would list the tasks instead")
        path = f"/v1/{family}/{action}/{quote(reference, safe='')}"
        response = await self._send(channel, "GET", path, endpoint=f"/v1/{family}/{action}/{{id}}")
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
        params: Mapping[str, int | str] | None = None,
        generation: Generation = Generation.LEGACY,
        endpoint: str | None = None,
    ) -> httpx.Response:
        """Send one authorized request; raise the matching error when no answer came back. Each request is
        counted and timed under `endpoint`, the path's template (the path itself when it names no id)."""
        headers = {"Authorization": f"Bearer {self._bearer(channel, generation)}"}
        if content is not None:
            headers["Content-Type"] = "application/json"
        self.requests_sent += 1
        measured = UpstreamCall(channel, f"{method} {endpoint or path}", self.observers)
        try:
            response = await self._http.request(
                method, channel.base_url + path, content=content, params=params, headers=headers
            )
        except _NOT_SENT as error:
            unreachable = f"could not reach the upstream at {channel.base_url}: {_describe(error)}"
            measured.done("unreachable", CallKind.UPSTREAM_FAULT, unreachable)
            raise ChannelUnavailable(unreachable) from error
        except httpx.RequestError as error:  # timeouts and drops after sending, and undecodable answers
            lost = f"lost the upstream at {channel.base_url} during {method} {path}: {_describe(error)}"
            measured.done("lost", CallKind.UPSTREAM_FAULT, lost)
            raise OutcomeUnknown(lost) from error
        measured.answered(response)
        return response

    def _bearer(self, channel: ChannelCredentials, generation: Generation) -> str:
        """Choose the credential of a request: the API key wherever the channel has one, else a signed JWT.

        The new generation accepts nothing but the API key (a JWT there is refused 401/1002). The legacy one takes
        either; the key is preferred there too, because it never expires (no token can lapse between signing and
        arrival, nor be refused for a clock off by minutes) and costs no signing.
        """
        if channel.api_key is not None:
            return channel.api_key
        pair = channel.pair
        if generation is Generation.NEW or pair is None:
            raise ChannelMisconfigured(
                f"the channel at {channel.base_url} has no API key, which the new generation's endpoints require; "
                "add one with `kling-gateway channels update NAME --api-key KEY`"
            )
        return self._tokens.token(*pair)

    def _data(self, channel: ChannelCredentials, response: httpx.Response, expected: type[T]) -> T:
        """Return the `data` of a success answer, or raise the error the answer stands for."""
        envelope = _envelope(response)
        code = _code(envelope)
        if not response.is_success:
            if code in CREDENTIAL_CODES and channel.pair is not None:
                # An expired or refused token would otherwise be reused until its planned refresh.
                self._tokens.forget(*channel.pair)
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

    async def records(
        self, channel: ChannelCredentials, path: str, *, page_num: int, page_size: int
    ) -> builtins.list[dict[str, Any]]:
        """Fetch one page of a list that is not of our tasks (Kling's presets lists), its records as they are."""
        params = {"pageNum": page_num, "pageSize": page_size}
        response = await self._send(channel, "GET", path, params=params)
        return [item for item in self._data(channel, response, builtins.list) if isinstance(item, dict)]

    # Last, because inside the class body below this point `list` names this method, not the builtin.
    async def list(
        self, channel: ChannelCredentials, family: str, action: str, *, page_num: int = 1, page_size: int = 500
    ) -> builtins.list[UpstreamTask]:
        """Fetch one page of an action's tasks, newest first."""
        params = {"pageNum": page_num, "pageSize": page_size}
        response = await self._send(channel, "GET", f"/v1/{family}/{action}", params=params)
        return [UpstreamTask.from_json(item) for item in self._data(channel, response, builtins.list)]


class UpstreamCall:
    """Time one upstream request from its start; tell every observer how it ended when it does."""

    __slots__ = ("channel", "endpoint", "observers", "started")

    def __init__(self, channel: ChannelCredentials, endpoint: str, observers: Sequence[CallObserver]) -> None:
        self.channel, self.endpoint, self.observers = channel, endpoint, observers
        self.started = time.perf_counter()

    def answered(self, response: httpx.Response) -> None:
        """End the call with the upstream's answer: its HTTP status, and the Kling code of a refusal (`429/1303`)."""
        if response.is_success:  # only refusals are decoded here: their bodies are small, a list page's is not
            self.done(str(response.status_code), classify(response.status_code, None))
            return
        envelope = _envelope(response)
        code = _code(envelope)
        outcome = f"{response.status_code}/{code}" if code is not None else str(response.status_code)
        message = envelope.get("message") if envelope is not None else None
        said = f": {message[:_EXCERPT_CHARS]}" if isinstance(message, str) and message else ""
        self.done(outcome, classify(response.status_code, code), f"upstream answered {outcome}{said}")

    def done(self, outcome: str, kind: CallKind, detail: str = "") -> None:
        """End the call with its outcome."""
        channel = self.channel
        call = FinishedCall(
            channel_id=channel.channel_id,
            channel=channel.name or channel.base_url,
            endpoint=self.endpoint,
            outcome=outcome,
            kind=kind,
            seconds=time.perf_counter() - self.started,
            detail=redact(detail),
        )
        for observer in self.observers:
            observer.observe(call)


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
