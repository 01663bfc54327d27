"""The OpenAI videos API on /v1/videos: create, retrieve, list and download, over the same tasks as every route.

A `model` is a Kling model name; `size` picks Kling's aspect ratio and mode; `seconds` is Kling's duration; an
`input_reference` picture makes the task an image2video one. JSON and multipart bodies are both taken, as the
official `openai` SDK sends them.
"""

from __future__ import annotations

from enum import Enum
from typing import Any

import httpx
from fastapi import FastAPI
from starlette.background import BackgroundTask
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from kling_gateway.api import documentation, responses, translation
from kling_gateway.api.kling_routes import json_body
from kling_gateway.clock import now_ms
from kling_gateway.dialects import openai
from kling_gateway.dialects.video import STATUS, first_output
from kling_gateway.errors import InvalidRequest, NoSuchEndpoint, NotFound, UpstreamFailed
from kling_gateway.keys.service import Principal
from kling_gateway.kling.paths import WHOLE_NUMBER
from kling_gateway.kling.schemas import Family
from kling_gateway.store.records import TaskStatus, TaskView

PATH = "/v1/videos"
FIELDS = frozenset({"prompt", "model", "seconds", "size", "input_reference"})
LIMIT_RANGE = (1, 100)
DEFAULT_LIMIT = 20
# The Kling field each OpenAI field becomes, read backwards to name the OpenAI field at fault.
KLING_TO_OPENAI = {"model_name": "model", "duration": "seconds", "mode": "size", "aspect_ratio": "size"}
KLING_TO_OPENAI |= {"image": "input_reference"}
# OpenAI videos operations Kling has no counterpart for: answered with a reason, in the OpenAI shape.
NOT_OFFERED = (
    (PATH + "/{video_id}", ["DELETE"]),
    (PATH + "/{video_id}/remix", ["POST"]),
    (PATH + "/edits", ["POST"]),
    (PATH + "/extensions", ["POST"]),
    (PATH + "/characters", ["POST"]),
    (PATH + "/characters/{character_id}", ["GET"]),
)
POLL_AFTER_HEADER = "openai-poll-after-ms"
PASSED_HEADERS = ("content-length", "last-modified", "etag")


