"""The sandbox's HTTP edge: official paths, auth, injected faults, and the wire format."""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import orjson
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from kling_gateway.clock import now_ms
from kling_gateway.kling import paths
from kling_gateway.kling.codes import SERVER_FAULTS, KlingCode
from kling_gateway.kling.schemas import ALL_V1_ACTIONS, SYNC_SPECS, ActionSpec, Family, InvalidBody, parse_body
from kling_gateway.sandbox import media, products, wire
from kling_gateway.sandbox.auth import Authenticator
from kling_gateway.sandbox.callbacks import CallbackDispatcher
from kling_gateway.sandbox.config import Account, Now, SandboxConfig
from kling_gateway.sandbox.errors import SandboxError
from kling_gateway.sandbox.library import Library
from kling_gateway.sandbox.new_api import NewGenerationApi, callback_body
from kling_gateway.sandbox.service import Sandbox

RANGE = re.compile(r"bytes=(?P<start>\d*)-(?P<end>\d*)")  # one range: `a-b`, `a-` or the last `-n` bytes

Endpoint = Callable[[Request], Awaitable[Response]]
Handler = Callable[[Request, Account], Awaitable[Response]]


def create_app(
    config: SandboxConfig | None = None, *, http_client: httpx.AsyncClient | None = None, clock: Now = now_ms
) -> Starlette:
    """Build a sandbox app; `http_client` (for callbacks) lets tests choose the transport, `clock` the time that
    tasks, tokens, sessions and rate windows go by."""
    api = SandboxApi(config or SandboxConfig(), http_client=http_client, clock=clock)
    app = Starlette(routes=api.routes(), lifespan=api.lifespan, exception_handlers={HTTPException: _http_exception})
    app.state.sandbox = api.sandbox
    app.state.api = api
    return app


