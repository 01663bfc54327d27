"""What `/openapi.json` says: every route, its parameters, its request body and each dialect's answers.

The answer models are in `answers`: they describe bodies the dialect modules render and are never used to build
them, so the hot path stays plain dicts and orjson.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, get_args

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import models_json_schema

from kling_gateway.api.answers import (
    GenerationCreated,
    KlingError,
    KlingSessionAnswer,
    KlingTaskAnswer,
    KlingTaskListAnswer,
    OpenAiError,
    OpenAiVideo,
    OpenAiVideoList,
    TaskAnswer,
    TaskError,
    TaskListAnswer,
    VideoTask,
    VideoTaskList,
)
from kling_gateway.api.examples import (
    CREATE_EXAMPLES,
    GENERATION_CREATE_EXAMPLE,
    OPENAI_CREATE_EXAMPLE,
    SESSION_CALL_EXAMPLES,
)
from kling_gateway.dialects import DIALECT_HEADER, Dialect
from kling_gateway.kling.paths import DEFAULT_PAGE_SIZE, PAGE_NUM_RANGE, PAGE_SIZE_RANGE
from kling_gateway.kling.schemas import ACTIONS, SYNC_CALLS, ActionSpec

COMPONENTS = "#/components/schemas/"
AUTH_SCHEME = "BearerAuth"


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ImageUrl(_Body):
    image_url: str = Field(min_length=1, description="A picture's URL, base64 text or data: URL")


class OpenAiVideoCreate(_Body):
    """Create a video job. `model` is a Kling model name, `seconds` Kling's duration, `size` picks the aspect ratio
    and mode (720p std, 1080p pro); an `input_reference` picture makes it image2video."""

    prompt: str | None = Field(default=None, description="Required unless input_reference is given")
    model: str | None = None
    seconds: str | int | None = Field(default=None, description='Whole seconds, as Kling makes them ("5", "10")')
    size: Literal["1280x720", "720x1280", "720x720", "1920x1080", "1080x1920", "1080x1080"] | None = None
    input_reference: Annotated[str, Field(min_length=1)] | ImageUrl | None = Field(
        default=None, description="A picture's URL or base64 text, or {image_url}"
    )


class GenerationCreate(_Body):
    """Create a video task the new-api way; `metadata` carries further Kling fields."""

    model: str | None = None
    prompt: str | None = None
    image: str | None = None
    image_tail: str | None = None
    duration: int | str | None = None
    width: Annotated[int, Field(gt=0)] | None = None
    height: Annotated[int, Field(gt=0)] | None = None
    size: str | None = None
    mode: Literal["std", "pro"] | None = None
    fps: int | None = Field(default=None, description="Accepted and not sent: Kling sets the frame rate by model")
    seed: int | None = Field(default=None, description="Accepted and not sent: Kling takes no seed")
    n: Literal[1] | None = None
    response_format: str | None = None
    user: str | None = None
    metadata: dict[str, Any] | None = None


# -- route documentation -----------------------------------------------------------------------------------------

_ERROR_STATUSES = {
    400: "The request is not valid: the message says which field and what is allowed",
    401: "Authorization is missing or wrong (Kling codes 1000-1004)",
    404: "No such task among yours, or no such endpoint",
    409: "external_task_id reused with a different body",
    429: "Balance too low (1102), too many requests for the key (1302), or the queue or the key's tasks in flight "
    "at their limit (1303)",
    500: "The gateway failed; nothing was charged",
    503: "The upstream could not take the task; nothing was charged",
}
_DIALECT_PARAMETER = {
    "name": DIALECT_HEADER,
    "in": "header",
    "required": False,
    "description": "The response shape, in any case: kling (seed 000), task (seed 003) or video (seed 002); "
    "else the key's default, else kling",
    "schema": {"type": "string", "enum": [dialect.value for dialect in Dialect]},
}


# Answer models are put in the document by reference, their schemas generated once when it is first asked for:
# FastAPI would build a validator for each of them on every route of every app it creates, a third of a second.
_ANSWER_MODELS: dict[str, type[BaseModel]] = {}


def _json(model: Any) -> dict[str, Any]:
    members: tuple[type[BaseModel], ...] = get_args(model) or (model,)
    for member in members:
        _ANSWER_MODELS[member.__name__] = member
    refs = [{"$ref": COMPONENTS + member.__name__} for member in members]
    return {"content": {"application/json": {"schema": refs[0] if len(refs) == 1 else {"anyOf": refs}}}}


def _errors(model: Any, statuses: tuple[int, ...]) -> dict[int | str, dict[str, Any]]:
    return {status: {"description": _ERROR_STATUSES[status], **_json(model)} for status in statuses}


_DIALECT_ERRORS = KlingError | TaskError | OpenAiError


def create(spec: ActionSpec, prefix: str) -> dict[str, Any]:
    """Document a Kling create route."""
    return {
        "summary": f"Create a {spec.action} task",
        "description": f"Validates the body as the official `{spec.family}/{spec.action}` endpoint does, holds the "
        "estimated cost, and sends the task to an upstream account. An `external_task_id` makes the call idempotent.",
        "operation_id": f"create_{_op(spec, prefix)}",
        "responses": {
            200: {
                "description": "The new task (or the earlier one with the same external_task_id)",
                **_json(KlingTaskAnswer | TaskAnswer | VideoTask),
            },
            **_errors(_DIALECT_ERRORS, (400, 401, 409, 429, 500, 503)),
        },
        "openapi_extra": {
            "parameters": [_DIALECT_PARAMETER],
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {"$ref": COMPONENTS + _schema_name(spec)},
                        "example": CREATE_EXAMPLES[spec.family, spec.action],
                    }
                },
            },
        },
    }


def session_call(call: str, prefix: str) -> dict[str, Any]:
    """Document one of Kling's synchronous session calls."""
    opens = call in ("identify-face", "multi-elements/init-selection")
    return {
        "summary": f"Call {call} (synchronous)",
        "description": "Answers at once, with no task and no charge. "
        + (
            "A `video_id` must be a video of one of your tasks and the call goes to the upstream account that made "
            "it; a `video_url` goes to any account. The `session_id` answered is yours, on that account."
            if opens
            else "The `session_id` must be one you opened here; the call goes to the upstream account that holds it."
        )
        + " Always in the Kling envelope.",
        "operation_id": "call_" + f"{_where(prefix)}_videos_{call}".replace("/", "_").replace("-", "_"),
        "responses": {
            200: {"description": "The upstream's answer", **_json(KlingSessionAnswer)},
            **_errors(KlingError, (400, 401, 429, 500, 503)),
        },
        "openapi_extra": {
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {"$ref": COMPONENTS + SYNC_CALLS[call].__name__},
                        "example": SESSION_CALL_EXAMPLES[call],
                    }
                },
            }
        },
    }


