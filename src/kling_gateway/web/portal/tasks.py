"""The user's tasks: a gallery newest first (filtered by status, action, model and time, or found by any of a task's
ids), keyset paged, with each result played in the page; a task's own page; and its result streamed through the
gateway. Another user's task, by any id, is exactly as unknown as one nobody has."""

from __future__ import annotations

from datetime import date
from typing import NamedTuple

import orjson
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from kling_gateway.billing.usage import DAY_MS, day_start_ms
from kling_gateway.errors import NotFound
from kling_gateway.store.records import TaskStatus
from kling_gateway.tasks import admin as tasks_admin
from kling_gateway.web import previews
from kling_gateway.web.pages import PageError
from kling_gateway.web.portal.common import no_such_task, signed_in

PAGE_SIZE = 24
TEXT_MAX_CHARS = 255  # the widest id column: anything longer names no task
SHOWN_CHARS = 300  # of one string of a task's request, on its page
PLAYED = {"videos": "video", "images": "image", "audio": "audio"}  # what a family's succeeded task shows


class Filters(NamedTuple):
    """The gallery's filters as the form sent them, checked."""

    status: str
    action: str
    model: str
    since: str  # YYYY-MM-DD, the first day shown, or ""
    until: str  # YYYY-MM-DD, the last day shown, or ""
    before: str  # the platform_id the page starts after, or ""

    @property
    def query(self) -> dict[str, str]:
        """The filters as a page link carries them (paging aside)."""
        named = {"status": self.status, "action": self.action, "model": self.model}
        return {name: value for name, value in (named | {"from": self.since, "to": self.until}).items() if value}


async def gallery(request: Request) -> Response:
    """Show a page of the user's tasks, or go to the one task a search names."""
    signed = await signed_in(request)
    params = request.query_params
    search = _text(params, "q")
    filters = _filters(params)
    async with signed.area.parts.db.session() as session:
        if search:
            found = await _own(session, search, user_id=signed.user_id)
            return RedirectResponse(signed.area.url(f"/tasks/{found.row['platform_id']}"), status_code=303)
        if filters.before:
            await _own(session, filters.before, user_id=signed.user_id)  # a page starts only after one's own task
        lines, more = await tasks_admin.list_tasks(
            session,
            user_id=signed.user_id,
            statuses=[TaskStatus(filters.status)] if filters.status else (),
            action=filters.action or None,
            model=filters.model or None,
            since_ms=day_start_ms(_day(filters.since, "from")) if filters.since else None,
            until_ms=day_start_ms(_day(filters.until, "to")) + DAY_MS if filters.until else None,
            before=filters.before or None,
            limit=PAGE_SIZE,
        )
    return signed.area.pages.render(
        request,
        "portal/tasks.html",
        title="Tasks",
        area=signed.area,
        lines=lines,
        filters=filters,
        statuses=[status.value for status in TaskStatus],
        next_before=lines[-1].platform_id if more and lines else None,
        played=PLAYED,
    )


async def page(request: Request) -> Response:
    """Show one of the user's tasks, found by its platform_id, task_id or external_task_id."""
    signed = await signed_in(request)
    reference = request.path_params["reference"]
    async with signed.area.parts.db.session() as session:
        found = await _own(session, reference, user_id=signed.user_id)
    row = found.row
    return signed.area.pages.render(
        request,
        "portal/task.html",
        title=f"Task {row['platform_id']}",
        area=signed.area,
        task=row,
        task_status=TaskStatus(row["status"]),
        output=previews.output_of(found),
        key_prefix=found.key_prefix,
        request_body=_pretty(row["request_json"]),
    )


async def preview(request: Request) -> Response:
    """Stream the first result file of one of the user's tasks (by its platform_id)."""
    signed = await signed_in(request)
    reference = request.path_params["reference"]
    async with signed.area.parts.db.session() as session:
        found = await previews.find_visible(session, reference, user_id=signed.user_id)
    return await previews.preview(request, signed.area.parts, found, gate=previews.gate_id("user", signed.user_id))


async def _own(session: AsyncSession, reference: str, *, user_id: int) -> tasks_admin.TaskRecord:
    if len(reference) > TEXT_MAX_CHARS:
        raise no_such_task(reference[:40] + "…")
    try:
        return await tasks_admin.find_task(session, reference, user_id=user_id)
    except NotFound:  # none of theirs, or several: both are "no such task" to them
        raise no_such_task(reference) from None


def _filters(params: QueryParams) -> Filters:
    status = _text(params, "status")
    if status and status not in {each.value for each in TaskStatus}:
        allowed = ", ".join(each.value for each in TaskStatus)
        raise PageError(400, "Not a status", f"status={status!r} is not a task status; choose one of {allowed}.")
    since, until = _text(params, "from"), _text(params, "to")
    if since and until and _day(until, "to") < _day(since, "from"):
        raise PageError(400, "Not a span", f"to={until} is before from={since}; give the earlier day first.")
    return Filters(status, _text(params, "action"), _text(params, "model"), since, until, _text(params, "before"))


def _text(params: QueryParams, name: str) -> str:
    value = params.get(name, "").strip()
    if len(value) > TEXT_MAX_CHARS:
        raise PageError(400, "Too long", f"{name} has {len(value)} characters; no id or name has more than 255.")
    return value


def _day(text: str, name: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise PageError(400, "Not a day", f"{name}={text!r} is not a day; give it as YYYY-MM-DD.") from None


def _pretty(text: str) -> str:
    """The request indented, each long string (a picture in Base64, say) cut to its start and its length."""
    try:
        return orjson.dumps(_shortened(orjson.loads(text)), option=orjson.OPT_INDENT_2).decode()
    except orjson.JSONDecodeError:
        return text[:SHOWN_CHARS]


def _shortened(value: object) -> object:
    if isinstance(value, str) and len(value) > SHOWN_CHARS:
        return f"{value[:SHOWN_CHARS]}… ({len(value):,} characters)"
    if isinstance(value, dict):
        return {key: _shortened(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_shortened(item) for item in value]
    return value