class OpenAiVideoRoutes(responses.OpenAiShapedRoutes):
    """Serve the OpenAI videos API for the caller's video tasks."""

    def mount(self, app: FastAPI) -> None:
        """Add the routes; after the Kling ones, so `/v1/videos/text2video` stays Kling's."""
        tags: list[str | Enum] = ["videos (OpenAI)"]
        app.add_api_route(PATH, self.create, methods=["POST"], tags=tags, **documentation.openai_create())
        app.add_api_route(PATH, self.list_videos, methods=["GET"], tags=tags, **documentation.openai_list())
        app.add_api_route(
            PATH + "/{video_id}", self.retrieve, methods=["GET"], tags=tags, **documentation.openai_retrieve()
        )
        app.add_api_route(
            PATH + "/{video_id}/content", self.content, methods=["GET"], tags=tags, **documentation.openai_content()
        )
        for path, methods in NOT_OFFERED:
            app.add_api_route(path, self.not_offered, methods=methods, include_in_schema=False)

    async def not_offered(self, request: Request) -> Response:
        """Say, in the OpenAI shape, that an operation of OpenAI's videos API has no Kling counterpart here."""
        await self._caller(request)
        raise NoSuchEndpoint(
            f"{request.method} {request.url.path} is not offered: Kling cannot delete, remix or edit a video "
            "this way; extend one with POST /v1/videos/video-extend, and results are kept for 30 days"
        )

    async def create(self, request: Request) -> Response:
        """Create a video job."""
        owner = await self._caller(request)
        fields = await _fields(request)
        translation.reject_unknown(fields, FIELDS, what="the OpenAI video create request")
        spec, body = translation.video_body(
            prompt=fields.get("prompt"),
            model=fields.get("model"),
            seconds=None
            if fields.get("seconds") is None
            else translation.seconds_text(fields["seconds"], param="seconds"),
            frame=None if fields.get("size") is None else translation.parse_size(fields["size"]),
            image=await _reference(fields.get("input_reference")),
        )
        try:
            row = await self.runtime.tasks.submit(owner, spec, body)
        except InvalidRequest as invalid:
            invalid.param = KLING_TO_OPENAI.get(invalid.param or "", invalid.param)
            invalid.message += (
                f" (read as Kling {spec.action}: model is model_name, seconds is duration, "
                "size is mode and aspect_ratio, input_reference is image)"
            )
            raise
        return responses.json(openai.video(row, now_ms()))

    async def retrieve(self, request: Request) -> Response:
        """Answer one video job by its id (or its Kling task_id, or an external_task_id)."""
        owner = await self._caller(request)
        answer = responses.json(openai.video(await self._find(owner, request.path_params["video_id"]), now_ms()))
        # The SDK's poll helper waits this long between looks; the store changes on the sync worker's grid.
        answer.headers[POLL_AFTER_HEADER] = str(round(self.runtime.settings.sync.poll_interval_s * 1000))
        return answer

    async def list_videos(self, request: Request) -> Response:
        """Answer a page of the caller's video jobs, by cursor."""
        owner = await self._caller(request)
        query = request.query_params
        order = query.get("order", "desc")
        if order not in ("asc", "desc"):
            raise InvalidRequest(f"order: {order!r} is not an order; use asc or desc", param="order")
        raw_limit = query.get("limit", str(DEFAULT_LIMIT))
        low, high = LIMIT_RANGE
        if not WHOLE_NUMBER.fullmatch(raw_limit) or not low <= int(raw_limit) <= high:
            raise InvalidRequest(
                f"limit: must be a whole number from {low} to {high} (got {raw_limit!r})", param="limit"
            )
        rows, has_more = await self.runtime.tasks.cursor_page(
            owner, Family.VIDEOS, after=query.get("after") or None, limit=int(raw_limit), newest_first=order == "desc"
        )
        return responses.json(openai.video_list(rows, now_ms(), has_more=has_more))

    async def content(self, request: Request) -> Response:
        """Stream a completed video's file from where the upstream keeps it, with its content type."""
        owner = await self._caller(request)
        row = await self._find(owner, request.path_params["video_id"])
        variant = request.query_params.get("variant", "video")
        if variant != "video":
            raise InvalidRequest(
                f"variant: Kling makes no {variant!r} for a video; the only variant is video", param="variant"
            )
        output = first_output(row)
        if output is None:
            status = STATUS[TaskStatus(row.status)]
            raise InvalidRequest(
                f"video {row.platform_id} is {status}; its content can be downloaded once it is completed",
                param="video_id",
            )
        return await self._stream(output.url)

    async def _stream(self, url: str) -> Response:
        http = self.runtime.http
        try:
            upstream = await http.send(http.build_request("GET", url), stream=True)
        except httpx.HTTPError as error:
            raise UpstreamFailed(f"the video file could not be fetched from the upstream ({error!r})") from None
        if upstream.status_code != 200:
            await upstream.aclose()
            raise UpstreamFailed(
                f"the upstream answered {upstream.status_code} for the video file; Kling keeps results for 30 days"
            )
        headers = {name: upstream.headers[name] for name in PASSED_HEADERS if name in upstream.headers}
        return StreamingResponse(
            upstream.aiter_raw(),
            media_type=upstream.headers.get("content-type", "video/mp4"),
            headers=headers,
            background=BackgroundTask(upstream.aclose),
        )

    async def _find(self, owner: Principal, reference: str) -> TaskView:
        try:
            return await self.runtime.tasks.find(owner, Family.VIDEOS, reference)
        except NotFound:
            raise NotFound(f"video {reference!r} was not found among your videos", param="video_id") from None


async def _fields(request: Request) -> dict[str, Any]:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "multipart/form-data":
        form = await request.form()  # files spool to disk; other fields are capped at 1 MB
        return {name: form[name] for name in form}
    body = await json_body(request)
    if not isinstance(body, dict):
        raise InvalidRequest("request body must be a JSON object (or multipart/form-data)")
    return body


async def _reference(raw: Any) -> str | None:
    """Read `input_reference`: an uploaded file, or `{image_url}` / a URL or base64 text."""
    if raw is None:
        return None
    if isinstance(raw, UploadFile):
        content = await raw.read(translation.MAX_REFERENCE_BYTES + 1)  # enough to tell it is too big
        return translation.image_reference(content, raw.content_type, param="input_reference")
    if isinstance(raw, dict):
        if set(raw) != {"image_url"} or not isinstance(raw["image_url"], str):
            raise InvalidRequest(
                'input_reference: give {"image_url": <URL or base64>} or upload a file (file_id is not supported)',
                param="input_reference",
            )
        return translation.without_data_prefix(raw["image_url"])
    if isinstance(raw, str) and raw:
        return translation.without_data_prefix(raw)
    raise InvalidRequest("input_reference: must be a picture file, a URL or base64 text", param="input_reference")
