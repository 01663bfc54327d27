"""The console's usage: tasks and money per day over the last weeks, by user, model and channel, as charts with
their numbers in tables beside them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

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

    by: usage.Grouping
    tasks_chart: Markup
    money_chart: Markup
    totals: list[tuple[str, int, int]]  # group, tasks, µ¥ charged


def _breakdown(by: usage.Grouping, rows: list[usage.DayUsage], days: list[date]) -> Breakdown:
    position = {day: index for index, day in enumerate(days)}
    tasks: dict[str, list[float]] = {}
    money: dict[str, list[float]] = {}
    for row in rows:
        group = row.group or usage.UNNAMED
        tasks.setdefault(group, [0.0] * len(days))[position[row.day]] += row.tasks
        money.setdefault(group, [0.0] * len(days))[position[row.day]] += row.charged_micros / MICROS_PER_YUAN
    labels = _labels(days)
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


def _labels(days: list[date]) -> list[str]:
    return [day.strftime("%m-%d") for day in days]


async def page(request: Request) -> Response:
    """Show the charts of the last `days` days (7, 30 or 90)."""
    visit = await visitor(request)
    area = visit.area
    text = request.query_params.get("days", str(DEFAULT_DAYS))
    if text not in {str(days) for days in DAYS_OFFERED}:
        raise InvalidRequest(f"days: {text!r} is not offered; choose 7, 30 or 90")
    today = usage.day_of_ms(area.parts.clock.now_ms())
    span = usage.Span.checked(today - timedelta(days=int(text) - 1), today)
    days = span.days()
    breakdowns = []
    per_day = [0.0] * len(days)
    async with reading(visit) as session:
        for by in usage.SPLITS:
            rows = await usage.usage_by_day(session, span=span, grouping=by)
            breakdowns.append(_breakdown(by, rows, days))
            if by is usage.Grouping.USER:  # every task has one user: these rows count each task once
                per_day = [float(day.tasks) for day in usage.fill_days(rows, span)]
    return area.pages.render(
        request,
        "console/usage.html",
        title="Usage",
        area=area,
        days=int(text),
        offered=DAYS_OFFERED,
        overall=charts.bars("Tasks per day, all users", _labels(days), per_day),
        breakdowns=breakdowns,
        yuan=format_yuan,
    )
