"""How each dialect renders a task, a page and an error: one table for the API's answers and clients' callbacks."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import orjson

from kling_gateway.dialects import Dialect, kling, record, task, video
from kling_gateway.dialects.outputs import NEW
from kling_gateway.errors import GatewayError
from kling_gateway.store.records import TaskView


@dataclass(frozen=True, slots=True)
class Shape:
    """How one dialect renders a task, a page and an error.

    `one` gives the part of a single-task answer that stays the same once the task is final (so it may be kept);
    `whole` turns that part into the body, adding what is new per request.
    """

    one: Callable[[TaskView, int], object]
    whole: Callable[[object], object]
    page: Callable[[Sequence[TaskView], int, bool], object]
    error: Callable[[GatewayError], object]


def _as_is(body: object) -> object:
    return body


SHAPES = {
    Dialect.KLING: Shape(kling.one, kling.envelope, kling.page, kling.error),
    Dialect.TASK: Shape(task.one, _as_is, task.page, task.error),
    Dialect.VIDEO: Shape(video.one, _as_is, video.page, video.error),
}


def callback_body(view: TaskView, dialect: str | None, now_ms: int) -> str:
    """Render what a single query of the task answers now, in the task's dialect, as JSON text: the body of its
    client callback (for `kling`, the bare task object, as official Kling callbacks send it; for a task of the new
    generation, its `/tasks` record, as Kling's new-style callbacks send it)."""
    chosen = Dialect(dialect) if dialect else Dialect.KLING
    if chosen is Dialect.KLING and view.generation == NEW:
        return orjson.dumps(record.record(view)).decode()
    return orjson.dumps(SHAPES[chosen].one(view, now_ms)).decode()
