"""What `/openapi.json` says about each route, beyond what its signature already tells FastAPI.

Parameters, their bounds and the auth scheme come from the routes' dependencies; answers from the models in
`answers`; request bodies from the schemas that validate them (`kling.schemas`, `video_requests`). This module adds
only words (summaries, what each error status means) and examples, and makes the document cheap to have: it is
built when first asked for, and so are the answer models' schemas (`DocumentedRoute`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import cache
from typing import Any, Literal

from fastapi import FastAPI
from fastapi._compat import ModelField
from fastapi.datastructures import DefaultPlaceholder
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute
from fastapi.utils import create_model_field
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from kling_gateway.api import answers
from kling_gateway.api.examples import (
    CREATE_EXAMPLES,
    GENERATION_CREATE_EXAMPLE,
    NEW_CREATE_EXAMPLES,
    OPENAI_CREATE_EXAMPLE,
    SESSION_CALL_EXAMPLES,
)
from kling_gateway.api.video_requests import GenerationCreate, OpenAiVideoCreate
from kling_gateway.dialects import DIALECT_HEADER, Dialect
from kling_gateway.kling.schemas import ACTIONS, NEW_ACTIONS, SYNC_SPECS, V1_ADDITIONS, ActionSpec, Family
from kling_gateway.tasks.billed_calls import BILLED_CALLS
from kling_gateway.tasks.session_calls import call_schema

COMPONENTS = "#/components/schemas/"
AUTH_SCHEME = "BearerAuth"
REQUEST_MODELS: tuple[type[BaseModel], ...] = (
    *(spec.schema for spec in ACTIONS.values()),
    *(spec.schema for spec in V1_ADDITIONS.values()),
    *(spec.schema for spec in NEW_ACTIONS.values()),
    *(spec.schema for spec in SYNC_SPECS.values()),
    OpenAiVideoCreate,
    GenerationCreate,
    answers.TaskListing,  # read by `tasks.listing` as Kling reads it; the model only documents it
)
_ERROR_STATUSES = {
    400: "The request is not valid: the message says which field and what is allowed",
    401: "Authorization is missing or wrong (Kling codes 1000-1004)",
    404: "No such task among yours, or no such endpoint",
    409: "external_task_id reused with a different body",
    429: "Balance too low (1102), too many requests for the key (1302), or the queue or the key's tasks in flight "
    "at their limit (1303)",
    408: "The request body did not arrive in time",
    413: "The request body is larger than the gateway takes",
    500: "The gateway failed; nothing was charged",
    503: "The upstream could not take the task, the gateway's store is unavailable (a submit's message then says "
    "how to find out whether it was stored), or too many large bodies are being read at once",
}
# What any request may meet, whatever its route: its body past the bounds, the store unavailable.
_ANY_ROUTE = (408, 413, 503)
Responses = dict[int | str, dict[str, Any]]
# Read by `deps.get_speaker` itself, in any case, rather than declared to FastAPI (which would build a validator for
# it on each of the hundred Kling routes of every app).
DIALECT_PARAMETER = {
    "name": DIALECT_HEADER,
    "in": "header",
    "required": False,
    "description": "The response shape, in any case: kling (seed 000), task (seed 003) or video (seed 002); "
    "else the key's default, else kling",
    "schema": {"type": "string", "enum": [dialect.value for dialect in Dialect]},
}
_SPEAKS_A_DIALECT = {"parameters": [DIALECT_PARAMETER]}


class DocumentedRoute(APIRoute):
    """A route whose answer models become schemas only when the document is first asked for.

    FastAPI builds a serialiser for each answer model of each route as the route is made: for this gateway's hundred
    routes, a third of a second per app, and tests make many apps. Every route here answers with a ready
    `Response`, so those serialisers would never run; the document only needs their schemas.
    """

    def __init__(
        self,
        path: str,
        endpoint: Callable[..., Any],
        *,
        response_model: Any = None,
        responses: Responses | None = None,
        **options: Any,
    ) -> None:
        self.answer_model = None if isinstance(response_model, DefaultPlaceholder) else response_model
        self.answer_models = {
            status: answer["model"] for status, answer in (responses or {}).items() if "model" in answer
        }
        plain = {
            status: {k: v for k, v in answer.items() if k != "model"} for status, answer in (responses or {}).items()
        }
        super().__init__(path, endpoint, response_model=None, responses=plain, **options)

    def document(self) -> None:
        """Give the route the answer fields FastAPI's document generator reads."""
        if self.answer_model is not None:
            self.response_field = _answer_field(self.answer_model)
        self.response_fields = {status: _answer_field(model) for status, model in self.answer_models.items()}


