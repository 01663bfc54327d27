"""The admin commands on tasks: list every user's, newest first, and show one with its money, callbacks and sends."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import orjson
import typer
from rich.console import RenderableType
from sqlalchemy.ext.asyncio import AsyncSession

from kling_gateway.admin import AsJson, DatabaseUrl, Report, grid, parse_since, run, table
from kling_gateway.admin.callbacks_cli import LIST_FIELDS as CALLBACK_FIELDS
from kling_gateway.admin.callbacks_cli import callback_data
from kling_gateway.admin.users_cli import ENTRY_FIELDS, entry_data
from kling_gateway.billing import ledger
from kling_gateway.billing.money import format_yuan
from kling_gateway.channels import admin as channels_service
from kling_gateway.errors import NotFound
from kling_gateway.outbox import repository as outbox
from kling_gateway.store.records import TaskStatus
from kling_gateway.tasks import admin as tasks_admin
from kling_gateway.users import service as users_service

DEFAULT_LIMIT = 50  # tasks `tasks list` shows unless told
MAX_LIMIT = 1000
CALLBACKS_SHOWN = 20  # a task has one per status change: four at most, unless the admin retried
LINE_FIELDS = ("created_at", "task", "user", "action", "status", "channel", "upstream_task_id", "charged")
UPSTREAM_FIELDS = ("channel", "required_channel", "send_attempts", "next_look_at", "absent_answers")
NOT_KEPT = (
    "Not kept: when each create call was made, to which channel and what it answered (only how many were made, and "
    "the channel the task is on), nor each poll or upstream callback."
)

tasks_app = typer.Typer(no_args_is_help=True, help="List every user's tasks and show one in full.")


@tasks_app.command("list")
def list_tasks(
    user: Annotated[str | None, typer.Option(help="Only this user's tasks.", show_default=False)] = None,
    status: Annotated[
        list[TaskStatus] | None,
        typer.Option(help="Only tasks in this status (repeat for several).", show_default=False, case_sensitive=False),
    ] = None,
    channel: Annotated[
        str | None, typer.Option(help="Only tasks on this channel (a removed one too).", show_default=False)
    ] = None,
    since: Annotated[
        datetime | None,
        typer.Option(parser=parse_since, metavar="DATE", help="Only tasks submitted from then on.", show_default=False),
    ] = None,
    before: Annotated[
        str | None,
        typer.Option(metavar="PLATFORM_ID", help="Only tasks older than this one: the next page.", show_default=False),
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=MAX_LIMIT, help="Show at most this many.")] = DEFAULT_LIMIT,
    as_json: AsJson = False,
    database_url: DatabaseUrl = None,
) -> None:
    """List tasks of every user, newest first, a page at a time; each filter given narrows the list."""

    async def work(session: AsyncSession) -> Report:
        user_id = None if user is None else (await users_service.require_user(session, user)).id
        channel_id = None
        if channel is not None:
            found = await channels_service.find_channel(session, channel, removed_too=True)
            if found is None:
                raise NotFound(f"there is no channel named {channel!r}; `channels list --removed` shows them")
            channel_id = found.id
        lines, more = await tasks_admin.list_tasks(
            session,
            user_id=user_id,
            statuses=status or (),
            channel_id=channel_id,
            since_ms=None if since is None else round(since.timestamp() * 1000),
            before=before,
            limit=limit,
        )
        listed = [_line_data(line) for line in lines]
        after = listed[-1]["task"] if more else None
        text: list[RenderableType] = [table("Tasks (newest first)", listed, LINE_FIELDS)]
        if after is not None:
            text.append(f"More follow: add --before {after} for the next page.")
        return Report({"tasks": listed, "has_more": more, "next_before": after}, text)

    run(work, as_json=as_json, database_url=database_url)


def _line_data(line: tasks_admin.TaskLine) -> dict[str, Any]:
    return {
        "task": line.platform_id,
        "user": line.user,
        "action": f"{line.family}/{line.action}",
        "status": line.status.value,
        "channel": line.channel,
        "upstream_task_id": line.upstream_task_id,
        "external_task_id": line.external_task_id,
        "model": line.model,
        "held": format_yuan(line.hold_micros),
        "charged": None if line.charge_micros is None else format_yuan(line.charge_micros),
        "created_at": line.created_at,
        "updated_at": line.updated_at,
    }


@tasks_app.command("show")
def show_task(
    reference: Annotated[
        str, typer.Argument(metavar="ID", help="The task's platform_id, upstream task_id or external_task_id.")
    ],
    user: Annotated[
        str | None,
        typer.Option(help="Whose task it is, when users' external_task_ids are alike.", show_default=False),
    ] = None,
    as_json: AsJson = False,
    database_url: DatabaseUrl = None,
) -> None:
    """Show a task: its record, channel, ledger entries, client callbacks, and what is kept of its sends upstream."""

    async def work(session: AsyncSession) -> Report:
        user_id = None if user is None else (await users_service.require_user(session, user)).id
        found = await tasks_admin.find_task(session, reference, user_id=user_id)
        record = _record_data(found)
        entries = [
            entry_data(entry) for entry in await ledger.entries_of_task(session, task_platform_id=record["task"])
        ]
        sent = await outbox.of_task(session, platform_id=record["task"], limit=CALLBACKS_SHOWN)
        callbacks = [callback_data(row) for row in sent or []]
        upstream = _upstream_data(found)
        return Report(
            {"task": record, "ledger": entries, "callbacks": callbacks, "upstream": upstream},
            [
                grid(record),
                table("Ledger entries", entries, ENTRY_FIELDS),
                table("Client callbacks", callbacks, CALLBACK_FIELDS) if callbacks else _no_callbacks(record),
                grid(upstream, UPSTREAM_FIELDS),
                NOT_KEPT,
            ],
        )

    run(work, as_json=as_json, database_url=database_url)


def _record_data(found: tasks_admin.TaskRecord) -> dict[str, Any]:
    # Named one by one: the request body stays out (it may hold megabytes of images; its size is said).
    row = found.row
    charged = row["charge_micros"]
    return {
        "task": row["platform_id"],
        "user": found.user,
        "key": None if row["key_id"] is None else f"{row['key_id']} ({found.key_prefix})",
        "action": f"{row['family']}/{row['action']}",
        "generation": row["generation"],
        "synchronous_call": row["sync_call"],
        "status": row["status"],
        "status_msg": row["status_msg"],
        "upstream_task_id": row["upstream_task_id"],
        "external_task_id": row["external_task_id"],
        "channel": _channel_label(found),
        "model": row["model"],
        "seconds": row["seconds"],
        "size": None if row["width"] is None else f"{row['width']}x{row['height']}",
        "callback_url": row["callback_url"],
        "dialect": row["dialect"],
        "held": format_yuan(row["hold_micros"]),
        "charged": None if charged is None else format_yuan(charged),
        "credit_yuan": format_yuan(row["rate_micros"]),
        "final_unit_deduction": row["final_unit_deduction"],
        "billing": orjson.loads(row["billing_json"]),
        "unbilled_reason": row["unbilled_reason"],
        "task_result": orjson.loads(row["result_json"]),
        "task_info": orjson.loads(row["task_info_json"]),
        "request_bytes": len(row["request_json"].encode()),
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
    }


def _no_callbacks(record: dict[str, Any]) -> str:
    if record["callback_url"] is None:
        return "No client callbacks: the task was submitted without a callback_url."
    return "No client callbacks yet: one is queued at each status change."


def _channel_label(found: tasks_admin.TaskRecord) -> str | None:
    if found.channel is None:
        return None
    return found.channel if found.channel_removed_at is None else f"{found.channel} (removed)"


def _upstream_data(found: tasks_admin.TaskRecord) -> dict[str, Any]:
    row = found.row
    return {
        "channel": _channel_label(found),
        "required_channel": found.required_channel,
        "send_attempts": row["send_attempts"],
        # When a worker next looks at it: a poll in flight, a lost create's check or a queued task's next offer.
        "next_look_at": None if TaskStatus(row["status"]).is_final else row["next_sync_at"],
        "absent_answers": row["absent_count"],
    }
