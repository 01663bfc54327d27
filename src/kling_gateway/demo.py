"""`kling-gateway demo`: a task from submit to result against a sandbox started for the occasion."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
import jwt
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from kling_gateway.kling.schemas import ACTIONS, Family, parse_create_body
from kling_gateway.kling.timing import typical_timing
from kling_gateway.sandbox import Account, SandboxConfig, create_app
from kling_gateway.serving import BackgroundServer
from kling_gateway.settings import get_settings

_POLL_INTERVAL_S = 0.5
_TIMEOUT_S = 120.0
_DEMO_BODY = {
    "model_name": "kling-v2-6",
    "prompt": "A red fox trots through fresh snow at dawn, cinematic, soft light",
    "mode": "std",
    "duration": "5",
    "aspect_ratio": "16:9",
    "external_task_id": "demo-fox-1",
}
_DEMO_SPEC = ACTIONS[(Family.VIDEOS, "text2video")]


def sign_jwt(account: Account, ttl_s: int = 1800) -> str:
    """Sign a token the way the official samples do: HS256, iss = access key, exp and nbf."""
    now = int(time.time())
    claims = {"iss": account.access_key, "exp": now + ttl_s, "nbf": now - 5}
    return jwt.encode(claims, account.secret_key, algorithm="HS256", headers={"typ": "JWT"})


def run_demo(console: Console, *, speed: float, keep_serving: bool) -> int:
    """Run the demo; return the process exit code."""
    account = Account.generate()
    server = BackgroundServer(create_app(SandboxConfig(accounts=(account,), speed=speed))).start()
    try:
        console.rule("[bold]Kling sandbox demo")
        console.print(f"Sandbox on {server.url}, access key {account.access_key}")
        token = sign_jwt(account)
        with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"}) as client:
            task_id = _submit(console, client)
            video_url = _follow(console, client, task_id, speed=speed)
            if video_url is None:
                return 1
            _download(console, client, video_url, task_id)
        _print_next_steps(console, server.url, account, task_id)
        if keep_serving:
            console.print("\nThe sandbox keeps running; press Ctrl-C to stop.")
            threading.Event().wait()
        return 0
    except KeyboardInterrupt:
        return 0
    finally:
        server.stop()


def _submit(console: Console, client: httpx.Client) -> str:
    console.print("[bold]POST[/bold] /v1/videos/text2video", _DEMO_BODY)
    answer = client.post("/v1/videos/text2video", json=_DEMO_BODY).raise_for_status().json()
    task_id: str = answer["data"]["task_id"]
    console.print(f"→ task [cyan]{task_id}[/cyan], status {answer['data']['task_status']}")
    return task_id


def _follow(console: Console, client: httpx.Client, task_id: str, *, speed: float) -> str | None:
    columns = (SpinnerColumn(), TextColumn("{task.description:<10}"), BarColumn(), TimeElapsedColumn())
    body = parse_create_body(Family.VIDEOS, "text2video", _DEMO_BODY)
    expected_s = typical_timing(_DEMO_SPEC, body).total_s / speed
    started = time.monotonic()
    deadline = started + _TIMEOUT_S
    with Progress(*columns, console=console) as progress:
        bar = progress.add_task("submitted", total=100)
        while time.monotonic() < deadline:
            data = client.get(f"/v1/videos/text2video/{task_id}").raise_for_status().json()["data"]
            status = data["task_status"]
            # The API gives no percentage; estimate one from the typical run time, held below 100 until done.
            estimate = min(95.0, 100 * (time.monotonic() - started) / expected_s)
            finished = status in ("succeed", "failed")
            progress.update(bar, description=status, completed=100 if finished else estimate)
            if status == "succeed":
                video = data["task_result"]["videos"][0]
                console.print(
                    f"[green]succeed[/green]: {video['url']} ({video['duration']} s, "
                    f"{data['final_unit_deduction']} units deducted)"
                )
                return str(video["url"])
            if status == "failed":
                console.print(f"[red]failed[/red]: {data['task_status_msg']}")
                return None
            time.sleep(_POLL_INTERVAL_S)
    console.print("[red]the task did not finish in time[/red]")
    return None


def _download(console: Console, client: httpx.Client, url: str, task_id: str) -> None:
    video = client.get(url).raise_for_status()
    target = get_settings().data_dir / "demo" / f"{task_id}.mp4"
    target.parent.mkdir(parents=True, exist_ok=True)
    Path(target).write_bytes(video.content)
    console.print(f"Downloaded {len(video.content)} bytes of {video.headers['content-type']} to {target}")


def _print_next_steps(console: Console, base_url: str, account: Account, task_id: str) -> None:
    key = account.api_key
    console.rule("[bold]Try it yourself")
    console.print(
        "\n".join(
            (
                "# query the task by id, or by its external_task_id",
                f'curl "{base_url}/v1/videos/text2video/{task_id}" -H "Authorization: Bearer {key}"',
                f'curl "{base_url}/v1/videos/text2video/demo-fox-1" -H "Authorization: Bearer {key}"',
                "# list tasks, newest first",
                f'curl "{base_url}/v1/videos/text2video?pageNum=1&pageSize=30" -H "Authorization: Bearer {key}"',
                "# create another",
                f'curl -X POST "{base_url}/v1/videos/text2video" -H "Authorization: Bearer {key}" '
                "-H 'Content-Type: application/json' -d '{\"prompt\": \"a paper boat on a river\"}'",
                f"# or sign a JWT: iss={account.access_key}, secret key {account.secret_key}",
            )
        ),
        soft_wrap=True,
        highlight=False,
    )