@cache
def _answer_field(model: type[BaseModel]) -> ModelField:
    """One field per answer model for every route and app: its schema is generated once per document."""
    return create_model_field(name=model.__name__, type_=model, mode="serialization")


def _errors(model: type[BaseModel], *statuses: int) -> Responses:
    every = sorted({*statuses, *_ANY_ROUTE})
    return {status: {"model": model, "description": _ERROR_STATUSES[status]} for status in every}


def _request_body(model: type[BaseModel], example: Mapping[str, Any], **more: dict[str, Any]) -> dict[str, Any]:
    """Say a route takes a JSON body valid by `model` (and any other encodings given by content type)."""
    json = {"schema": {"$ref": COMPONENTS + model.__name__}, "example": dict(example)}
    return {"requestBody": {"required": True, "content": {"application/json": json, **more}}}


def _operation(
    summary: str, operation_id: str, answer: type[BaseModel], said: str, errors: Responses, **more: Any
) -> dict[str, Any]:
    """The arguments of `add_api_route` that document one operation: what it answers (`said` of it) and its errors."""
    return {
        "summary": summary,
        "operation_id": operation_id,
        "response_model": answer,
        "response_description": said,
        "responses": errors,
        **more,
    }


# -- the Kling routes --------------------------------------------------------------------------------------------


def create(spec: ActionSpec, prefix: str) -> dict[str, Any]:
    """Document a Kling create route."""
    return _operation(
        f"Create a {spec.action} task",
        f"create_{_op(spec, prefix)}",
        answers.OneTask,
        "The new task (or the earlier one with the same external_task_id)",
        _errors(answers.DialectError, 400, 401, 409, 429, 500, 503),
        description=f"Validates the body as the official `{spec.family}/{spec.action}` endpoint does, holds the "
        "estimated cost, and sends the task to an upstream account. An `external_task_id` makes the call idempotent.",
        openapi_extra=_request_body(spec.schema, CREATE_EXAMPLES[spec.family, spec.action]) | _SPEAKS_A_DIALECT,
    )


def task_one(spec: ActionSpec, prefix: str) -> dict[str, Any]:
    """Document a Kling single-task query."""
    return _operation(
        f"Query one {spec.action} task",
        f"get_{_op(spec, prefix)}",
        answers.OneTask,
        "The task",
        _errors(answers.DialectError, 400, 401, 404, 500),
        description="By `task_id`, `platform_id` or `external_task_id`; answered from the gateway's store.",
        openapi_extra=_SPEAKS_A_DIALECT,
    )


def task_list(spec: ActionSpec, prefix: str) -> dict[str, Any]:
    """Document a Kling list query."""
    return _operation(
        f"List your {spec.action} tasks",
        f"list_{_op(spec, prefix)}",
        answers.TaskPage,
        "A page of tasks",
        _errors(answers.DialectError, 400, 401, 500),
        description="Newest first; out-of-range paging is an error, never silently reset.",
        openapi_extra=_SPEAKS_A_DIALECT,
    )


def session_call(family: Family, call: str, prefix: str) -> dict[str, Any]:
    """Document one of Kling's synchronous calls."""
    opens = call in ("identify-face", "multi-elements/init-selection")
    billed = BILLED_CALLS.get((family, call))
    charge = (
        f"Answers at once. Billed like a task: {billed.price_units} credits of the {billed.package} pack are held "
        "(the balance must cover them), and the call's own `final_unit_deduction` is charged once it answers; the "
        "call is kept as a finished task (never listed by `/tasks`). "
        if billed is not None
        else "Answers at once, with no task and no charge. "
    )
    where = (
        "A `video_id` must be a video of one of your tasks and the call goes to the upstream account that made "
        "it; a `video_url` goes to any account. The `session_id` answered is yours, on that account."
        if opens
        else "The `session_id` must be one you opened here; the call goes to the upstream account that holds it."
        if family is Family.VIDEOS and call.startswith("multi-elements/")
        else "The id must be of an element or voice you made here (official ones cannot be deleted); the call goes "
        "to the upstream account that holds it."
        if family is Family.GENERAL
        else "It goes to any upstream account."
    )
    return _operation(
        f"Call {call} (synchronous)",
        "call_" + f"{_where(prefix)}_{family}_{call}".replace("/", "_").replace("-", "_"),
        answers.KlingSessionAnswer,
        "The upstream's answer",
        _errors(answers.KlingError, 400, 401, 429, 500, 503),
        description=charge + where + " Always in the Kling envelope.",
        openapi_extra=_request_body(call_schema(family, call), SESSION_CALL_EXAMPLES[call]),
    )