class SandboxApi:
    """Serve the official API on top of one Sandbox."""

    def __init__(self, config: SandboxConfig, *, http_client: httpx.AsyncClient | None, clock: Now = now_ms) -> None:
        self.config = config
        self._clock = clock
        self.sandbox = Sandbox(config, started_ms=clock())
        self._authenticator = Authenticator(config.accounts, clock=clock)
        self._dispatcher = CallbackDispatcher(
            callback_body,
            webhook_secret=config.webhook_secret.get_secret_value() if config.webhook_secret else None,
            timeout_s=config.callback_timeout_s,
            client=http_client,
            clock=clock,
        )
        self._new_generation = NewGenerationApi(self.sandbox, self._dispatcher, clock=clock, base_url=self._base_url)

    def reset(self) -> None:
        """Start afresh with the same accounts and settings: no tasks, sessions or counts, no callbacks owed."""
        self._dispatcher.clear()
        self.sandbox.reset(started_ms=self._clock())

    def routes(self) -> list[Route]:
        """List the official endpoints and the result-file routes."""
        return [
            Route("/v1/{family}/{rest:path}", self._api(self.create), methods=["POST"]),
            Route("/v1/{family}/{rest:path}", self._api(self.query), methods=["GET"]),
            Route("/account/costs", self._api(self.account_costs), methods=["GET"]),
            Route("/account/billing/{ledger}", self._api(self.billing_export), methods=["POST"]),
            Route("/files/videos/{name}", self.video_file),
            Route("/files/audio/{name}", self.audio_file),
            Route("/files/images/{name}", self.image_file),
            Route("/files/faces/{name}", self.face_file),
            # The new generation takes API keys only (2026 §2.3).
            *self._new_generation.routes(lambda handler: self._api(handler, key_only=True)),
        ]

    @contextlib.asynccontextmanager
    async def lifespan(self, _app: Starlette) -> AsyncIterator[None]:
        """Stop the callback dispatcher cleanly when the app stops."""
        try:
            yield
        finally:
            await self._dispatcher.aclose()

    def _api(self, handler: Handler, *, key_only: bool = False) -> Endpoint:
        """Wrap a handler with what every API call gets: injected errors, authentication, error mapping."""
        authenticate = self._authenticator.authenticate_key if key_only else self._authenticator.authenticate

        async def endpoint(request: Request) -> Response:
            rng = self.sandbox.rng
            if self.config.error_rate and rng.random() < self.config.error_rate:
                return wire.error(rng.choice(SERVER_FAULTS))
            try:
                account = authenticate(request.headers.get("authorization"))
                return await handler(request, account)
            except SandboxError as refused:
                return wire.error(refused.code, refused.message)
            except InvalidBody as invalid:
                return wire.error(KlingCode.ILLEGAL_VALUE, invalid.message)

        return endpoint

    def _base_url(self, request: Request) -> str:
        return (self.config.public_url or str(request.base_url)).rstrip("/")

    async def create(self, request: Request, account: Account) -> Response:
        """Create a task, or answer a synchronous helper call."""
        family, rest = _family_and_rest(request)
        sync_spec = SYNC_SPECS.get((family, rest))
        if sync_spec is not None:
            parsed = parse_body(sync_spec.schema, await _json_body(request))
            request_id = wire.new_request_id()
            data = self.sandbox.run_sync_call(
                account.access_key,
                sync_spec,
                parsed,
                base_url=self._base_url(request),
                now_ms=self._clock(),
                request_id=request_id,
            )
            return wire.ok(data, request_id=request_id)
        spec = ALL_V1_ACTIONS.get((family, rest))
        if spec is None:
            _resolve(request, family, rest)  # a task path exists but takes GET: a wrong method, not a wrong path
            raise SandboxError(KlingCode.INVALID_METHOD, f"POST is not allowed on /v1/{family}/{rest}; use GET")
        parsed_body = parse_body(spec.schema, await _json_body(request))
        task = self.sandbox.create_task(
            account.access_key, spec, parsed_body, base_url=self._base_url(request), now_ms=self._clock()
        )
        if task.body.callback_url is not None:
            self._dispatcher.schedule(task)
        rng = self.sandbox.rng
        if self.config.lost_response_rate and rng.random() < self.config.lost_response_rate:
            return wire.error(rng.choice(SERVER_FAULTS))
        return wire.ok(wire.created(task))

    async def query(self, request: Request, account: Account) -> Response:
        """Answer one task by `task_id` or `external_task_id`, or a page of an action's tasks."""
        family, rest = _family_and_rest(request)
        if (family, rest) in SYNC_SPECS:
            raise SandboxError(KlingCode.INVALID_METHOD, f"GET is not allowed on /v1/{family}/{rest}; use POST")
        voices = family is Family.GENERAL and rest in ("presets-voices", "custom-voices")
        size_range = paths.VOICE_PAGE_SIZE_RANGE if voices else paths.PAGE_SIZE_RANGE
        if family is Family.GENERAL and rest in _PRESETS:
            page_num, page_size = _page_params(request, size_range)
            presets = _PRESETS[rest](self._base_url(request))
            return wire.ok(
                _preset_records(presets, rest, self.sandbox.started_ms)[(page_num - 1) * page_size :][:page_size]
            )
        spec, reference = _resolve(request, family, rest)
        if reference is None:
            page_num, page_size = _page_params(request, size_range)
            moment = self._clock()
            tasks = self.sandbox.tasks.page(account.access_key, spec, page_num, page_size)
            return wire.ok([wire.task_json(task, moment) for task in tasks])
        task = self.sandbox.tasks.find(account.access_key, spec, reference)
        if task is None:
            raise SandboxError(
                KlingCode.RESOURCE_NOT_FOUND,
                f"task {reference!r} does not exist among this account's {spec.action} tasks "
                "(look up by task_id or external_task_id)",
            )
        return wire.ok(wire.task_json(task, self._clock()))

    async def account_costs(self, request: Request, account: Account) -> Response:
        """Describe the account's resource packs."""
        start = _millis_param(request, "start_time")
        end = _millis_param(request, "end_time")
        if end < start:
            raise SandboxError(KlingCode.ILLEGAL_VALUE, "end_time: must not be before start_time")
        pack_name = request.query_params.get("resource_pack_name")
        data = self.sandbox.costs(
            account.access_key, start_ms=start, end_ms=end, pack_name=pack_name, now_ms=self._clock()
        )
        return wire.ok(data)

    async def billing_export(self, request: Request, account: Account) -> Response:
        """List the account's unit (`package`) or cash (`balance`) deductions, one row per task or call."""
        ledger = request.path_params["ledger"]
        if ledger not in ("package", "balance"):
            raise SandboxError(KlingCode.RESOURCE_NOT_FOUND, f"no such endpoint: POST /account/billing/{ledger}")
        body = await _json_body(request)
        return wire.ok(self.sandbox.export(ledger, account.access_key, body, now_ms=self._clock()))

    async def audio_file(self, request: Request) -> Response:
        """Serve a result track as MP3 or WAV once it exists."""
        audio_id, _, kind = request.path_params["name"].rpartition(".")
        record = self.sandbox.tasks.audio_by_id(audio_id)
        if record is None or kind not in ("mp3", "wav") or not record.ready_at(self._clock()):
            return _file_not_found()
        if kind == "wav":
            return Response(media.wav_audio(record.duration_s), media_type="audio/wav")
        return Response(media.mp3_audio(record.duration_s), media_type="audio/mpeg")

    async def video_file(self, request: Request) -> Response:
        """Serve a result video (or its watermarked copy) once its task has succeeded."""
        name = request.path_params["name"].removesuffix(".mp4")
        video_id = name.removesuffix("-watermarked")
        record = self.sandbox.tasks.video_by_id(video_id)
        if (
            record is None
            or not record.ready_at(self._clock())
            or (name != video_id and not record.task.body.wants_watermark())
        ):
            return _file_not_found()
        clip = media.video_clip(media.clip_seconds_for(record.duration_s))
        if not self.config.video_padding_mb:
            return _ranged(clip, "video/mp4", request.headers.get("range"))
        length, chunks = media.padded_video(clip, self.config.video_padding_mb)
        return StreamingResponse(chunks, media_type="video/mp4", headers={"content-length": str(length)})

    async def image_file(self, request: Request) -> Response:
        """Serve one result image (or its watermarked copy) once its task has succeeded."""
        name = request.path_params["name"].removesuffix(".png")
        task_id, _, index = name.removesuffix("-watermarked").partition("-")
        task = self.sandbox.tasks.task_by_id(task_id)
        if task is None or not task.succeeded_by(self._clock()):
            return _file_not_found()
        if name.endswith("-watermarked") and not task.body.wants_watermark():
            return _file_not_found()
        if not paths.WHOLE_NUMBER.fullmatch(index) or int(index) >= products.image_count(task.result):
            return _file_not_found()
        width, height = media.image_size(_aspect_ratio(task.body))
        return Response(media.png_image(width, height, int(index)), media_type="image/png")

    async def face_file(self, _request: Request) -> Response:
        """Serve a face crop or a selection cover: the same small picture for every session."""
        return Response(media.png_image(64, 64, 3), media_type="image/png")


