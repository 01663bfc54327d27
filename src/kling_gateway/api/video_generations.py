"""The new-api video route, `/v1/video/generations`: code written for new-api works unchanged.

A create takes `model`, `prompt`, an optional `image` (and `image_tail`) for image2video, `duration`, the frame
as `width`/`height` or `size`, an optional Kling `mode`, and `metadata` with any further Kling fields
(negative_prompt, cfg_scale, camera_control, external_task_id, callback_url…). `fps` and `seed` are accepted
and not sent: Kling sets the frame rate by model and takes no seed (`video_requests`). Answers are in the `video`
shape (seed 002); errors are OpenAI-style.
"""

from __future__ import annotations

from enum import Enum
from typing import Annotated

from fastapi import Depends, FastAPI, Path
from starlette.responses import Response

from kling_gateway.api import documentation, responses
from kling_gateway.api.deps import JsonBody, OpenAiCallerDep, RuntimeDep
from kling_gateway.api.openai_videos import find_video
from kling_gateway.api.video_requests import GenerationCreate, read_request
from kling_gateway.clock import now_ms
from kling_gateway.dialects import video

PATH = "/v1/video/generations"
TAGS: list[str | Enum] = ["videos (new-api)"]


def mount(app: FastAPI) -> None:
    """Add the two routes."""
    app.add_api_route(PATH, create, methods=["POST"], tags=TAGS, **documentation.generations_create())
    app.add_api_route(PATH + "/{task_id}", retrieve, methods=["GET"], tags=TAGS, **documentation.generations_retrieve())


async def read_create(body: JsonBody) -> GenerationCreate:
    """Read a create request's JSON body."""
    return read_request(GenerationCreate, body)


async def create(
    owner: OpenAiCallerDep, runtime: RuntimeDep, asked: Annotated[GenerationCreate, Depends(read_create)]
) -> Response:
    """Create a video task; answer with it in the `video` shape, plus `id` and `created_at` as new-api does."""
    spec, body = asked.kling()
    row = await runtime.tasks.submit(owner, spec, body)
    answer = video.one(row, now_ms())
    return responses.json({"id": row.platform_id, "created_at": row.created_at // 1000, **answer})


async def retrieve(
    owner: OpenAiCallerDep,
    runtime: RuntimeDep,
    task_id: Annotated[str, Path(description="The task's id (or its Kling task_id, or an external_task_id)")],
) -> Response:
    """Answer one video task in the `video` shape."""
    row = await find_video(
        runtime, owner, task_id, param="task_id", missing="task {!r} was not found among your video tasks"
    )
    return responses.json(video.one(row, now_ms()))
