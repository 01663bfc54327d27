"""The OpenAI videos API on /v1/videos: create, retrieve, list and download, over the same tasks as every route.

A `model` is a Kling model name; `size` picks Kling's aspect ratio and mode; `seconds` is Kling's duration; an
`input_reference` picture makes the task an image2video one (`video_requests`). A model of the new generation
(`kling-3.0-turbo`) goes to its `text-to-video/<model>` or `image-to-video/<model>` endpoint, `seconds` and `size`
becoming `settings.duration`, `aspect_ratio` and `resolution`. JSON and multipart bodies are both
taken, as the official `openai` SDK sends them. Every answer, errors included, is OpenAI-style.
"""

from __future__ import annotations

from enum import Enum
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, Path, Query
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from kling_gateway.api import documentation, responses
from kling_gateway.api.deps import OpenAiCallerDep, RuntimeDep, WholeNumber, read_json
from kling_gateway.api.runtime import Runtime
from kling_gateway.api.video_requests import OpenAiVideoCreate, read_request, uploaded_picture
from kling_gateway.clock import now_ms
from kling_gateway.dialects import openai
from kling_gateway.dialects.outputs import first_output
from kling_gateway.dialects.video import STATUS
from kling_gateway.errors import InvalidRequest, NoSuchEndpoint, NotFound, PayloadTooLarge
from kling_gateway.keys.service import Principal
from kling_gateway.kling.schemas import Family, Generation
from kling_gateway.store.records import TaskView

PATH = "/v1/videos"
LIMIT_RANGE = (1, 100)
DEFAULT_LIMIT = 20
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
# What a create's form may hold, as Starlette counts it: a few fields, a picture file, each text field small.
MAX_FORM_FIELDS = 100
MAX_FORM_FILES = 10
MAX_FIELD_BYTES = 1024 * 1024
TAGS: list[str | Enum] = ["videos (OpenAI)"]
VideoId = Annotated[str, Path(description="The video's id (or its Kling task_id, or an external_task_id)")]


def mount(app: FastAPI) -> None:
    """Add the routes; after the Kling ones, so `/v1/videos/text2video` stays Kling's."""
    app.add_api_route(PATH, create, methods=["POST"], tags=TAGS, **documentation.openai_create())
    app.add_api_route(PATH, list_videos, methods=["GET"], tags=TAGS, **documentation.openai_list())
    app.add_api_route(PATH + "/{video_id}", retrieve, methods=["GET"], tags=TAGS, **documentation.openai_retrieve())
    app.add_api_route(
        PATH + "/{video_id}/content", content, methods=["GET"], tags=TAGS, **documentation.openai_content()
    )
    for path, methods in NOT_OFFERED:
        app.add_api_route(path, not_offered, methods=methods, include_in_schema=False)


async def read_create(request: Request) -> OpenAiVideoCreate:
    """Read a create request sent as JSON or as a form; a form's picture file becomes base64 text."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "multipart/form-data":
        body = await read_json(request)
        if not isinstance(body, dict):
            raise InvalidRequest("request body must be a JSON object (or multipart/form-data)")
        return read_request(OpenAiVideoCreate, body)
    try:  # files spool to disk; other fields are capped
        form = await request.form(max_files=MAX_FORM_FILES, max_fields=MAX_FORM_FIELDS, max_part_size=MAX_FIELD_BYTES)
    except HTTPException as refused:  # Starlette's refusal of the form, which names the problem
        raise _form_refusal(str(refused.detail)) from None
    fields: dict[str, Any] = {name: form[name] for name in form}
    picture = fields.get(OpenAiVideoCreate.FILE_FIELD)
    if isinstance(picture, UploadFile):
        fields[OpenAiVideoCreate.FILE_FIELD] = await uploaded_picture(picture)
    return read_request(OpenAiVideoCreate, fields)


def _form_refusal(detail: str) -> InvalidRequest:
    """Say what is wrong with a form Starlette could not read, and what a create's form holds."""
    takes = (
        f"a create's form has at most {MAX_FORM_FIELDS} fields (model, prompt, seconds, size, input_reference), "
        f"each text field at most {MAX_FIELD_BYTES // 1024} KB, and a picture as a file part"
    )
    if "maximum size" in detail:
        return PayloadTooLarge(f"the multipart form could not be read: {detail} ({takes})")
    if "boundary" in detail:
        takes += "; a form's Content-Type names its boundary: multipart/form-data; boundary=…"
    return InvalidRequest(f"the multipart form could not be read: {detail} ({takes})")