def task_one(spec: ActionSpec, prefix: str) -> dict[str, Any]:
    """Document a Kling single-task query."""
    return {
        "summary": f"Query one {spec.action} task",
        "description": "By `task_id`, `platform_id` or `external_task_id`; answered from the gateway's store.",
        "operation_id": f"get_{_op(spec, prefix)}",
        "responses": {
            200: {"description": "The task", **_json(KlingTaskAnswer | TaskAnswer | VideoTask)},
            **_errors(_DIALECT_ERRORS, (400, 401, 404, 500)),
        },
        "openapi_extra": {
            "parameters": [
                {
                    "name": "task_id",
                    "in": "path",
                    "required": True,
                    "description": "The task's task_id, platform_id or external_task_id",
                    "schema": {"type": "string"},
                },
                _DIALECT_PARAMETER,
            ]
        },
    }


def task_list(spec: ActionSpec, prefix: str) -> dict[str, Any]:
    """Document a Kling list query."""
    return {
        "summary": f"List your {spec.action} tasks",
        "description": "Newest first; out-of-range paging is an error, never silently reset.",
        "operation_id": f"list_{_op(spec, prefix)}",
        "responses": {
            200: {"description": "A page of tasks", **_json(KlingTaskListAnswer | TaskListAnswer | VideoTaskList)},
            **_errors(_DIALECT_ERRORS, (400, 401, 500)),
        },
        "openapi_extra": {
            "parameters": [
                _int_query("pageNum", PAGE_NUM_RANGE, 1),
                _int_query("pageSize", PAGE_SIZE_RANGE, DEFAULT_PAGE_SIZE),
                _DIALECT_PARAMETER,
            ]
        },
    }


def openai_create() -> dict[str, Any]:
    """Document `POST /v1/videos`."""
    body_schema = {"$ref": COMPONENTS + "OpenAiVideoCreate"}
    multipart = {
        "type": "object",
        "properties": {
            "prompt": {"type": "string", "description": "Required unless input_reference is given"},
            "model": {"type": "string"},
            "seconds": {"type": "string"},
            "size": {"type": "string"},
            "input_reference": {"type": "string", "format": "binary", "description": "A JPEG or PNG picture"},
        },
    }
    return {
        "summary": "Create a video (OpenAI videos API)",
        "operation_id": "openai_create_video",
        "responses": {
            200: {"description": "The video job", **_json(OpenAiVideo)},
            **_openai_errors(400, 401, 409, 429, 500, 503),
        },
        "openapi_extra": {
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {"schema": body_schema, "example": dict(OPENAI_CREATE_EXAMPLE)},
                    "multipart/form-data": {"schema": multipart},
                },
            }
        },
    }