def _ranged(data: bytes, media_type: str, asked: str | None) -> Response:
    """Serve a file whole, or the one byte range a `Range: bytes=a-b` asks for (206), as object storage does, so
    that a player can seek."""
    whole = len(data)
    found = RANGE.fullmatch(asked.strip()) if asked else None
    if found is None or not (found["start"] or found["end"]):
        return Response(data, media_type=media_type, headers={"accept-ranges": "bytes"})
    if found["start"]:
        start, end = int(found["start"]), min(int(found["end"] or whole - 1), whole - 1)
    else:  # a suffix: the last N bytes
        start, end = max(whole - int(found["end"]), 0), whole - 1
    if start > end or start >= whole:
        return Response(status_code=416, headers={"content-range": f"bytes */{whole}"})
    headers = {"accept-ranges": "bytes", "content-range": f"bytes {start}-{end}/{whole}"}
    return Response(data[start : end + 1], status_code=206, media_type=media_type, headers=headers)


async def _http_exception(request: Request, exc: Exception) -> Response:
    """Answer unknown paths and wrong methods with the official codes instead of Starlette's text."""
    if isinstance(exc, HTTPException) and exc.status_code == 405:
        return wire.error(KlingCode.INVALID_METHOD, f"{request.method} is not allowed on {request.url.path}")
    return wire.error(KlingCode.RESOURCE_NOT_FOUND, f"no such endpoint: {request.method} {request.url.path}")


def _file_not_found() -> Response:
    return Response(b"not found", status_code=404, media_type="text/plain")


def _family_and_rest(request: Request) -> tuple[Family, str]:
    try:
        family = paths.family_of(request.path_params["family"])
    except paths.BadPath as bad:
        raise SandboxError(KlingCode.RESOURCE_NOT_FOUND, str(bad)) from None
    return family, paths.tidy_rest(request.path_params["rest"])


def _resolve(request: Request, family: Family, rest: str) -> tuple[ActionSpec, str | None]:
    try:
        return paths.split_task_path(family, rest, ALL_V1_ACTIONS)
    except paths.BadPath as bad:
        message = f"no such endpoint: {request.method} {request.url.path} ({bad})"
        raise SandboxError(KlingCode.RESOURCE_NOT_FOUND, message) from None


async def _json_body(request: Request) -> Any:
    try:
        return orjson.loads(await request.body())
    except orjson.JSONDecodeError as error:
        raise SandboxError(KlingCode.ILLEGAL_VALUE, f"request body is not valid JSON ({error})") from None


def _page_params(request: Request, size_range: tuple[int, int] = paths.PAGE_SIZE_RANGE) -> tuple[int, int]:
    try:
        return paths.page_params(request.query_params, size_range)
    except paths.BadPath as bad:
        raise SandboxError(KlingCode.ILLEGAL_VALUE, str(bad)) from None


def _millis_param(request: Request, name: str) -> int:
    raw = request.query_params.get(name)
    if raw is None or not paths.WHOLE_NUMBER.fullmatch(raw):
        raise SandboxError(
            KlingCode.ILLEGAL_VALUE, f"{name}: is required, as a Unix time in milliseconds (got {raw!r})"
        )
    return int(raw)


_PRESETS: dict[str, Callable[[str], list[dict[str, Any]]]] = {
    "advanced-presets-elements": Library.preset_elements,
    "presets-voices": Library.preset_voices,
}


def _preset_records(items: list[dict[str, Any]], rest: str, started_ms: int) -> list[dict[str, Any]]:
    """Wrap each official element or voice as the lists show it: a finished record without deduction fields."""
    key = "elements" if rest == "advanced-presets-elements" else "voices"
    id_key = "element_id" if key == "elements" else "voice_id"
    return [
        {
            "task_id": str(item[id_key]),
            "task_status": "succeed",
            "task_status_msg": "",
            "task_info": {},
            "task_result": {key: [item]},
            "created_at": started_ms,
            "updated_at": started_ms,
        }
        for item in items
    ]


def _aspect_ratio(body: Any) -> str | None:
    value = getattr(body, "aspect_ratio", None)
    return value if isinstance(value, str) and ":" in value else None