async def create(
    owner: OpenAiCallerDep, runtime: RuntimeDep, asked: Annotated[OpenAiVideoCreate, Depends(read_create)]
) -> Response:
    """Create a video job."""
    spec, body = asked.kling()
    try:
        row = await runtime.tasks.submit(owner, spec, body)
    except InvalidRequest as invalid:
        invalid.param = OpenAiVideoCreate.KLING_NAMES.get(invalid.param or "", invalid.param)
        invalid.message += (
            f" (read as Kling {spec.path}: seconds is settings.duration, size is settings.aspect_ratio and "
            "settings.resolution, input_reference is the first_frame)"
            if spec.generation is Generation.NEW
            else f" (read as Kling {spec.action}: model is model_name, seconds is duration, "
            "size is mode and aspect_ratio, input_reference is image)"
        )
        raise
    return responses.json(openai.video(row, now_ms()))


async def retrieve(owner: OpenAiCallerDep, runtime: RuntimeDep, video_id: VideoId) -> Response:
    """Answer one video job by its id (or its Kling task_id, or an external_task_id)."""
    answer = responses.json(openai.video(await find_video(runtime, owner, video_id), now_ms()))
    # The SDK's poll helper waits this long between looks; the store changes on the sync worker's grid.
    answer.headers[POLL_AFTER_HEADER] = str(round(runtime.settings.sync.poll_interval_s * 1000))
    return answer


async def list_videos(
    owner: OpenAiCallerDep,
    runtime: RuntimeDep,
    after: Annotated[str, Query(description="The id of the video the page starts after")] = "",
    order: Literal["asc", "desc"] = "desc",
    limit: Annotated[int, WholeNumber(*LIMIT_RANGE), Query()] = DEFAULT_LIMIT,
) -> Response:
    """Answer a page of the caller's video jobs, by cursor."""
    rows, has_more = await runtime.tasks.cursor_page(
        owner, Family.VIDEOS, after=after or None, limit=limit, newest_first=order == "desc"
    )
    return responses.json(openai.video_list(rows, now_ms(), has_more=has_more))


async def content(
    owner: OpenAiCallerDep, runtime: RuntimeDep, video_id: VideoId, variant: Literal["video"] = "video"
) -> Response:
    """Stream a completed video's file from where the upstream keeps it, with its content type."""
    row = await find_video(runtime, owner, video_id)
    output = first_output(row)
    if output is None:
        status = STATUS[row.status]
        raise InvalidRequest(
            f"video {row.platform_id} is {status}; its content can be downloaded once it is completed",
            param="video_id",
        )
    channel_url = await runtime.tasks.channel_base_url(row)
    return await runtime.downloads.stream(
        owner.key_id, output.url, channel_url=channel_url, what=f"the video file of {row.platform_id}"
    )


async def not_offered(request: Request, _owner: OpenAiCallerDep) -> Response:
    """Say, in the OpenAI shape, that an operation of OpenAI's videos API has no Kling counterpart here."""
    raise NoSuchEndpoint(
        f"{request.method} {request.url.path} is not offered: Kling cannot delete, remix or edit a video "
        "this way; extend one with POST /v1/videos/video-extend, and results are kept for 30 days"
    )


async def find_video(
    runtime: Runtime,
    owner: Principal,
    reference: str,
    *,
    param: str = "video_id",
    missing: str = "video {!r} was not found among your videos",
) -> TaskView:
    """Find one of the caller's video tasks by any of its ids; if none is, say `missing`, naming the parameter."""
    try:
        return await runtime.tasks.find(owner, Family.VIDEOS, reference)
    except NotFound:
        raise NotFound(missing.format(reference), param=param) from None