def presets_list(listing: str, prefix: str) -> dict[str, Any]:
    """Document one of Kling's presets lists."""
    return _operation(
        f"List Kling's {listing}",
        "list_" + f"{_where(prefix)}_general_{listing}".replace("-", "_"),
        answers.KlingPresetsAnswer,
        "A page of the official library",
        _errors(answers.KlingError, 400, 401, 500, 503),
        description="Answers a page of the official elements or voices from any upstream account, as it gave it: "
        "they are the same on every account, and their ids may be used in any task. No task and no charge. "
        "Always in the Kling envelope.",
    )


# -- Kling's new generation --------------------------------------------------------------------------------------

_API_KEY_ONLY = (
    " Like Kling's new-generation endpoints it takes an API key only: send a gateway key `sk-…`; a JWT signed with "
    "a key's access key and secret key is refused with 401 (code 1002)."
)


def new_create(spec: ActionSpec, prefix: str) -> dict[str, Any]:
    """Document a new-generation create route (`/{product}/{model}`)."""
    product = spec.action.partition("/")[0]
    return _operation(
        f"Create a {spec.action} task (new generation)",
        "create_" + f"{_where(prefix)}_{spec.action}".replace("/", "_").replace("-", "_").replace(".", "_"),
        answers.NewCreated,
        "The new task (or the earlier one with the same options.external_task_id)",
        _errors(answers.DialectError, 400, 401, 409, 429, 500, 503),
        description=f"Validates the body as the official `/{spec.action}` endpoint does, holds the estimated cost and "
        "sends the task to an upstream account. In the `kling` dialect the answer is Kling's new-style create answer "
        "`data {id, status, create_time, update_time, external_id}` plus the gateway's `platform_id`; `id` is the "
        "upstream's id once it has accepted the task, else null (query by `platform_id` meanwhile). Results are "
        "queried through `/tasks`." + _API_KEY_ONLY,
        openapi_extra=_request_body(spec.schema, NEW_CREATE_EXAMPLES[product]) | _SPEAKS_A_DIALECT,
    )


def tasks_query(prefix: str) -> dict[str, Any]:
    """Document `GET /tasks`."""
    return _operation(
        "Query tasks by ids (new generation)",
        f"query_{_where(prefix)}_tasks",
        answers.NewTaskRecordsAnswer,
        "Your tasks among those asked for",
        _errors(answers.KlingError, 400, 401, 500),
        description="`task_ids` (any of platform_id, task_id or external_task_id) or `external_task_ids`, comma "
        "lists, at most 20 ids in all. Ids that name none of your tasks are left out, as Kling leaves out unknown "
        "ones; the records come in the order asked. Tasks of both generations, never synchronous calls."
        + _API_KEY_ONLY,
    )


def tasks_list(prefix: str) -> dict[str, Any]:
    """Document `POST /tasks`."""
    return _operation(
        "List your tasks by cursor (new generation)",
        f"list_{_where(prefix)}_tasks",
        answers.NewTaskPageAnswer,
        "A page of your tasks, newest first",
        _errors(answers.KlingError, 400, 401, 500),
        description="Body `{start_time, end_time, cursor, limit, filters}`: times in Unix ms (numbers or digit "
        "strings; default the 30 days up to now), `limit` 1-500 (default 100), `filters` `[{key, values}]` with "
        "`status` (submitted, processing, succeeded, failed) and `product_type` (video, image, try_on). A cursor "
        "keeps the first page's window. Tasks of both generations, never synchronous calls." + _API_KEY_ONLY,
        openapi_extra={
            "requestBody": {
                "required": False,
                "content": {
                    "application/json": {
                        "schema": {"$ref": COMPONENTS + answers.TaskListing.__name__},
                        "example": {"limit": 20, "filters": [{"key": "status", "values": ["succeeded"]}]},
                    }
                },
            }
        },
    )


def _op(spec: ActionSpec, prefix: str) -> str:
    return f"{_where(prefix)}_{spec.family}_{spec.action}".replace("/", "_").replace("-", "_")


def _where(prefix: str) -> str:
    if prefix.startswith("/kling"):
        return "kling"
    return "v1" if prefix else "root"


# -- the OpenAI videos API and the new-api route -----------------------------------------------------------------

# A form carries the same fields as the JSON body, the picture as a file: its schema is made from the model's.
FORM_SCHEMA = "OpenAiVideoForm"


