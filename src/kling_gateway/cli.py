"""The `kling-gateway` command line."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from importlib.metadata import version as installed_version
from typing import Annotated, Any, TypeVar

import typer
from pydantic import BaseModel, ValidationError
from pydantic_settings import SettingsError
from rich.console import Console
from sqlalchemy.engine import URL

from kling_gateway import launch, logs, sample_config
from kling_gateway.admin import complain
from kling_gateway.admin.cli import register_admin_commands
from kling_gateway.admin.database import CannotOpen, database_url, described, migrated, open_creating, open_existing
from kling_gateway.admin.status_cli import status_command
from kling_gateway.demo import run_demo
from kling_gateway.logs import LogFormat
from kling_gateway.redaction import install as redact_logs
from kling_gateway.sandbox import Account, SandboxConfig, create_app
from kling_gateway.serving import serve as serve_app
from kling_gateway.settings import Settings, get_settings

R = TypeVar("R")

app = typer.Typer(
    no_args_is_help=True,
    help="Self-hosted gateway for Kling video and image generation. Options left out take their value from "
    "KLING_GATEWAY_* variables (e.g. KLING_GATEWAY_SANDBOX__SPEED) or .env.",
)
console = Console()
register_admin_commands(app)
config = typer.Typer(no_args_is_help=True, help="The settings: every one, with its default and unit.")
app.add_typer(config, name="config")
app.command("status")(status_command)


def _option(help_text: str) -> Any:
    return typer.Option(help=help_text, show_default=False)


def _print_version(wanted: bool) -> None:
    if wanted:
        typer.echo(f"kling-gateway {installed_version('kling-gateway')}")
        raise typer.Exit()


@app.callback()
def check_settings(
    _version: Annotated[
        bool,
        typer.Option("--version", is_eager=True, callback=_print_version, help="Print the version and exit."),
    ] = False,
) -> None:
    """Refuse to run any command on settings that do not validate, naming each bad one and what it allows."""
    try:
        get_settings()
    except ValidationError as error:
        for line in setting_problems(error):
            complain(line)
        raise typer.Exit(2) from None
    except SettingsError as error:  # a value that is not even JSON where JSON is expected
        complain(f"bad setting: {error}; lists and nested objects are given as JSON")
        raise typer.Exit(2) from None


def setting_problems(error: ValidationError) -> list[str]:
    """Say of each bad setting its variable (`KLING_GATEWAY_…`, also its name in .env) and what it allows."""
    problems = error.errors()
    locations = [problem["loc"] for problem in problems]
    # A list's own complaint (too short, once its bad items are left out) only repeats its items' complaints.
    return [
        f"bad setting {_variable(problem['loc'])}: {problem['msg']}"
        for problem in problems
        if not any(
            len(other) > len(problem["loc"]) and other[: len(problem["loc"])] == problem["loc"] for other in locations
        )
    ]


def _variable(location: tuple[int | str, ...]) -> str:
    """Name the variable of a setting's error location: nested settings (`sandbox.speed`) are joined with `__`,
    and what lies inside a JSON value (a list's item, an object's key) is said after it."""
    model: type[BaseModel] | None = Settings
    names: list[str] = []
    parts = list(location)
    while parts and model is not None and (name := str(parts[0])) in model.model_fields:
        parts.pop(0)
        names.append(name)
        annotation = model.model_fields[name].annotation
        model = annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None
    variable = "KLING_GATEWAY_" + "__".join(names).upper()
    return variable + (f" (at {'.'.join(map(str, parts))})" if parts else "")


@app.command()
def sandbox(
    host: Annotated[str | None, _option("Interface to listen on (default: 127.0.0.1).")] = None,
    port: Annotated[int | None, _option("Port to listen on (default: 8001).")] = None,
    speed: Annotated[float | None, _option("Divide every task duration by this (default: 1).")] = None,
    access_key: Annotated[list[str] | None, _option("An account's access key (repeat for more accounts).")] = None,
    secret_key: Annotated[list[str] | None, _option("Its secret key, in the same order.")] = None,
    api_key: Annotated[list[str] | None, _option("A static API key of the account in the same place.")] = None,
    failure_rate: Annotated[float | None, _option("Share (0-1) of tasks that end failed.")] = None,
    error_rate: Annotated[float | None, _option("Share (0-1) of requests answered 500/503/504 at once.")] = None,
    lost_response_rate: Annotated[float | None, _option("Share (0-1) of creates stored but answered 5xx.")] = None,
    video_concurrency: Annotated[int | None, _option("Running video tasks per account (default: 5).")] = None,
    image_concurrency: Annotated[int | None, _option("Running image slots per account (default: 10).")] = None,
    try_on_concurrency: Annotated[int | None, _option("Running try-on tasks per account (default: 5).")] = None,
    resource_pack_units: Annotated[int | None, _option("Units in each pack of each account (default: 10000).")] = None,
    webhook_secret: Annotated[str | None, _option("whsec_… secret that signs callbacks.")] = None,
    public_url: Annotated[str | None, _option("Base of result URLs (default: the request's host).")] = None,
    seed: Annotated[int | None, _option("Fix the random draws, for reproducible runs.")] = None,
    video_padding_mb: Annotated[
        int | None, _option("MiB of padding (an MP4 free box) after each result video, for download load runs.")
    ] = None,
    retired_model: Annotated[
        list[str] | None,
        _option("A model answered 'has been discontinued' (repeat for more; default: kling-v1; '' for none)."),
    ] = None,
) -> None:
    """Run the Kling API sandbox: the official endpoints, auth, lifecycle, limits and faults, without credits."""
    given: dict[str, Any] = {
        name: value
        for name, value in {
            "host": host,
            "port": port,
            "speed": speed,
            "failure_rate": failure_rate,
            "error_rate": error_rate,
            "lost_response_rate": lost_response_rate,
            "video_concurrency": video_concurrency,
            "image_concurrency": image_concurrency,
            "try_on_concurrency": try_on_concurrency,
            "resource_pack_units": resource_pack_units,
            "webhook_secret": webhook_secret,
            "public_url": public_url,
            "seed": seed,
            "video_padding_mb": video_padding_mb,
            "retired_models": None if retired_model is None else tuple(name for name in retired_model if name),
            "accounts": _accounts(access_key or [], secret_key or [], api_key or []) or None,
        }.items()
        if value is not None
    }
    defaults = get_settings().sandbox
    config = _overlay(SandboxConfig, defaults, given)
    if "accounts" not in given and "accounts" not in defaults.model_fields_set:
        demo = config.accounts[0]
        console.print("[bold]No keys given: a demo account was created.[/bold]")
        keys = f"  access key  {demo.access_key}\n  secret key  {demo.secret_key}\n  API key     {demo.api_key}"
        console.print(keys, soft_wrap=True, highlight=False)  # never wrapped: they are copied and parsed
    console.print(f"Kling sandbox on http://{config.host}:{config.port} (speed ×{config.speed:g})")
    log_level = get_settings().log_level  # "info" shows one access-log line per request
    redact_logs()  # its log of callbacks it posts would show the gateway's callback tokens
    serve_app(create_app(config), host=config.host, port=config.port, log_level=log_level)


@app.command()
def serve(
    host: Annotated[str | None, _option("Interface to listen on (default: 127.0.0.1).")] = None,
    port: Annotated[int | None, _option("Port to listen on (default: 8000).")] = None,
    database_url: Annotated[str | None, _option("SQLAlchemy URL (default: a SQLite file in the data dir).")] = None,
    public_url: Annotated[str | None, _option("Where the upstream can reach this gateway; turns on callbacks.")] = None,
    no_worker: Annotated[
        bool, typer.Option("--no-worker", help="Leave syncing tasks to `kling-gateway worker`.")
    ] = False,
    workers: Annotated[
        int | None,
        typer.Option(min=1, show_default=False, help="API processes (default: one per core); the worker runs once."),
    ] = None,
    graceful_timeout: Annotated[
        int | None,
        typer.Option(
            min=0, show_default=False, help="Seconds requests under way may take to finish after SIGTERM (default: 30)."
        ),
    ] = None,
    log_format: Annotated[LogFormat | None, _option("text (default) or json: one JSON object a line.")] = None,
) -> None:
    """Run the gateway's API on every core, with the sync worker once beside it unless --no-worker."""
    given = {
        "host": host,
        "port": port,
        "database_url": database_url,
        "public_url": public_url,
        "workers": workers,
        "graceful_timeout_s": graceful_timeout,
        "log_format": log_format,
    }
    given = {name: value for name, value in given.items() if value is not None}
    settings = _overlay(Settings, get_settings(), given)
    url = _on_database(database_url, settings, _ready)
    processes = settings.workers or launch.cores()
    where = f"http://{settings.host}:{settings.port} (database {url}"
    console.print(f"kling-gateway on {where}, {processes} API process{'es' if processes > 1 else ''})")
    launch.serve(settings, run_worker=not no_worker, given=given)


