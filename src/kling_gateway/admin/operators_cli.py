"""The admin commands on operators, the people who sign in to the console: create, list, disable and enable them,
and set their passwords (read from stdin, never from the command line, where `ps` and shell history would keep
them). Each change is written to the audit log as the command line's."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from sqlalchemy.ext.asyncio import AsyncSession

from kling_gateway.admin import (
    AsJson,
    DatabaseUrl,
    NewName,
    PasswordStdin,
    Report,
    grid,
    password_from_stdin,
    run,
    table,
)
from kling_gateway.clock import now_ms
from kling_gateway.operators import audit
from kling_gateway.operators import service as operators

operators_app = typer.Typer(no_args_is_help=True, help="Create, list, disable and enable console operators.")

OperatorName = Annotated[str, typer.Argument(help="The operator's name.")]


@operators_app.command("create")
def create_operator(
    name: NewName, password_stdin: PasswordStdin = False, as_json: AsJson = False, database_url: DatabaseUrl = None
) -> None:
    """Add an operator who signs in to the console with the password given on stdin (10 characters or more)."""
    password = password_from_stdin(password_stdin)

    async def work(session: AsyncSession) -> Report:
        now = now_ms()
        operator = await operators.create_operator(session, name=name, password=password, now_ms=now)
        await audit.record(session, actor=audit.COMMAND_LINE, action="operator.create", target=name, at=now)
        data = _operator_data(operator)
        return Report({"operator": data}, [f"Created operator {name}; they can sign in at /console/.", grid(data)])

    run(work, as_json=as_json, database_url=database_url)


@operators_app.command("list")
def list_operators(as_json: AsJson = False, database_url: DatabaseUrl = None) -> None:
    """List every operator."""

    async def work(session: AsyncSession) -> Report:
        listed = [_operator_data(operator) for operator in await operators.list_operators(session)]
        return Report({"operators": listed}, [table("Operators", listed, ("name", "status", "created_at"))])

    run(work, as_json=as_json, database_url=database_url)


def _set_disabled(name: str, *, disabled: bool, as_json: bool, database_url: str | None) -> None:
    async def work(session: AsyncSession) -> Report:
        now = now_ms()
        operator, changed = await operators.set_disabled(session, name=name, disabled=disabled, now_ms=now)
        word = "disabled" if disabled else "enabled"
        if changed:
            action = "operator.disable" if disabled else "operator.enable"
            await audit.record(session, actor=audit.COMMAND_LINE, action=action, target=name, at=now)
        ended = " Their sessions have ended." if disabled and changed else ""
        line = f"Operator {name} is {word}.{ended}" if changed else f"Operator {name} was already {word}."
        return Report({"operator": _operator_data(operator), "changed": changed}, [line])

    run(work, as_json=as_json, database_url=database_url)


@operators_app.command("disable")
def disable_operator(name: OperatorName, as_json: AsJson = False, database_url: DatabaseUrl = None) -> None:
    """Stop an operator signing in; their sessions end at once."""
    _set_disabled(name, disabled=True, as_json=as_json, database_url=database_url)


@operators_app.command("enable")
def enable_operator(name: OperatorName, as_json: AsJson = False, database_url: DatabaseUrl = None) -> None:
    """Let a disabled operator sign in again."""
    _set_disabled(name, disabled=False, as_json=as_json, database_url=database_url)


@operators_app.command("set-password")
def set_password(
    name: OperatorName, password_stdin: PasswordStdin = False, as_json: AsJson = False, database_url: DatabaseUrl = None
) -> None:
    """Give an operator a new password (from stdin); every session they have ends."""
    password = password_from_stdin(password_stdin)

    async def work(session: AsyncSession) -> Report:
        now = now_ms()
        operator = await operators.set_password(session, name=name, password=password, now_ms=now)
        await audit.record(session, actor=audit.COMMAND_LINE, action="operator.set-password", target=name, at=now)
        return Report({"operator": _operator_data(operator)}, [f"Set a new password for {name}; their sessions ended."])

    run(work, as_json=as_json, database_url=database_url)


def _operator_data(operator: operators.OperatorLine) -> dict[str, Any]:
    return {
        "id": operator.id,
        "name": operator.name,
        "status": "disabled" if operator.disabled else "active",
        "created_at": operator.created_at,
    }
