"""`kling-gateway status`: the readiness checks `/readyz` runs, each channel's state and load, and the workers."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import typer
from rich.table import Table
from rich.text import Text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from kling_gateway.admin import AsJson, DatabaseUrl, console, table
from kling_gateway.admin.database import DRIVERS, USE_INSTEAD
from kling_gateway.clock import now_ms
from kling_gateway.health.status import status
from kling_gateway.settings import Settings, get_settings
from kling_gateway.store.probe import Probe

CHANNEL_FIELDS = (
    "name",
    "enabled",
    "state",
    "error_rate",
    "latency_ms",
    "last_success_at",
    "last_error_at",
    "video",
    "image",
    "try_on",
    "waiting",
)
STYLES = {"pass": "green", "fail": "red", "skip": "yellow"}


def status_command(as_json: AsJson = False, database_url: DatabaseUrl = None) -> None:
    """Tell whether the gateway is ready, check by check, with each channel's state and load; exit 1 when not."""
    settings = get_settings()
    if database_url is not None:
        settings = Settings.model_validate(settings.model_dump() | {"database_url": database_url})
    _check_url(settings.resolved_database_url())
    document = asyncio.run(_look(settings))
    if as_json:
        typer.echo(json.dumps(document, ensure_ascii=False))
    else:
        _print(document)
    if not document["ready"]:
        raise typer.Exit(1)


def _check_url(text: str) -> None:
    """Refuse, in one line, a URL that names no database the gateway can use."""
    try:
        drivername = make_url(text).drivername
    except ArgumentError:
        drivername = None
    if drivername not in DRIVERS:
        problem = f"not a database URL the gateway can use: {text!r}; {USE_INSTEAD}"
        raise typer.BadParameter(problem, param_hint="--database-url")


async def _look(settings: Settings) -> dict[str, Any]:
    probe = Probe(settings.resolved_database_url(), timeout_s=settings.health.check_timeout_s)
    try:
        return await status(probe, settings.health, now_ms=now_ms(), channel_health=settings.channel_health)
    finally:
        await probe.dispose()


def _latency(health: dict[str, Any]) -> str | None:
    return None if health["p50_ms"] is None else f"{health['p50_ms']}/{health['p95_ms']}"


def _print(document: dict[str, Any]) -> None:
    console.print(
        Text("ready" if document["ready"] else "NOT READY", style="bold green" if document["ready"] else "bold red")
    )
    checks = Table.grid(padding=(0, 2))
    for check in document["checks"]:
        checks.add_row(
            Text(check["name"], style="bold"), Text(check["outcome"], style=STYLES[check["outcome"]]), check["detail"]
        )
    console.print(checks)
    rows = [
        {
            "name": channel["name"],
            "enabled": channel["enabled"],
            "state": channel["health"]["state"],
            "error_rate": f"{channel['health']['error_ratio']:.0%} of {channel['health']['calls']}",
            "latency_ms": _latency(channel["health"]),
            "last_success_at": channel["health"]["last_success_at"],
            "last_error_at": channel["health"]["last_error_at"],
            **{pack: f"{channel['in_flight'][pack]}/{limit}" for pack, limit in channel["limits"].items()},
            "waiting": channel["waiting"],
        }
        for channel in document["channels"]
    ]
    if rows:
        console.print(table("Channels (slots in use / limit; latency p50/p95)", rows, CHANNEL_FIELDS))
        for channel in document["channels"]:
            if channel["health"]["reason"]:
                console.print(f"{channel['name']} is {channel['health']['state']}: {channel['health']['reason']}")
    for worker in document["workers"]:
        console.print(
            f"worker {worker['worker']}: last round {worker['last_round_s_ago']} s ago, {worker['rounds']} rounds"
        )
