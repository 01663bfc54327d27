"""`kling-gateway demo`: the sandbox and the gateway on a fresh SQLite file, and two tasks from submit to result.

One task of each Kling API generation runs side by side: a legacy `/v1` text2video, queried on its own path, and a
Kling 3.0 Turbo text-to-video of the model-in-path generation, followed on `/tasks`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from ulid import ULID

from kling_gateway.api import create_app as create_gateway
from kling_gateway.billing.money import format_yuan, yuan_to_micros
from kling_gateway.channels.admin import add_channel
from kling_gateway.clock import SystemClock
from kling_gateway.keys.service import create_key
from kling_gateway.kling.schemas import ACTIONS, NEW_ACTIONS, ActionSpec, Family, parse_body
from kling_gateway.kling.timing import typical_timing
from kling_gateway.operators.service import create_operator
from kling_gateway.sandbox import Account, SandboxConfig
from kling_gateway.sandbox import create_app as create_sandbox
from kling_gateway.serving import BackgroundServer
from kling_gateway.settings import Settings, SyncConfig, get_settings
from kling_gateway.store.database import Database, sqlite_url
from kling_gateway.store.migrate import ensure_schema
from kling_gateway.users.service import create_user, find_user, set_password

_POLL_INTERVAL_S = 0.5
_TIMEOUT_S = 120.0
_USER, _OPENING_BALANCE = "demo", "100"
_OPERATOR = "admin"
_DEMO_SYNC = SyncConfig(poll_interval_s=0.5, idle_sleep_s=0.2)
_DEMO_BODY = {
    "model_name": "kling-v2-6",
    "prompt": "A red fox trots through fresh snow at dawn, cinematic, soft light",
    "mode": "std",
    "duration": "5",
    "aspect_ratio": "16:9",
    "external_task_id": "demo-fox-1",
}
_DEMO_SPEC = ACTIONS[(Family.VIDEOS, "text2video")]
_PATH = "/kling/v1/videos/text2video"
_TURBO_BODY = {
    "prompt": "A paper boat drifts down a rain-soaked street, the sound of rain and distant thunder",
    "settings": {"resolution": "720p", "aspect_ratio": "16:9", "duration": 5},
    "options": {"external_task_id": "demo-boat-1"},
}
_TURBO_SPEC = NEW_ACTIONS["text-to-video/kling-3.0-turbo"]
_TURBO_PATH = "/kling/text-to-video/kling-3.0-turbo"
# The actions seed 000 shows query commands for, in its order.
_SEED_ACTIONS = (
    "videos/text2video",
    "videos/image2video",
    "videos/omni-video",
    "videos/multi-image2video",
    "images/generations",
    "images/omni-image",
    "images/multi-image2image",
    "videos/multi-elements",
)


def run_demo(console: Console, *, speed: float, keep_serving: bool) -> int:
    """Run the demo; return the process exit code."""
    account = Account.generate()
    data_dir = get_settings().data_dir / "demo" / str(ULID())
    settings = Settings(data_dir=data_dir, database_url=sqlite_url(data_dir), sync=_DEMO_SYNC)
    sandbox = BackgroundServer(create_sandbox(SandboxConfig(accounts=(account,), speed=speed))).start()
    try:
        access = asyncio.run(_set_up(settings, sandbox.url, account))
        key = access.key
        with BackgroundServer(create_gateway(settings), limits=settings.http.connection_limits()) as gateway:
            console.rule("[bold]kling-gateway demo")
            console.print(f"Kling sandbox  {sandbox.url}  (speed ×{speed:g}, a stand-in for the official API)")
            console.print(f"Gateway        {gateway.url}  (database {settings.resolved_database_url()})")
            console.print(f"User {_USER!r} with ¥{_OPENING_BALANCE}, key {key}, channel 'sandbox' → {sandbox.url}")
            with httpx.Client(base_url=gateway.url, headers={"Authorization": f"Bearer {key}"}) as client:
                runs = [_submit_legacy(console, client), _submit_turbo(console, client)]
                video_urls = _follow(console, client, runs, speed=speed)
                if video_urls is None:
                    return 1
                for run, url in zip(runs, video_urls, strict=True):
                    _download(console, client, url, data_dir / f"{run.platform_id}.mp4")
            _show_balance(console, settings)
            _print_next_steps(console, gateway.url, key, runs[0].platform_id, runs[1].platform_id)
            console.print(
                f"\n[bold]In a browser[/bold]: the operator console {gateway.url}/console/ (sign in as {_OPERATOR!r}, "
                f"password {access.operator_password}) and the customer portal {gateway.url}/portal/ (as {_USER!r}, "
                f"password {access.user_password})."
            )
            if keep_serving:
                console.print("\nThe gateway and the sandbox keep running; press Ctrl-C to stop.")
                threading.Event().wait()
        return 0
    except KeyboardInterrupt:
        return 0
    finally:
        sandbox.stop()


@dataclass(frozen=True)
class _Access:
    """What the demo hands out: the user's API key, and the passwords of the console and the portal."""

    key: str
    operator_password: str
    user_password: str


