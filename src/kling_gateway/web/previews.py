"""Play a task's result through the gateway: its first video, image or audio file, streamed from the upstream's URL
over the downloads pool (the egress checks, its bounds and timeouts), with a `Range` carried on so a player can
seek. Who may see which task is the caller's business: an operator any, a user only their own."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response

from kling_gateway.dialects.outputs import Output, first_output
from kling_gateway.errors import NotFound
from kling_gateway.store.records import TaskView
from kling_gateway.tasks import admin as tasks_admin
from kling_gateway.tasks import repository as tasks_repository
from kling_gateway.web.pages import PageError
from kling_gateway.web.parts import Parts

KINDS = ("video", "image", "audio")


def view_of(found: tasks_admin.TaskRecord) -> TaskView:
    """The task as the dialects read it, from the operator's full record."""
    return TaskView.of([found.row[name] for name in TaskView._fields])


def output_of(found: tasks_admin.TaskRecord) -> Output | None:
    """The task's first playable file, or None before it has one."""
    return first_output(view_of(found))


def gate_id(kind: str, holder_id: int) -> int:
    """The downloads gate's id of a web holder: negative, so that it never meets an API key's."""
    return -(2 * holder_id + (0 if kind == "operator" else 1)) - 1


async def find_visible(session: AsyncSession, platform_id: str, *, user_id: int | None) -> tasks_admin.TaskRecord:
    """Find a task by its platform id, among one user's (`user_id`) or everyone's; anything else is one 404."""
    try:
        found = await tasks_admin.find_task(session, platform_id, user_id=user_id)
    except NotFound as error:  # none, or an id naming several: both are "no such task" to a page
        raise _missing(platform_id) from error
    if found.row["platform_id"] != platform_id:
        raise _missing(platform_id)
    return found


async def preview(request: Request, parts: Parts, found: tasks_admin.TaskRecord, *, gate: int) -> Response:
    """Stream the task's first file, or answer 404 while it has none."""
    output = output_of(found)
    platform_id = found.row["platform_id"]
    if output is None:
        raise PageError(404, "No result yet", f"Task {platform_id} has no result file to show (yet).")
    async with parts.db.read() as connection:
        channel_url = await tasks_repository.channel_base_url(connection, platform_id=platform_id)
    response = await parts.downloads.stream(
        gate,
        output.url,
        channel_url=channel_url,
        what=f"the {output.kind} file of {platform_id}",
        headers=request.headers,
    )
    response.headers["cache-control"] = "private, max-age=300"
    return response


def _missing(platform_id: str) -> PageError:
    return PageError(404, "Not found", f"There is no task {platform_id!r} here.")
