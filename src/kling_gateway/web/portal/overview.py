"""The portal's first page: the user's money (balance, held, available) and their usage over recent days, as a
chart of tasks and of money per day and a table by model."""

from __future__ import annotations

from datetime import timedelta

from starlette.requests import Request
from starlette.responses import Response

from kling_gateway.billing import ledger
from kling_gateway.billing.money import format_yuan
from kling_gateway.billing.usage import Grouping, Span, day_of_ms, fill_days, usage_by_day
from kling_gateway.web import charts
from kling_gateway.web.pages import PageError
from kling_gateway.web.portal.common import signed_in

SPANS = (7, 30, 90)  # the days a usage chart may cover
DEFAULT_DAYS = 30


async def page(request: Request) -> Response:
    """Show the user's balance and their usage."""
    signed = await signed_in(request)
    days = _days(request.query_params.get("days", str(DEFAULT_DAYS)))
    today = day_of_ms(signed.area.parts.clock.now_ms())
    span = Span.checked(today - timedelta(days=days - 1), today)
    async with signed.area.parts.db.session() as session:
        balance = await ledger.balance_of(session, user_id=signed.user_id)
        daily = fill_days(await usage_by_day(session, span=span, grouping=Grouping.TOTAL, user_id=signed.user_id), span)
        by_model = await usage_by_day(session, span=span, grouping=Grouping.MODEL, user_id=signed.user_id)
    labels = [day.strftime("%m-%d") for day in span.days()]
    models: dict[str, list[int]] = {}
    for row in by_model:
        summed = models.setdefault(row.group or "(not known)", [0, 0, 0])
        summed[0] += row.tasks
        summed[1] += row.succeeded
        summed[2] += row.charged_micros
    return signed.area.pages.render(
        request,
        "portal/overview.html",
        title="Overview",
        area=signed.area,
        balance=balance,
        days=days,
        spans=SPANS,
        span=span,
        daily=daily,
        tasks_chart=charts.bars(f"Tasks submitted per day, last {days} days", labels, [d.tasks for d in daily]),
        money_chart=charts.bars(
            f"Money charged per day (¥), last {days} days",
            labels,
            [d.charged_micros / 1_000_000 for d in daily],
            show=lambda value: f"¥{value:,.2f}",
        ),
        models=sorted(models.items(), key=lambda item: (-item[1][2], -item[1][0], item[0])),
        total_tasks=sum(d.tasks for d in daily),
        total_charged=format_yuan(sum(d.charged_micros for d in daily)),
    )


def _days(text: str) -> int:
    if text.isdigit() and int(text) in SPANS:
        return int(text)
    allowed = ", ".join(str(days) for days in SPANS)
    raise PageError(400, "Not a span", f"days={text!r} is not a span the usage chart covers; choose {allowed}.")
