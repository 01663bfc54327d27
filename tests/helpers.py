"""Small helpers the tests share: creating tasks and waiting for them over HTTP."""

from __future__ import annotations

import time
from typing import Any, Protocol

import httpx
import jwt

TEXT2VIDEO = "/v1/videos/text2video"
FINAL = ("succeed", "failed")


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
    deadline = time.monotonic() + timeout_s
    while True:
        answer = client.get(path)
        assert answer.status_code == 200, answer.text
        data: dict[str, Any] = answer.json()["data"]
        if data["task_status"] in statuses:
            return data
        assert time.monotonic() < deadline, f"{path} stayed {data['task_status']}"
        time.sleep(0.02)


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
