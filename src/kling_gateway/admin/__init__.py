"""The admin command line: what every admin command shares, from opening the database to printing the report.

Each command is one unit of work: say on stderr which database it uses, open it (never creating one: that is
`migrate`'s), run, commit, then print one JSON document (`--json`) or tables for people. A domain error, or a
database that cannot be used, prints one line in red and exits with 1, writing nothing.
The commands themselves are in `kling_gateway.admin.*_cli`, gathered by `kling_gateway.admin.cli`.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.console import Console, RenderableType
from rich.table import Table
from rich.text import Text
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncSession

from kling_gateway.admin.database import CannotOpen, database_url, described, open_existing
from kling_gateway.billing.money import yuan_to_micros
from kling_gateway.errors import GatewayError
from kling_gateway.settings import get_settings

HEADERS = {  # column titles people read, where the JSON field name is long
    "created_at": "created",
    "task_platform_id": "task",
    "video_concurrency": "video",
    "image_concurrency": "image",
    "try_on_concurrency": "try-on",
}

# Names, notes and keys are data, never Rich markup.
console = Console(markup=False, highlight=False)
complaints = Console(stderr=True, markup=False, highlight=False)


def parse_yuan(text: str) -> int:
    """Read an amount of yuan given on the command line as micro-yuan."""
    try:
        return yuan_to_micros(str(text))
    except ValueError as error:
        raise typer.BadParameter(str(error)) from None


def parse_since(text: str) -> datetime:
    """Read `--since`: an ISO date (midnight UTC) or date and time (UTC unless it carries an offset)."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(
            f"{text!r} is not an ISO date or date and time; write it like 2026-09-01 or 2026-09-01T08:00:00Z"
        ) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def yuan_option(help_text: str) -> Any:
    """Declare an option that takes an amount of yuan, read as micro-yuan."""
    return typer.Option(parser=parse_yuan, metavar="YUAN", help=help_text, show_default=False)


NewName = Annotated[str, typer.Argument(help="A unique name: 1 to 64 printable characters.")]
PasswordStdin = Annotated[
    bool, typer.Option("--password-stdin", help="Read the password from the first line of stdin (required).")
]
AsJson = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout, for scripts.")]
DatabaseUrl = Annotated[
    str | None,
    typer.Option(
        help="Database to work on (default: KLING_GATEWAY_DATABASE_URL, else the SQLite file in the data dir).",
        show_default=False,
    ),
]


@dataclass(frozen=True)
class Report:
    """What a command did: one JSON document for scripts, and renderables for people."""

    data: dict[str, Any]
    text: Sequence[RenderableType]


Work = Callable[[AsyncSession], Awaitable[Report]]


def run(work: Work, *, as_json: bool, database_url: str | None) -> None:
    """Run `work` as one unit of work on the database and print its report; exit 1 on a refusal."""
    try:
        url = _announced(database_url)
        report = asyncio.run(_in_one_transaction(work, url))
    except (GatewayError, CannotOpen) as error:
        complain(str(error))
        raise typer.Exit(1) from None
    if as_json:
        typer.echo(json.dumps(report.data, ensure_ascii=False))
    else:
        for item in report.text:
            console.print(item, soft_wrap=isinstance(item, str))  # lines are copied (keys, URLs): never wrap them


def password_from_stdin(from_stdin: bool) -> str:
    """Read a password from stdin's first line; refuse to go on without --password-stdin."""
    if not from_stdin:
        complain("give --password-stdin and the password on stdin: a password on the command line is seen by others")
        raise typer.Exit(1)
    return sys.stdin.readline().rstrip("\r\n")


def complain(line: str) -> None:
    """Say on stderr, in red, why a command did nothing."""
    complaints.print(line, style="red", soft_wrap=True)


def _announced(given: str | None) -> URL:
    url = database_url(given, get_settings())
    complaints.print(f"database: {described(url)}", soft_wrap=True)
    return url


async def _in_one_transaction(work: Work, url: URL) -> Report:
    db = await open_existing(url)
    try:
        async with db.session() as session, session.begin():
            return await work(session)
    finally:
        await db.dispose()


def grid(record: Mapping[str, Any], fields: Sequence[str] | None = None) -> Table:
    """Lay out the fields of one record (all but its id by default) as label-value lines."""
    lines = Table.grid(padding=(0, 2))
    for field in fields or [field for field in record if field != "id"]:
        lines.add_row(Text(HEADERS.get(field, field.replace("_", " ")), style="bold"), shown(field, record[field]))
    return lines


def table(title: str, records: Sequence[Mapping[str, Any]], fields: Sequence[str]) -> Table:
    """Lay out some fields of several records as a table, one row each."""
    rendered = Table(*(HEADERS.get(field, field.replace("_", " ")) for field in fields), title=title)
    for record in records:
        rendered.add_row(*(shown(field, record[field]) for field in fields))
    return rendered


def shown(field: str, value: Any) -> str:
    """Write a JSON value for people: times (`*_at`, ms) as ISO-8601 UTC, nothing as a dash."""
    if value is None:
        return "-"
    if field.endswith("_at"):
        return iso_time(value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def iso_time(ms: int) -> str:
    """Write Unix milliseconds as ISO-8601 UTC to the second."""
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