def openai_create() -> dict[str, Any]:
    """Document `POST /v1/videos`."""
    form = {"multipart/form-data": {"schema": {"$ref": COMPONENTS + FORM_SCHEMA}}}
    return _operation(
        "Create a video (OpenAI videos API)",
        "openai_create_video",
        answers.OpenAiVideo,
        "The video job",
        _errors(answers.OpenAiError, 400, 401, 409, 429, 500, 503),
        openapi_extra=_request_body(OpenAiVideoCreate, OPENAI_CREATE_EXAMPLE, **form),
    )


def openai_list() -> dict[str, Any]:
    """Document `GET /v1/videos`."""
    return _operation(
        "List your videos (OpenAI videos API)",
        "openai_list_videos",
        answers.OpenAiVideoList,
        "A page of video jobs",
        _errors(answers.OpenAiError, 400, 401, 500),
    )


def openai_retrieve() -> dict[str, Any]:
    """Document `GET /v1/videos/{video_id}`."""
    return _operation(
        "Retrieve a video (OpenAI videos API)",
        "openai_retrieve_video",
        answers.OpenAiVideo,
        "The video job",
        _errors(answers.OpenAiError, 401, 404, 500),
    )


def openai_content() -> dict[str, Any]:
    """Document `GET /v1/videos/{video_id}/content`: a file, not a JSON body (429 past the downloads bounds)."""
    video = {"video/mp4": {"schema": {"type": "string", "format": "binary"}}}
    return {
        "summary": "Download a completed video's file (OpenAI videos API)",
        "operation_id": "openai_video_content",
        "responses": {
            200: {"description": "The video file, streamed", "content": video},
            **_errors(answers.OpenAiError, 400, 401, 404, 429, 500, 503),
        },
    }


def generations_create() -> dict[str, Any]:
    """Document `POST /v1/video/generations`."""
    return _operation(
        "Create a video (new-api route)",
        "newapi_create_video_generation",
        answers.GenerationCreated,
        "The new task",
        _errors(answers.OpenAiError, 400, 401, 409, 429, 500, 503),
        openapi_extra=_request_body(GenerationCreate, GENERATION_CREATE_EXAMPLE),
    )


def generations_retrieve() -> dict[str, Any]:
    """Document `GET /v1/video/generations/{task_id}`."""
    return _operation(
        "Query a video task (new-api route)",
        "newapi_get_video_generation",
        answers.VideoTask,
        "The task",
        _errors(answers.OpenAiError, 401, 404, 500),
    )


# -- the document ------------------------------------------------------------------------------------------------


def install(app: FastAPI) -> None:
    """Make every route of `app` a DocumentedRoute, and `/openapi.json` be built when it is first asked for."""
    app.router.route_class = DocumentedRoute

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = _document(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _document(app: FastAPI) -> dict[str, Any]:
    for route in app.routes:
        if isinstance(route, DocumentedRoute):
            route.document()
    document = get_openapi(
        title=app.title, version=app.version, summary=app.summary, description=app.description, routes=app.routes
    )
    components = document.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas.update(_request_schemas())
    schemas[FORM_SCHEMA] = _form_schema(schemas[OpenAiVideoCreate.__name__], OpenAiVideoCreate.FILE_FIELD)
    # A parameter FastAPI refuses is answered as a 400 in the caller's shape (`deps.invalid_request`), never a 422.
    for operations in document["paths"].values():
        for operation in operations.values():
            operation["responses"].pop("422", None)
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    # Every documented route authenticates (`deps.get_caller`, `deps.get_speaker`) the same way.
    components["securitySchemes"] = {
        AUTH_SCHEME: {
            "type": "http",
            "scheme": "bearer",
            "description": "A gateway key `sk-…`, or an HS256 JWT signed with the key's access key and "
            "secret key the way official Kling SDKs sign (iss = access key, exp, nbf)",
        }
    }
    document["security"] = [{AUTH_SCHEME: []}]
    return document


def _request_schemas() -> dict[str, Any]:
    models: list[tuple[type[BaseModel], Literal["validation", "serialization"]]] = [
        (model, "validation") for model in REQUEST_MODELS
    ]
    _, top = models_json_schema(models, ref_template=COMPONENTS + "{model}")
    return dict(top.get("$defs", {}))


def _form_schema(body: dict[str, Any], file_field: str) -> dict[str, Any]:
    """Turn a JSON body's schema into its form's: every field is text but `file_field`, a picture file."""
    fields = {name: {"type": "string"} | _described(schema) for name, schema in body["properties"].items()}
    fields[file_field] = {"type": "string", "format": "binary", "description": "A JPEG or PNG picture"}
    return {"type": "object", "properties": fields}


def _described(schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": schema["description"]} if "description" in schema else {}