async def _set_up(settings: Settings, sandbox_url: str, account: Account) -> _Access:
    """Create the demo's user (with a balance, a key and a portal password), an operator for the console and the
    channel to the sandbox."""
    db = Database(settings.resolved_database_url())
    access = _Access("", secrets.token_urlsafe(12), secrets.token_urlsafe(12))
    now = SystemClock().now_ms()
    try:
        await ensure_schema(db)
        async with db.session() as session, session.begin():
            user = await create_user(session, name=_USER, balance_micros=yuan_to_micros(_OPENING_BALANCE))
            _, key = await create_key(session, user_id=user.id, name="demo")
            await set_password(session, name=_USER, password=access.user_password, now_ms=now)
            await create_operator(session, name=_OPERATOR, password=access.operator_password, now_ms=now)
            await add_channel(
                session,
                name="sandbox",
                base_url=sandbox_url,
                access_key=account.access_key,
                secret_key=account.secret_key,
                api_key=account.api_key,  # the model-in-path generation takes only an API key
            )
        return dataclasses.replace(access, key=key)
    finally:
        await db.dispose()


@dataclass(frozen=True)
class _Run:
    """A demo task being followed: how to ask for it and how to read its status and video from the answer."""

    label: str
    platform_id: str
    query: str
    expected_s: float
    read: Callable[[Any], tuple[str, str | None, str]]  # answer → status, video URL, what to say of it


def _submit_legacy(console: Console, client: httpx.Client) -> _Run:
    console.print(f"[bold]POST[/bold] {_PATH}", _DEMO_BODY)
    answer = client.post(_PATH, json=_DEMO_BODY).raise_for_status().json()["data"]
    console.print(
        f"→ platform_id [cyan]{answer['platform_id']}[/cyan], upstream task_id {answer['task_id']}, "
        f"status {answer['task_status']}"
    )
    platform_id = str(answer["platform_id"])
    return _Run("text2video", platform_id, f"{_PATH}/{platform_id}", _typical_s(_DEMO_SPEC, _DEMO_BODY), _read_legacy)


def _submit_turbo(console: Console, client: httpx.Client) -> _Run:
    console.print(f"[bold]POST[/bold] {_TURBO_PATH}", _TURBO_BODY)
    answer = client.post(_TURBO_PATH, json=_TURBO_BODY).raise_for_status().json()["data"]
    console.print(
        f"→ platform_id [cyan]{answer['platform_id']}[/cyan], upstream id {answer['id']}, status {answer['status']}"
    )
    platform_id = str(answer["platform_id"])
    query = f"/kling/tasks?task_ids={platform_id}"
    return _Run("3.0 turbo", platform_id, query, _typical_s(_TURBO_SPEC, _TURBO_BODY), _read_new)


def _typical_s(spec: ActionSpec, body: dict[str, Any]) -> float:
    return typical_timing(spec, parse_body(spec.schema, body)).total_s


def _read_legacy(answer: Any) -> tuple[str, str | None, str]:
    data = answer["data"]
    status = str(data["task_status"])
    if status == "succeed":
        video = data["task_result"]["videos"][0]
        return "done", str(video["url"]), f"{video['duration']} s, final_unit_deduction {data['final_unit_deduction']}"
    return ("failed", None, str(data["task_status_msg"])) if status == "failed" else (status, None, "")


def _read_new(answer: Any) -> tuple[str, str | None, str]:
    [record] = answer["data"]
    status = str(record["status"])
    if status == "succeeded":
        [video] = [output for output in record["outputs"] if output["type"] == "video"]
        billed = ", ".join(
            f"{entry['amount']} {entry.get('package_type', entry.get('currency'))}" for entry in record["billing"]
        )
        return "done", str(video["url"]), f"{video['duration']} s, billing {billed}"
    return ("failed", None, str(record["message"])) if status == "failed" else (status, None, "")


