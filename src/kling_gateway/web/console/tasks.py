"""The console's tasks: a filtered list of every user's, newest first in keyset pages, a search by any of a task's
ids, and a task's page with its record, its result playing, its ledger lines, client callbacks and upstream sends."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from kling_gateway.billing import ledger
from kling_gateway.channels import admin as channels_admin
from kling_gateway.errors import InvalidRequest, NotFound
from kling_gateway.outbox import admin as outbox_admin
from kling_gateway.outbox import repository as outbox
from kling_gateway.store.records import TaskStatus
from kling_gateway.tasks import admin as tasks_admin
from kling_gateway.users import service as users_service
from kling_gateway.web import previews
from kling_gateway.web.areas import visitor
from kling_gateway.web.console.common import DAY_MS, date_param, reading
from kling_gateway.web.pages import pager

PAGE_SIZE = 50
CALLBACKS_SHOWN = 20
GENERATIONS = ("legacy", "new")
FILTERS = ("user", "status", "action", "generation", "channel", "since", "until")


async def list_page(request: Request) -> Response:
    """List tasks by the filters given; a search by id goes straight to the task it names."""
    visit = await visitor(request)
    area = visit.area
    params = request.query_params
    wanted = {name: params.get(name, "").strip() for name in FILTERS}
    search = params.get("q", "").strip()
    problem = None
    lines: list[tasks_admin.TaskLine] = []
    more = False
    async with reading(visit) as session:
        try:
            if search:
                found = await tasks_admin.find_task(session, search)
                return area.pages.redirect(request, area.url(f"/tasks/{found.row['platform_id']}"))
            filters = await _filters(session, request, wanted)
            lines, more = await tasks_admin.list_tasks(
                session, **filters, before=params.get("before") or None, limit=PAGE_SIZE
            )
        except (InvalidRequest, NotFound) as refused:
            problem = refused.message
    after = pager(lines, more)
    next_query = None
    if after is not None:
        next_query = "&".join(f"{name}={value}" for name, value in wanted.items() if value)
        next_query = f"?{next_query}&before={after.platform_id}" if next_query else f"?before={after.platform_id}"
    return area.pages.render(
        request,
        "console/tasks.html",
        status=400 if problem and not search else 200,
        title="Tasks",
        area=area,
        lines=lines,
        wanted=wanted,
        search=search,
        problem=problem,
        statuses=[status.value for status in TaskStatus],
        generations=GENERATIONS,
        next_query=next_query,
        paged=bool(params.get("before")),
    )


async def _filters(session: Any, request: Request, wanted: dict[str, str]) -> dict[str, Any]:
    """Turn the filter fields into `list_tasks` arguments, refusing a user, channel or status nobody has."""
    filters: dict[str, Any] = {}
    if wanted["user"]:
        filters["user_id"] = (await users_service.require_user(session, wanted["user"])).id
    if wanted["channel"]:
        channel = await channels_admin.find_channel(session, wanted["channel"], removed_too=True)
        if channel is None:
            raise NotFound(f"there is no channel named {wanted['channel']!r}")
        filters["channel_id"] = channel.id
    if wanted["status"]:
        if wanted["status"] not in TaskStatus.__members__.values():
            allowed = ", ".join(TaskStatus)
            raise InvalidRequest(f"status: {wanted['status']!r} is not a status; use one of {allowed}")
        filters["statuses"] = [TaskStatus(wanted["status"])]
    if wanted["generation"]:
        if wanted["generation"] not in GENERATIONS:
            raise InvalidRequest(f"generation: {wanted['generation']!r} is not one; use legacy or new")
        filters["generation"] = wanted["generation"]
    if wanted["action"]:
        filters["action"] = wanted["action"]
    filters["since_ms"] = date_param(request, "since", what="from")
    until = date_param(request, "until", what="to")
    filters["until_ms"] = None if until is None else until + DAY_MS  # the whole of the last day
    return filters


async def task_page(request: Request) -> Response:
    """Show one task in full, its result playing when it has one."""
    visit = await visitor(request)
    area = visit.area
    platform_id = request.path_params["platform_id"]
    async with reading(visit) as session:
        found = await previews.find_visible(session, platform_id, user_id=None)
        entries = await ledger.entries_of_task(session, task_platform_id=platform_id)
        callbacks = await outbox.of_task(session, platform_id=platform_id, limit=CALLBACKS_SHOWN) or []
    row = found.row
    return area.pages.render(
        request,
        "console/task.html",
        title=f"Task {platform_id}",
        area=area,
        task=row,
        found=found,
        output=previews.output_of(found),
        preview_url=area.url(f"/tasks/{platform_id}/preview"),
        entries=entries,
        callbacks=callbacks,
        callback_state=outbox_admin.state_of,
        billing=orjson.loads(row["billing_json"]),
        result=orjson.dumps(orjson.loads(row["result_json"]), option=orjson.OPT_INDENT_2).decode(),
        request_bytes=len(row["request_json"].encode()),
        is_final=TaskStatus(row["status"]).is_final,
    )


async def preview(request: Request) -> Response:
    """Stream a task's result file, for the task page's player."""
    visit = await visitor(request)
    assert visit.holder is not None
    async with reading(visit) as session:
        found = await previews.find_visible(session, request.path_params["platform_id"], user_id=None)
    gate = previews.gate_id(visit.holder.kind, visit.holder.id)
    return await previews.preview(request, visit.area.parts, found, gate=gate)
