"""The console's usage: tasks and money per day over the last weeks, by user, model and channel, as charts with
their numbers in tables beside them."""

from __future__ import annotations

from dataclasses import dataclass

from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import Response

from kling_gateway.billing import usage
from kling_gateway.billing.money import format_yuan
from kling_gateway.errors import InvalidRequest
from kling_gateway.web import charts
from kling_gateway.web.areas import visitor
from kling_gateway.web.console.common import reading

DAYS_OFFERED = (7, 30, 90)
DEFAULT_DAYS = 30
MICROS_PER_YUAN = 1_000_000


@dataclass(frozen=True)
class Breakdown:
    """Usage by one grouping: its charts and its totals per group."""

    by: usage.By
    tasks_chart: Markup
    money_chart: Markup
    totals: list[tuple[str, int, int]]  # group, tasks, µ¥ charged


def _breakdown(by: usage.By, rows: list[usage.DayUsage], days: list[str]) -> Breakdown:
    position = {day: index for index, day in enumerate(days)}
    tasks: dict[str, list[float]] = {}
    money: dict[str, list[float]] = {}
    for row in rows:
        tasks.setdefault(row.group, [0.0] * len(days))[position[row.day]] += row.tasks
        money.setdefault(row.group, [0.0] * len(days))[position[row.day]] += row.charged_micros / MICROS_PER_YUAN
    labels = [day[5:] for day in days]  # MM-DD
    totals = sorted(
        ((group, int(sum(tasks[group])), round(sum(money[group]) * MICROS_PER_YUAN)) for group in tasks),
        key=lambda total: (-total[1], total[0]),
    )
    return Breakdown(
        by=by,
        tasks_chart=charts.lines(f"Tasks per day by {by.value}", labels, charts.top_series(tasks)),
        money_chart=charts.lines(
            f"Yuan charged per day by {by.value}", labels, charts.top_series(money), show=lambda value: f"{value:,.2f}"
        ),
        totals=totals,
    )


async def page(request: Request) -> Response:
    """Show the charts of the last `days` days (7, 30 or 90)."""
    visit = await visitor(request)
    area = visit.area
    text = request.query_params.get("days", str(DEFAULT_DAYS))
    if text not in {str(days) for days in DAYS_OFFERED}:
        raise InvalidRequest(f"days: {text!r} is not offered; choose 7, 30 or 90")
    now = area.parts.clock.now_ms()
    until = (now // usage.DAY_MS + 1) * usage.DAY_MS  # the end of today (UTC)
    since = until - int(text) * usage.DAY_MS
    days = usage.days_between(since, until)
    position = {day: index for index, day in enumerate(days)}
    breakdowns = []
    per_day = [0.0] * len(days)
    async with reading(visit) as session:
        for by in usage.By:
            rows = await usage.per_day(session, by=by, since_ms=since, until_ms=until)
            breakdowns.append(_breakdown(by, rows, days))
            if by is usage.By.USER:  # every task has one user: these rows count each task once
                for row in rows:
                    per_day[position[row.day]] += row.tasks
    return area.pages.render(
        request,
        "console/usage.html",
        title="Usage",
        area=area,
        days=int(text),
        offered=DAYS_OFFERED,
        overall=charts.bars("Tasks per day, all users", [day[5:] for day in days], per_day),
        breakdowns=breakdowns,
        yuan=format_yuan,
    )