def openai_list() -> dict[str, Any]:
    """Document `GET /v1/videos`."""
    return {
        "summary": "List your videos (OpenAI videos API)",
        "operation_id": "openai_list_videos",
        "responses": {
            200: {"description": "A page of video jobs", **_json(OpenAiVideoList)},
            **_openai_errors(400, 401, 500),
        },
        "openapi_extra": {
            "parameters": [
                {"name": "after", "in": "query", "required": False, "schema": {"type": "string"}},
                _int_query("limit", (1, 100), 20),
                {
                    "name": "order",
                    "in": "query",
                    "required": False,
                    "schema": {"type": "string", "enum": ["asc", "desc"]},
                },
            ]
        },
    }


def openai_retrieve() -> dict[str, Any]:
    """Document `GET /v1/videos/{video_id}`."""
    return {
        "summary": "Retrieve a video (OpenAI videos API)",
        "operation_id": "openai_retrieve_video",
        "responses": {200: {"description": "The video job", **_json(OpenAiVideo)}, **_openai_errors(401, 404, 500)},
        "openapi_extra": {"parameters": [_path("video_id")]},
    }


def openai_content() -> dict[str, Any]:
    """Document `GET /v1/videos/{video_id}/content`."""
    return {
        "summary": "Download a completed video's file (OpenAI videos API)",
        "operation_id": "openai_video_content",
        "responses": {
            200: {
                "description": "The video file, streamed",
                "content": {"video/mp4": {"schema": {"type": "string", "format": "binary"}}},
            },
            **_openai_errors(400, 401, 404, 500, 503),
        },
        "openapi_extra": {
            "parameters": [
                _path("video_id"),
                {"name": "variant", "in": "query", "required": False, "schema": {"type": "string", "enum": ["video"]}},
            ]
        },
    }


def generations_create() -> dict[str, Any]:
    """Document `POST /v1/video/generations`."""
    return {
        "summary": "Create a video (new-api route)",
        "operation_id": "newapi_create_video_generation",
        "responses": {
            200: {"description": "The new task", **_json(GenerationCreated)},
            **_openai_errors(400, 401, 409, 429, 500, 503),
        },
        "openapi_extra": {
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {"$ref": COMPONENTS + "GenerationCreate"},
                        "example": dict(GENERATION_CREATE_EXAMPLE),
                    }
                },
            }
        },
    }


def generations_retrieve() -> dict[str, Any]:
    """Document `GET /v1/video/generations/{task_id}`."""
    return {
        "summary": "Query a video task (new-api route)",
        "operation_id": "newapi_get_video_generation",
        "responses": {200: {"description": "The task", **_json(VideoTask)}, **_openai_errors(401, 404, 500)},
        "openapi_extra": {"parameters": [_path("task_id")]},
    }


def install(app: FastAPI) -> None:
    """Make `/openapi.json` include the request schemas, the auth scheme and the documented-only models."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        document = get_openapi(
            title=app.title, version=app.version, summary=app.summary, description=app.description, routes=app.routes
        )
        components = document.setdefault("components", {})
        schemas = components.setdefault("schemas", {})
        schemas.update(_request_schemas())
        components["securitySchemes"] = {
            AUTH_SCHEME: {
                "type": "http",
                "scheme": "bearer",
                "description": "A gateway key `sk-…`, or an HS256 JWT signed with the key's access key and "
                "secret key the way official Kling SDKs sign (iss = access key, exp, nbf)",
            }
        }
        document["security"] = [{AUTH_SCHEME: []}]
        app.openapi_schema = document
        return document

    app.openapi = openapi  # type: ignore[method-assign]


def _request_schemas() -> dict[str, Any]:
    models: list[tuple[type[BaseModel], Literal["validation", "serialization"]]] = [
        (spec.schema, "validation") for spec in ACTIONS.values()
    ]
    models += [(schema, "validation") for schema in SYNC_CALLS.values()]
    models += [(OpenAiVideoCreate, "validation"), (GenerationCreate, "validation")]
    models += [(model, "serialization") for _, model in sorted(_ANSWER_MODELS.items())]
    _, top = models_json_schema(models, ref_template=COMPONENTS + "{model}")
    return dict(top.get("$defs", {}))


def _schema_name(spec: ActionSpec) -> str:
    return spec.schema.__name__


def _op(spec: ActionSpec, prefix: str) -> str:
    return f"{_where(prefix)}_{spec.family}_{spec.action}".replace("/", "_").replace("-", "_")


def _where(prefix: str) -> str:
    return "kling" if prefix.startswith("/kling") else "v1"


def _openai_errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return _errors(OpenAiError, statuses)


def _path(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}


def _int_query(name: str, bounds: tuple[int, int], default: int) -> dict[str, Any]:
    low, high = bounds
    return {
        "name": name,
        "in": "query",
        "required": False,
        "schema": {"type": "integer", "minimum": low, "maximum": high, "default": default},
    }
