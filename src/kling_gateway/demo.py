"""`kling-gateway demo`: the sandbox and the gateway on a fresh SQLite file, and one task from submit to result."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import httpx
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from ulid import ULID

from kling_gateway.api import create_app as create_gateway
from kling_gateway.billing.money import format_yuan, yuan_to_micros
from kling_gateway.channels.admin import add_channel
from kling_gateway.keys.service import create_key
from kling_gateway.kling.schemas import ACTIONS, Family, parse_create_body
from kling_gateway.kling.timing import typical_timing
from kling_gateway.sandbox import Account, SandboxConfig
from kling_gateway.sandbox import create_app as create_sandbox
from kling_gateway.serving import BackgroundServer
from kling_gateway.settings import Settings, SyncConfig, get_settings
from kling_gateway.store.database import Database, sqlite_url
from kling_gateway.store.migrate import ensure_schema
from kling_gateway.users.service import create_user, find_user

_POLL_INTERVAL_S = 0.5
_TIMEOUT_S = 120.0
_USER, _OPENING_BALANCE = "demo", "100"
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
        key = asyncio.run(_set_up(settings, sandbox.url, account))
        with BackgroundServer(create_gateway(settings)) as gateway:
            console.rule("[bold]kling-gateway demo")
            console.print(f"Kling sandbox  {sandbox.url}  (speed ×{speed:g}, a stand-in for the official API)")
            console.print(f"Gateway        {gateway.url}  (database {settings.resolved_database_url()})")
            console.print(f"User {_USER!r} with ¥{_OPENING_BALANCE}, key {key}, channel 'sandbox' → {sandbox.url}")
            with httpx.Client(base_url=gateway.url, headers={"Authorization": f"Bearer {key}"}) as client:
                platform_id = _submit(console, client)
                video_url = _follow(console, client, platform_id, speed=speed)
                if video_url is None:
                    return 1
                _download(console, client, video_url, data_dir / f"{platform_id}.mp4")
            _show_balance(console, settings)
            _print_next_steps(console, gateway.url, key, platform_id)
            if keep_serving:
                console.print("\nThe gateway and the sandbox keep running; press Ctrl-C to stop.")
                threading.Event().wait()
        return 0
    except KeyboardInterrupt:
        return 0
    finally:
        sandbox.stop()


async def _set_up(settings: Settings, sandbox_url: str, account: Account) -> str:
    """Create the demo's user (with a balance), its key and the channel to the sandbox; return the key."""
    db = Database(settings.resolved_database_url())
    try:
        await ensure_schema(db)
        async with db.session() as session, session.begin():
            user = await create_user(session, name=_USER, balance_micros=yuan_to_micros(_OPENING_BALANCE))
            _, key = await create_key(session, user_id=user.id, name="demo")
            await add_channel(
                session,
                name="sandbox",
                base_url=sandbox_url,
                access_key=account.access_key,
                secret_key=account.secret_key,
            )
        return key
    finally:
        await db.dispose()


def _submit(console: Console, client: httpx.Client) -> str:
    console.print(f"[bold]POST[/bold] {_PATH}", _DEMO_BODY)
    answer = client.post(_PATH, json=_DEMO_BODY).raise_for_status().json()["data"]
    console.print(
        f"→ platform_id [cyan]{answer['platform_id']}[/cyan], upstream task_id {answer['task_id']}, "
        f"status {answer['task_status']}"
    )
    return str(answer["platform_id"])


def _follow(console: Console, client: httpx.Client, platform_id: str, *, speed: float) -> str | None:
    columns = (SpinnerColumn(), TextColumn("{task.description:<10}"), BarColumn(), TimeElapsedColumn())
    body = parse_create_body(Family.VIDEOS, "text2video", _DEMO_BODY)
    expected_s = typical_timing(_DEMO_SPEC, body).total_s / speed
    started = time.monotonic()
    deadline = started + _TIMEOUT_S
    with Progress(*columns, console=console) as progress:
        bar = progress.add_task("submitted", total=100)
        while time.monotonic() < deadline:
            data = client.get(f"{_PATH}/{platform_id}").raise_for_status().json()["data"]
            status = data["task_status"]
            # The API gives no percentage; estimate one from the typical run time, held below 100 until done.
            estimate = min(95.0, 100 * (time.monotonic() - started) / expected_s)
            finished = status in ("succeed", "failed")
            progress.update(bar, description=status, completed=100 if finished else estimate)
            if status == "succeed":
                video = data["task_result"]["videos"][0]
                console.print(
                    f"[green]succeed[/green]: {video['url']} ({video['duration']} s, "
                    f"final_unit_deduction {data['final_unit_deduction']})"
                )
                return str(video["url"])
            if status == "failed":
                console.print(f"[red]failed[/red]: {data['task_status_msg']}")
                return None
            time.sleep(_POLL_INTERVAL_S)
    console.print("[red]the task did not finish in time[/red]")
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


def _print_next_steps(console: Console, base_url: str, key: str, platform_id: str) -> None:
    console.rule("[bold]Try it yourself (the commands of the task-query docs, with this gateway and key)")
    auth = f'-H "Authorization: Bearer {key}"'
    lines = [
        "# query the task by its platform_id, or by its external_task_id",
        f'curl "{base_url}/kling/v1/videos/text2video/{platform_id}" {auth}',
        f'curl "{base_url}/kling/v1/videos/text2video/demo-fox-1" {auth}',
        "# list tasks of each kind, newest first",
        *(f'curl "{base_url}/kling/v1/{action}?pageNum=1&pageSize=30" {auth}' for action in _SEED_ACTIONS),
        "# create another",
        f'curl -X POST "{base_url}/kling/v1/videos/text2video" {auth} '
        "-H 'Content-Type: application/json' -d '{\"prompt\": \"a paper boat on a river\"}'",
    ]
    console.print("\n".join(lines), soft_wrap=True, highlight=False)
