"""The admin commands on client callbacks: see what is pending, delivered or given up, and retry one."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from sqlalchemy.ext.asyncio import AsyncSession

from kling_gateway.admin import AsJson, DatabaseUrl, Report, grid, run, table
from kling_gateway.clock import now_ms
from kling_gateway.outbox import admin as outbox
from kling_gateway.outbox.admin import CallbackState
from kling_gateway.outbox.repository import ListedCallback
from kling_gateway.settings import get_settings

DEFAULT_LIMIT = 50  # callbacks `callbacks list` shows unless told
LIST_FIELDS = (
    "id",
    "task",
    "status",
    "state",
    "attempts",
    "next_attempt_at",
    "last_error",
    "delivered_at",
    "given_up_at",
)

callbacks_app = typer.Typer(no_args_is_help=True, help="See and retry the callbacks sent to clients' callback_url.")


@callbacks_app.command("list")
def list_callbacks(
    state: Annotated[
        CallbackState | None,
        typer.Option(help="Only callbacks in this state.", show_default=False, case_sensitive=False),
    ] = None,
    task: Annotated[
        str | None, typer.Option(metavar="PLATFORM_ID", help="Only this task's callbacks.", show_default=False)
    ] = None,
    limit: Annotated[int, typer.Option(min=1, help="Show at most this many, newest first.")] = DEFAULT_LIMIT,
    as_json: AsJson = False,
    database_url: DatabaseUrl = None,
) -> None:
    """List client callbacks, newest first: their task, status, attempts, next attempt and last error."""

    async def work(session: AsyncSession) -> Report:
        rows = await outbox.list_callbacks(session, state=state, platform_id=task, limit=limit)
        listed = [callback_data(row) for row in rows]
        title = "Client callbacks" + (f" ({state})" if state is not None else "")
        return Report({"callbacks": listed}, [table(title, listed, LIST_FIELDS)])

    run(work, as_json=as_json, database_url=database_url)


@callbacks_app.command("retry")
def retry_callback(
    callback_id: Annotated[int, typer.Argument(metavar="ID", help="The callback's id, from `callbacks list`.")],
    as_json: AsJson = False,
    database_url: DatabaseUrl = None,
) -> None:
    """Send a callback again at the worker's next round.

    A given-up callback gets another full retry period (sync.callback_give_up_s) from now; a pending one is only
    brought forward. A delivered one is refused.
    """

    async def work(session: AsyncSession) -> Report:
        give_up_s = get_settings().sync.callback_give_up_s
        row = await outbox.retry_callback(session, callback_id=callback_id, now_ms=now_ms(), give_up_s=give_up_s)
        data = callback_data(row)
        line = f"Callback {row.id} ({row.status} of {row.platform_id}) will be sent at the worker's next round."
        return Report({"callback": data}, [line, grid(data)])

    run(work, as_json=as_json, database_url=database_url)


def callback_data(row: ListedCallback) -> dict[str, Any]:
    """Lay out a callback as its listings show it, for people and scripts."""
    return {
        "id": row.id,
        "task": row.platform_id,
        "status": row.status,
        "state": outbox.state_of(row).value,
        "message_id": row.message_id,
        "attempts": row.attempts,
        "next_attempt_at": row.next_attempt_at,
        "last_error": row.last_error,
        "delivered_at": row.delivered_at,
        "given_up_at": row.given_up_at,
        "created_at": row.created_at,
        "give_up_at": row.give_up_at,
    }
