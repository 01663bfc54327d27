"""Deliver a task's status changes to its `callback_url`, as the official API does.

Each change is a POST of the bare task object (no envelope). With a webhook secret, the Standard Webhooks
headers `webhook-id`, `webhook-timestamp` and `webhook-signature` are added. Delivery is not retried: the
official API documents no retry policy, so receivers must keep polling.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson
from standardwebhooks.webhooks import Webhook

from kling_gateway.clock import now_ms
from kling_gateway.sandbox.config import Now
from kling_gateway.sandbox.store import SandboxTask

log = logging.getLogger(__name__)

RenderTask = Callable[[SandboxTask, int], dict[str, Any]]

_MAX_IN_FLIGHT = 64  # deliveries under way at once
_SHUTDOWN_GRACE_S = 2.0  # how long deliveries under way may finish when the app stops


class CallbackDispatcher:
    """Keep a time-ordered queue of status changes to announce, and send each when it happens.

    The sending loop starts with the first callback scheduled, on the event loop that serves the app, so
    the sandbox delivers callbacks whether or not its host runs the ASGI lifespan.
    """

    def __init__(
        self,
        render: RenderTask,
        *,
        webhook_secret: str | None = None,
        timeout_s: float = 10.0,
        client: httpx.AsyncClient | None = None,
        clock: Now = now_ms,
    ) -> None:
        self._render = render
        self._clock = clock
        self._webhook = Webhook(webhook_secret) if webhook_secret else None
        self._timeout_s = timeout_s
        self._client = client
        self._owns_client = client is None
        self._due: list[tuple[int, int, SandboxTask]] = []
        self._sequence = 0
        self._wake: asyncio.Event | None = None
        self._runner: asyncio.Task[None] | None = None
        self._sending: set[asyncio.Task[None]] = set()

    def schedule(self, task: SandboxTask, *, after_ms: int | None = None) -> None:
        """Queue one callback for every status change of a task that has a `callback_url`: all of a new task's,
        or only those later than `after_ms` (for a task already running when its callbacks are turned on)."""
        for at_ms in task.timeline.changes_ms():
            if after_ms is not None and at_ms <= after_ms:
                continue
            self._sequence += 1
            heapq.heappush(self._due, (at_ms, self._sequence, task))
        if self._runner is None or self._runner.done():
            self._wake = asyncio.Event()
            self._runner = asyncio.create_task(self._run())
        assert self._wake is not None
        self._wake.set()

    def clear(self) -> None:
        """Drop every callback not yet sent, and stop those being sent."""
        self._due.clear()
        for sending in self._sending:
            sending.cancel()
        if self._wake is not None:
            self._wake.set()

    async def aclose(self) -> None:
        """Stop sending, give deliveries under way a moment to finish, and close the client if it is ours."""
        if self._runner is not None:
            self._runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._runner
        if self._sending:
            _done, late = await asyncio.wait(self._sending, timeout=_SHUTDOWN_GRACE_S)
            for sending in late:
                sending.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        if self._owns_client and self._client is not None:
            await self._client.aclose()
            self._client = None

    async def _run(self) -> None:
        assert self._wake is not None
        slots = asyncio.Semaphore(_MAX_IN_FLIGHT)
        while True:
            while self._due and self._due[0][0] <= self._clock():
                at_ms, _, task = heapq.heappop(self._due)
                await slots.acquire()
                sending = asyncio.create_task(self._send(task, at_ms))
                self._sending.add(sending)
                sending.add_done_callback(self._sending.discard)
                sending.add_done_callback(lambda _done: slots.release())
            self._wake.clear()
            timeout = max(0, self._due[0][0] - self._clock()) / 1000 if self._due else None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)

    async def _send(self, task: SandboxTask, at_ms: int) -> None:
        url = task.body.callback_url
        if url is None:
            return
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self._timeout_s)
        body = orjson.dumps(self._render(task, at_ms))
        headers = {"Content-Type": "application/json; charset=utf-8"}
        if self._webhook is not None:
            message_id = str(uuid.uuid4())
            sent_at = datetime.fromtimestamp(self._clock() / 1000, tz=UTC)
            headers["webhook-id"] = message_id
            headers["webhook-timestamp"] = str(int(sent_at.timestamp()))
            headers["webhook-signature"] = self._webhook.sign(message_id, sent_at, body.decode())
        try:
            response = await self._client.post(url, content=body, headers=headers)
            response.raise_for_status()
        except (httpx.HTTPError, httpx.InvalidURL) as error:
            # A callback URL may carry the receiver's secret (the gateway's callback token): name its host alone.
            log.warning("callback for task %s to %s failed: %s", task.task_id, _host_of(url), _reason(error))


def _host_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port}" if parts.port else str(parts.hostname)


def _reason(error: Exception) -> str:
    if isinstance(error, httpx.HTTPStatusError):
        return f"HTTP {error.response.status_code}"
    return type(error).__name__
