"""The bodies each dialect answers with, as models: what `/openapi.json` says a route answers.

They describe bodies the dialect modules render and are never used to build them, so the hot paths stay plain dicts
and orjson. Their validators are built only when the document is first asked for (`defer_build`).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)


# -- kling (seed 000) --------------------------------------------------------------------------------------------


class KlingWatermark(_Body):
    enabled: bool


class KlingTask(_Body):
    """A task as the official API shows it, plus the gateway's own id."""

    task_id: str | None = Field(description="The upstream task id; null until the upstream has accepted the task")
    platform_id: str = Field(description="The gateway's id, given at submit and never changed")
    task_status: Literal["submitted", "processing", "succeed", "failed"]
    task_status_msg: str
    task_info: dict[str, Any]
    task_result: dict[str, Any]
    watermark_info: KlingWatermark
    final_unit_deduction: str = Field(default="", description="Credits the upstream deducted; once final")
    created_at: int
    updated_at: int


class KlingTaskAnswer(_Body):
    """`kling` dialect: one task."""

    code: Literal[0]
    message: str
    request_id: str
    data: KlingTask


class KlingTaskListAnswer(_Body):
    """`kling` dialect: a page of tasks, newest first."""

    code: Literal[0]
    message: str
    request_id: str
    data: list[KlingTask]


class KlingError(_Body):
    """`kling` dialect: an error, with the official code (1000-1004 auth, 1102 balance, 1201 bad field, …)."""

    code: int
    message: str
    request_id: str


class KlingSessionAnswer(_Body):
    """`kling` envelope around the upstream's answer to a synchronous call, passed on as it came."""

    code: Literal[0]
    message: str
    request_id: str
    data: dict[str, Any] = Field(
        description="The upstream's data: status (0 = done), session_id (valid 24 h), final_unit_deduction, and "
        "per call face_data, the video's facts (fps, width, height, total_frame, …) or res"
    )


class KlingPresetsAnswer(_Body):
    """`kling` envelope around a page of Kling's official elements or voices, passed on as the upstream gave it."""

    code: Literal[0]
    message: str
    request_id: str
    data: list[dict[str, Any]] = Field(
        description="Finished records without deduction fields, each holding one official element "
        "(task_result.elements) or voice (task_result.voices); their ids work on every upstream account"
    )


# -- Kling's new generation: its create answer and `/tasks` --------------------------------------------------------


class NewTaskCreated(_Body):
    id: str | None = Field(description="The upstream task id; null until the upstream has accepted the task")
    platform_id: str = Field(description="The gateway's id, given at submit and never changed")
    status: Literal["submitted", "processing", "succeeded", "failed"]
    create_time: int
    update_time: int
    external_id: str = Field(description="Your external_task_id, as you sent it; empty if you sent none")


class NewTaskCreateAnswer(_Body):
    """`kling` dialect of a new-generation create: Kling's new-style answer, plus the gateway's `platform_id`."""

    code: Literal[0]
    message: str
    request_id: str
    data: NewTaskCreated


class NewTaskRecord(_Body):
    """A task of either generation as Kling's `/tasks` shows it, plus the gateway's `platform_id`."""

    id: str | None = Field(description="The upstream task id; null until the upstream has accepted the task")
    platform_id: str
    status: Literal["submitted", "processing", "succeeded", "failed"]
    message: str = Field(description="Why the task failed; empty otherwise")
    create_time: int
    update_time: int
    external_id: str = Field(description="Your external_task_id (never the id the gateway sends upstream), or empty")
    outputs: list[dict[str, Any]] = Field(description="Typed results: video, image, audio, voice or element")
    billing: list[dict[str, Any]] = Field(description="The upstream's deductions: charge_type, amount, package_type")


class NewTaskRecordsAnswer(_Body):
    """`GET /tasks`: your tasks among the ids asked for, in the order asked; ids not yours are left out."""

    code: Literal[0]
    message: str
    request_id: str
    data: list[NewTaskRecord]


class NewTaskPage(_Body):
    result: list[NewTaskRecord]
    count: int = Field(description="Records in this page")
    next_cursor: str = Field(description="Send as cursor for the next page; empty after the last")
    has_more: bool


class NewTaskPageAnswer(_Body):
    """`POST /tasks`: a page of your tasks, newest first."""

    code: Literal[0]
    message: str
    request_id: str
    data: NewTaskPage


# -- task (seed 003) ---------------------------------------------------------------------------------------------


class KlingInner(_Body):
    code: Literal[0]
    message: str
    data: KlingTask


