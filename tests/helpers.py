"""Small helpers the tests share: waiting for a condition, a clock that tests move, creating and awaiting tasks."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any, Protocol

import httpx
import jwt

from kling_gateway.clock import now_ms

TEXT2VIDEO = "/v1/videos/text2video"
FINAL = ("succeed", "failed")
CHECK_EVERY_S = 0.01  # how often a wait looks at its condition again
POLL_EVERY_S = 0.02  # how often a wait asks a server again


def wait_for(
    condition: Callable[[], bool],
    what: str | Callable[[], str],
    timeout_s: float = 20.0,
    every_s: float = CHECK_EVERY_S,
) -> None:
    """Wait until `condition()` holds, looking again every `every_s`; at the deadline, fail saying what was awaited."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() >= deadline:
            raise AssertionError(
                f"timed out after {timeout_s} s waiting for {what if isinstance(what, str) else what()}"
            )
        time.sleep(every_s)


class SteppedClock:
    """A clock in milliseconds since the epoch that stands still until a test moves it (a sandbox's `clock`)."""

    def __init__(self, start_ms: int | None = None) -> None:
        self.ms = now_ms() if start_ms is None else start_ms

    def __call__(self) -> int:
        return self.ms

    def advance(self, seconds: float) -> None:
        """Move the clock forward."""
        self.ms += round(seconds * 1000)

    def move_to(self, moment_ms: int) -> None:
        """Move the clock forward to a moment (never back)."""
        self.ms = max(self.ms, moment_ms)


def create(client: httpx.Client, path: str, body: dict[str, Any]) -> dict[str, Any]:
    """Create a task and return the `data` of the answer, failing loudly on any error."""
    answer = client.post(path, json=body)
    assert answer.status_code == 200, answer.text
    data: dict[str, Any] = answer.json()["data"]
    return data


def wait_until(
    client: httpx.Client, path: str, statuses: tuple[str, ...] = FINAL, timeout_s: float = 10.0
) -> dict[str, Any]:
    """Poll a single-task path until the task reaches one of `statuses`; return its `data`."""
    last: list[dict[str, Any]] = []

    def reached() -> bool:
        answer = client.get(path)
        assert answer.status_code == 200, answer.text
        last[:] = [answer.json()["data"]]
        return last[0]["task_status"] in statuses

    def stayed() -> str:
        return f"{path} to be {' or '.join(statuses)}; it stayed {last[0]['task_status']}"

    wait_for(reached, stayed, timeout_s, every_s=POLL_EVERY_S)
    return last[0]


def finished(client: httpx.Client, path: str, body: dict[str, Any]) -> dict[str, Any]:
    """Create a task at `path` and wait until it succeeds or fails; return its `data`."""
    return wait_until(client, f"{path}/{create(client, path, body)['task_id']}")


def finished_video(client: httpx.Client, body: dict[str, Any], path: str = TEXT2VIDEO) -> dict[str, Any]:
    """Create a video task, wait until it is finished, and return its first video."""
    video: dict[str, Any] = finished(client, path, body)["task_result"]["videos"][0]
    return video


def error_of(answer: httpx.Response) -> tuple[int, int, str]:
    """Return the HTTP status, Kling code and message of an error answer."""
    body = answer.json()
    return answer.status_code, body["code"], body["message"]


class KeyPair(Protocol):
    """An access key and the secret key that signs for it: a sandbox account, or a key the gateway issued."""

    @property
    def access_key(self) -> str: ...

    @property
    def secret_key(self) -> str: ...


def sign_jwt(account: KeyPair, ttl_s: int = 1800) -> str:
    """Sign a token the way the official samples do: HS256, iss = access key, exp and nbf."""
    now = int(time.time())
    claims = {"iss": account.access_key, "exp": now + ttl_s, "nbf": now - 5}
    return jwt.encode(claims, account.secret_key, algorithm="HS256", headers={"typ": "JWT"})


class NeverAnswers(httpx.AsyncBaseTransport):
    """A transport that sends requests on to the real network, except those to `host`, which get no answer ever:
    a receiver that takes the request and never replies (only cancelling the request ends it)."""

    def __init__(self, host: str) -> None:
        self.host = host
        self.opened = 0  # requests to the host so far
        self.waiting = 0  # of them, still waiting for their answer
        self._network = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.host != self.host:
            return await self._network.handle_async_request(request)
        self.opened += 1
        self.waiting += 1
        try:
            await asyncio.Event().wait()
        finally:
            self.waiting -= 1
        raise AssertionError("unreachable: nothing sets the event")

    async def aclose(self) -> None:
        await self._network.aclose()
