"""The `kling-gateway` command line."""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

import typer
import uvicorn
from rich.console import Console

from kling_gateway.demo import run_demo
from kling_gateway.sandbox import Account, SandboxConfig, create_app
from kling_gateway.settings import get_settings

app = typer.Typer(
    no_args_is_help=True,
    help="Self-hosted gateway for Kling video and image generation. Options left out take their value from "
    "KLING_GATEWAY_* variables (e.g. KLING_GATEWAY_SANDBOX__SPEED) or .env.",
)
console = Console()
Number = TypeVar("Number", int, float)


def _rate(what: str) -> Any:
    return typer.Option(min=0.0, max=1.0, help=f"Share (0-1) of {what}.")


@app.command()
def sandbox(
    host: Annotated[str | None, typer.Option(help="Interface to listen on (loopback by default).")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
    speed: Annotated[float | None, typer.Option(min=0.001, help="Divide every task duration by this.")] = None,
    access_key: Annotated[list[str] | None, typer.Option(help="An account's access key (repeat).")] = None,
    secret_key: Annotated[list[str] | None, typer.Option(help="Its secret key, in the same order.")] = None,
    api_key: Annotated[
        list[str] | None, typer.Option(help="A static API key for the account in the same place (repeat).")
    ] = None,
    failure_rate: Annotated[float | None, _rate("tasks that end failed")] = None,
    error_rate: Annotated[float | None, _rate("requests answered 500/503/504 before anything is done")] = None,
    lost_response_rate: Annotated[float | None, _rate("creates stored but answered with a 5xx")] = None,
    video_concurrency: Annotated[int | None, typer.Option(min=1, help="Running video tasks per account.")] = None,
    image_concurrency: Annotated[int | None, typer.Option(min=1, help="Running image slots per account.")] = None,
    try_on_concurrency: Annotated[int | None, typer.Option(min=1, help="Running try-on tasks per account.")] = None,
    resource_pack_units: Annotated[
        int | None, typer.Option(min=0, help="Units in each resource pack of each account (then 429/1102).")
    ] = None,
    webhook_secret: Annotated[str | None, typer.Option(help="whsec_… secret that signs callbacks.")] = None,
    public_url: Annotated[str | None, typer.Option(help="Base of result URLs (default: the request host).")] = None,
    seed: Annotated[int | None, typer.Option(help="Fix the random draws, for reproducible runs.")] = None,
) -> None:
    """Run the Kling API sandbox: the official endpoints, auth, lifecycle, limits and faults, without credits."""
    defaults = get_settings().sandbox
    accounts = _accounts(access_key or [], secret_key or [], api_key or [])
    try:
        config = SandboxConfig(
            accounts=accounts or (Account.generate(),),
            speed=speed or defaults.speed,
            failure_rate=_pick(failure_rate, defaults.failure_rate),
            error_rate=_pick(error_rate, defaults.error_rate),
            lost_response_rate=_pick(lost_response_rate, defaults.lost_response_rate),
            video_concurrency=video_concurrency or defaults.video_concurrency,
            image_concurrency=image_concurrency or defaults.image_concurrency,
            try_on_concurrency=try_on_concurrency or defaults.try_on_concurrency,
            resource_pack_units=_pick(resource_pack_units, defaults.resource_pack_units),
            webhook_secret=webhook_secret
            or (defaults.webhook_secret.get_secret_value() if defaults.webhook_secret else None),
            public_url=public_url or defaults.public_url,
            seed=seed,
        )
    except ValueError as error:
        raise typer.BadParameter(str(error)) from error
    bind_host, bind_port = host or defaults.host, port if port is not None else defaults.port
    if not accounts:
        demo = config.accounts[0]
        console.print("[bold]No keys given: a demo account was created.[/bold]")
        keys = f"  access key  {demo.access_key}\n  secret key  {demo.secret_key}\n  API key     {demo.api_key}"
        console.print(keys, soft_wrap=True, highlight=False)  # never wrapped: they are copied and parsed
    console.print(f"Kling sandbox on http://{bind_host}:{bind_port} (speed ×{config.speed:g})")
    log_level = get_settings().log_level  # "info" shows one access-log line per request
    uvicorn.run(create_app(config), host=bind_host, port=bind_port, log_level=log_level)


@app.command()
def demo(
    exit_when_done: Annotated[
        bool, typer.Option("--exit-when-done", help="Stop once the task has its result, for scripts.")
    ] = False,
    speed: Annotated[float, typer.Option(min=0.001, help="Sandbox speed-up for the demo task.")] = 40.0,
) -> None:
    """Start the sandbox, walk one text2video task from submit to result, then keep serving for curl."""
    raise typer.Exit(run_demo(console, speed=speed, keep_serving=not exit_when_done))


def _accounts(access_keys: list[str], secret_keys: list[str], api_keys: list[str]) -> tuple[Account, ...]:
    if len(access_keys) != len(secret_keys):
        raise typer.BadParameter("give each --access-key with its --secret-key, in the same order")
    if len(api_keys) > len(access_keys):
        raise typer.BadParameter("each --api-key belongs to the --access-key in the same place")
    padded: list[str | None] = [*api_keys, *([None] * (len(access_keys) - len(api_keys)))]
    return tuple(Account(ak, sk, key) for ak, sk, key in zip(access_keys, secret_keys, padded, strict=True))


def _pick(value: Number | None, default: Number) -> Number:
    return default if value is None else value