def _follow(console: Console, client: httpx.Client, runs: list[_Run], *, speed: float) -> list[str] | None:
    """Follow every run to its end with a progress bar each; return their video URLs, or None if one failed."""
    columns = (SpinnerColumn(), TextColumn("{task.description:<22}"), BarColumn(), TimeElapsedColumn())
    started = time.monotonic()
    deadline = started + _TIMEOUT_S
    urls: dict[str, str] = {}
    with Progress(*columns, console=console) as progress:
        bars = {run.platform_id: progress.add_task(f"{run.label}: submitted", total=100) for run in runs}
        while time.monotonic() < deadline:
            for run in runs:
                if run.platform_id in urls:
                    continue
                status, url, said = run.read(client.get(run.query).raise_for_status().json())
                if status == "failed":
                    console.print(f"[red]{run.label} failed[/red]: {said}")
                    return None
                # The API gives no percentage; estimate one from the typical run time, held below 100 until done.
                estimate = min(95.0, 100 * (time.monotonic() - started) / (run.expected_s / speed))
                done = url is not None
                label = "succeeded" if done else status
                progress.update(
                    bars[run.platform_id], description=f"{run.label}: {label}", completed=100 if done else estimate
                )
                if url is not None:
                    urls[run.platform_id] = url
                    console.print(f"[green]{run.label} succeeded[/green]: {url} ({said})")
            if len(urls) == len(runs):
                return [urls[run.platform_id] for run in runs]
            time.sleep(_POLL_INTERVAL_S)
    console.print("[red]the tasks did not finish in time[/red]")
    return None


def _download(console: Console, client: httpx.Client, url: str, target: Path) -> None:
    video = client.get(url).raise_for_status()
    target.write_bytes(video.content)
    console.print(f"Downloaded {len(video.content)} bytes of {video.headers['content-type']} to {target}")


def _show_balance(console: Console, settings: Settings) -> None:
    balance, held = asyncio.run(_balance(settings))
    console.print(f"Balance of {_USER!r}: ¥{format_yuan(balance)} (was ¥{_OPENING_BALANCE}), ¥{format_yuan(held)} held")


async def _balance(settings: Settings) -> tuple[int, int]:
    """Read the demo user's balance and holds, as `kling-gateway users show demo` does."""
    db = Database(settings.resolved_database_url())
    try:
        async with db.session() as session:
            user = await find_user(session, _USER)
            assert user is not None
            return user.balance_micros, user.held_micros
    finally:
        await db.dispose()


def _print_next_steps(console: Console, base_url: str, key: str, platform_id: str, turbo_id: str) -> None:
    console.rule("[bold]Try it yourself (the commands of the task-query docs, with this gateway and key)")
    auth = f'-H "Authorization: Bearer {key}"'
    json_type = "-H 'Content-Type: application/json'"
    lines = [
        "# query the text2video task by its platform_id, or by its external_task_id",
        f'curl "{base_url}/kling/v1/videos/text2video/{platform_id}" {auth}',
        f'curl "{base_url}/kling/v1/videos/text2video/demo-fox-1" {auth}',
        "# list tasks of each kind, newest first",
        *(f'curl "{base_url}/kling/v1/{action}?pageNum=1&pageSize=30" {auth}' for action in _SEED_ACTIONS),
        "# create another",
        f'curl -X POST "{base_url}/kling/v1/videos/text2video" {auth} {json_type} '
        '-d \'{"model_name": "kling-v2-6", "prompt": "a paper boat on a river"}\'',
        "# the new generation: both tasks on /tasks by any id (batched), the caller's tasks page by page",
        f'curl "{base_url}/kling/tasks?task_ids={turbo_id},{platform_id}" {auth}',
        f'curl "{base_url}/kling/tasks?external_task_ids=demo-boat-1" {auth}',
        f'curl -X POST "{base_url}/kling/tasks" {auth} {json_type} -d \'{{"limit": 10}}\'',
        "# create a Kling 3.0 Turbo text-to-video",
        f'curl -X POST "{base_url}/kling/text-to-video/kling-3.0-turbo" {auth} {json_type} '
        '-d \'{"prompt": "a lighthouse in a storm", "settings": {"duration": 3}}\'',
    ]
    console.print("\n".join(lines), soft_wrap=True, highlight=False)
