"""The admin commands: users, credits, keys, channels, tasks, callbacks, models and reconciliation, on the
database directly, server running or not."""

from __future__ import annotations

import typer

from kling_gateway.admin.callbacks_cli import callbacks_app
from kling_gateway.admin.channels_cli import channels_app
from kling_gateway.admin.keys_cli import keys_app
from kling_gateway.admin.models_cli import models_app
from kling_gateway.admin.operators_cli import operators_app
from kling_gateway.admin.reconcile_cli import reconcile_command
from kling_gateway.admin.tasks_cli import tasks_app
from kling_gateway.admin.users_cli import credits_app, users_app


def register_admin_commands(app: typer.Typer) -> None:
    """Add the users, credits, keys, channels, tasks, callbacks, models, operators and reconcile commands to the
    main command line."""
    app.add_typer(users_app, name="users")
    app.add_typer(credits_app, name="credits")
    app.add_typer(keys_app, name="keys")
    app.add_typer(channels_app, name="channels")
    app.add_typer(tasks_app, name="tasks")
    app.add_typer(callbacks_app, name="callbacks")
    app.add_typer(models_app, name="models")
    app.add_typer(operators_app, name="operators")
    app.command("reconcile")(reconcile_command)
