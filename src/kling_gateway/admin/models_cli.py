"""The admin commands on the model catalog: see every model and its state, disable or enable one, and add a new
Kling model as like a known one until a release knows it."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from sqlalchemy.ext.asyncio import AsyncSession

from kling_gateway.admin import AsJson, DatabaseUrl, Report, grid, run, table
from kling_gateway.catalog import service as catalog
from kling_gateway.catalog.service import CatalogEntry
from kling_gateway.clock import now_ms
from kling_gateway.settings import get_settings

LIST_FIELDS = ("name", "state", "endpoints", "like", "note")

models_app = typer.Typer(
    no_args_is_help=True,
    help="See the models the gateway knows, disable or enable one, add a new one like a known one.",
)
ModelName = Annotated[str, typer.Argument(help="The model's name, as Kling spells it (e.g. kling-v2-6).")]
Note = Annotated[str | None, typer.Option(help="Why, for the other operators.", show_default=False)]


@models_app.command("list")
def list_models(as_json: AsJson = False, database_url: DatabaseUrl = None) -> None:
    """List every model: the endpoints it serves and whether it is available, disabled or retired."""

    async def work(session: AsyncSession) -> Report:
        listed = [_entry_data(entry) for entry in await catalog.list_models(session, get_settings())]
        shown = [entry | {"endpoints": "\n".join(entry["endpoints"]), "state": _state(entry)} for entry in listed]
        return Report({"models": listed}, [table("Models", shown, LIST_FIELDS)])

    run(work, as_json=as_json, database_url=database_url)


@models_app.command("disable")
def disable_model(
    name: ModelName, note: Note = None, as_json: AsJson = False, database_url: DatabaseUrl = None
) -> None:
    """Refuse submits naming a model at the gateway, before anything is held or sent (within a few seconds)."""
    _set_enabled(name, enabled=False, note=note, as_json=as_json, database_url=database_url)


@models_app.command("enable")
def enable_model(name: ModelName, note: Note = None, as_json: AsJson = False, database_url: DatabaseUrl = None) -> None:
    """Take submits naming a disabled model again."""
    _set_enabled(name, enabled=True, note=note, as_json=as_json, database_url=database_url)


@models_app.command("add")
def add_model(
    name: ModelName,
    like: Annotated[str, typer.Option(help="The known model whose rules and prices it takes.", show_default=False)],
    note: Note = None,
    as_json: AsJson = False,
    database_url: DatabaseUrl = None,
) -> None:
    """Serve a new Kling model: validated and priced as --like, sent upstream under its own name."""

    async def work(session: AsyncSession) -> Report:
        entry = await catalog.add_model(session, get_settings(), name, like=like, note=note or "", now_ms=now_ms())
        data = _entry_data(entry)
        return Report({"model": data}, [f"Added {name}, served like {like}.", grid(_shown(data))])

    run(work, as_json=as_json, database_url=database_url)


def _set_enabled(name: str, *, enabled: bool, note: str | None, as_json: bool, database_url: str | None) -> None:
    async def work(session: AsyncSession) -> Report:
        entry = await catalog.set_enabled(session, get_settings(), name, enabled=enabled, note=note, now_ms=now_ms())
        data = _entry_data(entry)
        return Report({"model": data}, [f"{name} is {entry.state}.", grid(_shown(data))])

    run(work, as_json=as_json, database_url=database_url)


def _entry_data(entry: CatalogEntry) -> dict[str, Any]:
    return {
        "name": entry.name,
        "state": entry.state.value,
        "endpoints": list(entry.endpoints),
        "retired_on": list(entry.retired_on),
        "like": entry.like,
        "added": entry.added,
        "note": entry.note,
    }


def _state(data: dict[str, Any]) -> str:
    """The state as people read it: a model retired on some of its endpoints only says where."""
    partly = data["retired_on"] and data["state"] != "retired"
    return f"{data['state']} (retired on {', '.join(data['retired_on'])})" if partly else str(data["state"])


def _shown(data: dict[str, Any]) -> dict[str, Any]:
    return data | {"endpoints": ", ".join(data["endpoints"]), "retired_on": ", ".join(data["retired_on"]) or None}