@app.command()
def worker(
    database_url: Annotated[str | None, _option("SQLAlchemy URL (default: a SQLite file in the data dir).")] = None,
    log_format: Annotated[LogFormat | None, _option("text (default) or json: one JSON object a line.")] = None,
) -> None:
    """Run the sync worker alone: poll in-flight tasks upstream until they finish. Stop with Ctrl-C."""
    given = {"database_url": database_url, "log_format": log_format}
    settings = _overlay(Settings, get_settings(), {name: value for name, value in given.items() if value})
    url = _on_database(database_url, settings, _existing)
    console.print(f"kling-gateway sync worker (database {url})")
    logs.configure(settings.log_level, settings.log_format)
    launch.run_worker(settings)


@app.command()
def migrate(
    database_url: Annotated[str | None, _option("SQLAlchemy URL (default: a SQLite file in the data dir).")] = None,
) -> None:
    """Bring the database to this version's schema."""
    settings = _overlay(Settings, get_settings(), {"database_url": database_url} if database_url else {})
    console.print(_on_database(database_url, settings, _migrate))


@config.command("example")
def config_example() -> None:
    """Print every setting with its default, unit and meaning, as a .env file (`> .env.example`)."""
    typer.echo(sample_config.example(), nl=False)


@app.command()
def demo(
    exit_when_done: Annotated[
        bool, typer.Option("--exit-when-done", help="Stop once the task has its result, for scripts.")
    ] = False,
    speed: Annotated[float, typer.Option(min=0.001, help="Sandbox speed-up for the demo task.")] = 40.0,
) -> None:
    """Start the sandbox, walk one text2video task from submit to result, then keep serving for curl."""
    raise typer.Exit(run_demo(console, speed=speed, keep_serving=not exit_when_done))


