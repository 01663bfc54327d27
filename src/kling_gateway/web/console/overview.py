"""The console's first page: what is in flight and queued, what finished in the last hour and day, money held and
charged, the channels' slots against their limits, and the callback backlog, from the store snapshot `/metrics`
reads (`health.tallies`)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from kling_gateway.billing import usage
from kling_gateway.health.status import channels
from kling_gateway.health.tallies import snapshot
from kling_gateway.outbox import repository as outbox
from kling_gateway.store.records import TaskStatus
from kling_gateway.tasks import admin as tasks_admin
from kling_gateway.web.areas import visitor
from kling_gateway.web.console.common import reading

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS


async def page(request: Request) -> Response:
    """Show the overview."""
    visit = await visitor(request)
    area = visit.area
    now = area.parts.clock.now_ms()
    async with reading(visit) as session:
        store = await snapshot(session)
        finished = {
            "hour": await tasks_admin.finished_since(session, since_ms=now - HOUR_MS),
            "day": await tasks_admin.finished_since(session, since_ms=now - DAY_MS),
        }
        held = await usage.held_now(session)
        charged = {
            "hour": await usage.charged_since(session, since_ms=now - HOUR_MS),
            "day": await usage.charged_since(session, since_ms=now - DAY_MS),
        }
        given_up = await outbox.given_up_since(session, since_ms=now - DAY_MS)
    by_status: dict[str, int] = {}
    for row in store.unfinished:
        by_status[row.status] = by_status.get(row.status, 0) + row.tasks
    overdue_s = None if store.callback_due_ms is None else max(now - store.callback_due_ms, 0) / 1000
    return area.pages.render(
        request,
        "console/overview.html",
        title="Overview",
        area=area,
        by_status=by_status,
        finished={
            span: {s.value: counts.get(s, 0) for s in TaskStatus if s.is_final} for span, counts in finished.items()
        },
        held=held,
        charged=charged,
        channels=channels(store),
        callbacks_pending=store.callbacks_pending,
        callbacks_overdue_s=overdue_s,
        callbacks_given_up=given_up,
        beats=store.beats,
        now=now,
    )