class TaskItem(_Body):
    task_id: str = Field(description="The gateway's id (the kling body's platform_id)")
    status: Literal["SUBMITTED", "IN_PROGRESS", "SUCCESS", "FAILURE"]
    progress: str = Field(pattern=r"^(100|[1-9]?[0-9])%$", description="Estimated from the task's age; 100% once final")
    data: KlingInner


class TaskAnswer(_Body):
    """`task` dialect: one task."""

    code: Literal["success"]
    message: str
    data: TaskItem


class TaskListAnswer(_Body):
    """`task` dialect: a page of tasks, newest first."""

    code: Literal["success"]
    message: str
    data: list[TaskItem]


class TaskError(_Body):
    """`task` dialect: an error (`task_not_exist` for an unknown id)."""

    code: str
    message: str
    data: None


# -- video (seed 002) --------------------------------------------------------------------------------------------


class VideoMetadata(_Body):
    duration: float | None = Field(description="Seconds of the result; null until there is one")
    fps: int | None
    width: int | None
    height: int | None
    seed: int | None = Field(description="Always null: Kling takes no seed")


class VideoTaskError(_Body):
    code: int = Field(default=0, description="Left out: Kling gives a failed task a reason, not a code")
    message: str


class VideoTask(_Body):
    """`video` dialect: one task. `url` and `format` appear once completed, `error` once failed."""

    task_id: str
    status: Literal["queued", "in_progress", "completed", "failed"]
    url: str | None = None  # absent until completed
    format: str | None = None
    metadata: VideoMetadata
    error: VideoTaskError | None = None  # absent unless failed


class VideoTaskList(_Body):
    """`video` dialect: a page of tasks, newest first."""

    object: Literal["list"]
    data: list[VideoTask]
    has_more: bool


class GenerationCreated(VideoTask):
    """The new-api create answer: the `video` body with `id` and `created_at` (Unix seconds)."""

    id: str
    created_at: int


class OpenAiErrorDetail(_Body):
    message: str
    type: str
    param: str | None
    code: str | None


class OpenAiError(_Body):
    """`video` dialect and OpenAI routes: an error."""

    error: OpenAiErrorDetail


# -- OpenAI videos API -------------------------------------------------------------------------------------------


class OpenAiVideoError(_Body):
    code: str
    message: str


class OpenAiVideo(_Body):
    """An OpenAI video job."""

    id: str
    object: Literal["video"]
    model: str | None
    status: Literal["queued", "in_progress", "completed", "failed"]
    progress: int = Field(ge=0, le=100)
    created_at: int
    completed_at: int | None
    expires_at: int | None
    seconds: str | None
    size: str | None
    prompt: str | None
    remixed_from_video_id: str | None
    error: OpenAiVideoError | None


class OpenAiVideoList(_Body):
    object: Literal["list"]
    data: list[OpenAiVideo]
    first_id: str | None
    last_id: str | None
    has_more: bool


# -- what a route answers, whichever dialect the request speaks ---------------------------------------------------


class OneTask(RootModel[KlingTaskAnswer | TaskAnswer | VideoTask]):
    """One task, in the dialect the request speaks."""

    model_config = ConfigDict(defer_build=True)


class TaskPage(RootModel[KlingTaskListAnswer | TaskListAnswer | VideoTaskList]):
    """A page of tasks, newest first, in the dialect the request speaks."""

    model_config = ConfigDict(defer_build=True)


class DialectError(RootModel[KlingError | TaskError | OpenAiError]):
    """An error, in the dialect the request speaks (as far as it is known when the error happens)."""

    model_config = ConfigDict(defer_build=True)


class TaskFilter(_Body):
    key: Literal["status", "product_type"]
    values: list[str] = Field(
        min_length=1, description="status: submitted, processing, succeeded, failed; product_type: video, image, try_on"
    )


class TaskListing(_Body):
    """`POST /tasks`: which of your tasks to list (every field may be left out)."""

    start_time: int | str | None = Field(
        default=None, description="Unix ms, a number or digits; default end_time - 30 days"
    )
    end_time: int | str | None = Field(default=None, description="Unix ms, a number or digits; default now")
    cursor: str | None = Field(default=None, description="An earlier answer's next_cursor; it keeps that window")
    limit: int = Field(default=100, ge=1, le=500)
    filters: list[TaskFilter] | None = Field(
        default=None, description="Values of one key are alternatives; keys must all hold"
    )


class NewCreated(RootModel[NewTaskCreateAnswer | TaskAnswer | VideoTask]):
    """The new task: Kling's new-style create answer in the `kling` dialect, else the dialect's task body."""

    model_config = ConfigDict(defer_build=True)
