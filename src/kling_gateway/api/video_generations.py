"""The new-api video route, `/v1/video/generations`: code written for new-api works unchanged.

A create takes `model`, `prompt`, an optional `image` (and `image_tail`) for image2video, `duration`, the frame
as `width`/`height` or `size`, an optional Kling `mode`, and `metadata` with any further Kling fields
(negative_prompt, cfg_scale, camera_control, external_task_id, callback_url…). `fps` and `seed` are accepted
and not sent: Kling sets the frame rate by model and takes no seed. Answers are in the `video` shape (seed 002).
"""

from __future__ import annotations

from enum import Enum
from typing import Any, TypeGuard

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import Response

from kling_gateway.api import documentation, responses, translation
from kling_gateway.api.kling_routes import json_body
from kling_gateway.clock import now_ms
from kling_gateway.dialects import video
from kling_gateway.errors import InvalidRequest, NotFound
from kling_gateway.kling.schemas import Family

PATH = "/v1/video/generations"
FIELDS = frozenset(
    {"model", "prompt", "image", "image_tail", "duration", "width", "height", "size", "mode", "fps", "seed", "n"}
    | {"response_format", "user", "metadata"}
)


class VideoGenerationRoutes(responses.OpenAiShapedRoutes):
    """Serve the new-api generations route for the caller's video tasks."""

    def mount(self, app: FastAPI) -> None:
        """Add the two routes."""
        tags: list[str | Enum] = ["videos (new-api)"]
        app.add_api_route(PATH, self.create, methods=["POST"], tags=tags, **documentation.generations_create())
        app.add_api_route(
            PATH + "/{task_id}", self.retrieve, methods=["GET"], tags=tags, **documentation.generations_retrieve()
        )

    async def create(self, request: Request) -> Response:
        """Create a video task; answer with it in the `video` shape, plus `id` and `created_at` as new-api does."""
        owner = await self._caller(request)
        fields = await json_body(request)
        if not isinstance(fields, dict):
            raise InvalidRequest("request body must be a JSON object")
        translation.reject_unknown(fields, FIELDS, what="a video generation request")
        n = fields.get("n")
        if n is not None and (n != 1 or isinstance(n, bool)):  # True == 1 in Python, not in JSON
            raise InvalidRequest(
                f"n: Kling makes one video per task (got {n!r}); send n = 1 or leave it out", param="n"
            )
        _check_unsent(fields)
        extra = fields.get("metadata")
        if extra is not None and not isinstance(extra, dict):
            raise InvalidRequest("metadata: must be an object of further Kling fields", param="metadata")
        image = fields.get("image")
        spec, body = translation.video_body(
            prompt=fields.get("prompt"),
            model=fields.get("model"),
            seconds=None
            if fields.get("duration") is None
            else translation.seconds_text(fields["duration"], param="duration"),
            frame=_frame(fields),
            image=None if image is None else translation.without_data_prefix(str(image)),
            image_tail=fields.get("image_tail"),
            extra=extra,
        )
        if fields.get("mode") is not None:
            body["mode"] = fields["mode"]
        row = await self.runtime.tasks.submit(owner, spec, body)
        answer = video.one(row, now_ms())
        return responses.json({"id": row.platform_id, "created_at": row.created_at // 1000, **answer})

    async def retrieve(self, request: Request) -> Response:
        """Answer one video task in the `video` shape."""
        owner = await self._caller(request)
        reference = request.path_params["task_id"]
        try:
            row = await self.runtime.tasks.find(owner, Family.VIDEOS, reference)
        except NotFound:
            raise NotFound(f"task {reference!r} was not found among your video tasks", param="task_id") from None
        return responses.json(video.one(row, now_ms()))


def _check_unsent(fields: dict[str, Any]) -> None:
    """Refuse ill-typed `fps`, `seed`, `response_format` and `user`: taken for new-api's sake, never sent on."""
    for name in ("fps", "seed"):
        value = fields.get(name)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
            raise InvalidRequest(f"{name}: must be a whole number (got {value!r})", param=name)
    for name in ("response_format", "user"):
        value = fields.get(name)
        if value is not None and not isinstance(value, str):
            raise InvalidRequest(f"{name}: must be text (got {value!r})", param=name)


def _frame(fields: dict[str, Any]) -> translation.Frame | None:
    width, height, size = fields.get("width"), fields.get("height"), fields.get("size")
    if size is not None:
        if width is not None or height is not None:
            raise InvalidRequest("size: give either size or width and height, not both", param="size")
        return translation.parse_size(size)
    if width is None and height is None:
        return None
    if not (_pixels(width) and _pixels(height)):
        raise InvalidRequest("width, height: give both, as whole numbers of pixels", param="width")
    return translation.frame_of(width, height, param="width")


def _pixels(side: Any) -> TypeGuard[int]:
    return isinstance(side, int) and not isinstance(side, bool) and side > 0