def _accounts(access_keys: list[str], secret_keys: list[str], api_keys: list[str]) -> list[Account]:
    if len(access_keys) != len(secret_keys):
        raise typer.BadParameter("give each --access-key with its --secret-key, in the same order")
    if len(api_keys) > len(access_keys):
        raise typer.BadParameter("each --api-key belongs to the --access-key in the same place")
    padded: list[str | None] = [*api_keys, *([None] * (len(access_keys) - len(api_keys)))]
    return [
        Account(access_key=ak, secret_key=sk, api_key=key)
        for ak, sk, key in zip(access_keys, secret_keys, padded, strict=True)
    ]


ConfigModel = TypeVar("ConfigModel", bound=BaseModel)


def _overlay(model: type[ConfigModel], defaults: ConfigModel, given: dict[str, Any]) -> ConfigModel:
    """Put the options given on the command line over the configured values, validating the result."""
    try:
        return model.model_validate(defaults.model_dump() | given)
    except ValidationError as error:
        problems = "; ".join(f"--{'-'.join(map(str, e['loc'])).replace('_', '-')}: {e['msg']}" for e in error.errors())
        raise typer.BadParameter(problems) from None


def _on_database(given: str | None, settings: Settings, use: Callable[[URL], Coroutine[Any, Any, R]]) -> R:
    """Do `use` with the command's database; a database that cannot be used is one line and exit 1."""
    try:
        return asyncio.run(use(database_url(given, settings)))
    except CannotOpen as error:
        complain(str(error))
        raise typer.Exit(1) from None


async def _migrate(url: URL) -> str:
    """Bring the database to this version's schema, making it when there is none; say where it now stands."""
    return f"database at migration {await migrated(url)} (database {described(url)})"


async def _ready(url: URL) -> str:
    """Check that `serve` can use the database, creating its schema when it is empty; name it."""
    await (await open_creating(url)).dispose()
    return described(url)


async def _existing(url: URL) -> str:
    """Check that a worker can use the database, which must exist and be migrated; name it."""
    await (await open_existing(url)).dispose()
    return described(url)
