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
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson
from standardwebhooks.webhooks import Webhook

from kling_gateway.sandbox.store import SandboxTask

log = logging.getLogger(__name__)

RenderTask = Callable[[SandboxTask, int], dict[str, Any]]

_MAX_IN_FLIGHT = 64  # deliveries under way at once


class CallbackDispatcher:
    """Keep a time-ordered queue of status changes to announce, and send each when it happens."""

    def __init__(self, client: httpx.AsyncClient, render: RenderTask, *, webhook_secret: str | None = None) -> None:
        self._client = client
        self._render = render
        self._webhook = Webhook(webhook_secret) if webhook_secret else None
        self._due: list[tuple[int, int, SandboxTask]] = []
        self._sequence = 0
        self._wake = asyncio.Event()
        self._slots = asyncio.Semaphore(_MAX_IN_FLIGHT)
        self._sending: set[asyncio.Task[None]] = set()
        self.delivered = 0
        self.failed = 0

    def schedule(self, task: SandboxTask) -> None:
        """Queue one callback for every status change of a new task that has a `callback_url`."""
        for at_ms, _status in task.timeline.transitions():
            self._sequence += 1
            heapq.heappush(self._due, (at_ms, self._sequence, task))
        self._wake.set()

    async def run(self) -> None:
        """Send callbacks as they fall due, until cancelled."""
        while True:
            now_ms = time.time_ns() // 1_000_000
            while self._due and self._due[0][0] <= now_ms:
                at_ms, _, task = heapq.heappop(self._due)
                await self._slots.acquire()
                sending = asyncio.create_task(self._send(task, at_ms))
                self._sending.add(sending)
                sending.add_done_callback(self._sending.discard)
            self._wake.clear()
            timeout = (self._due[0][0] - now_ms) / 1000 if self._due else None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)

    async def _send(self, task: SandboxTask, at_ms: int) -> None:
        try:
            url = task.body.callback_url
            if url is None:
                return
            body = orjson.dumps(self._render(task, at_ms))
            headers = {"Content-Type": "application/json; charset=utf-8"}
            if self._webhook is not None:
                message_id = str(uuid.uuid4())
                sent_at = datetime.now(tz=UTC)
                headers["webhook-id"] = message_id
                headers["webhook-timestamp"] = str(int(sent_at.timestamp()))
                headers["webhook-signature"] = self._webhook.sign(message_id, sent_at, body.decode())
            response = await self._client.post(url, content=body, headers=headers)
            response.raise_for_status()
            self.delivered += 1
        except httpx.HTTPError as error:
            self.failed += 1
            log.warning("callback for task %s to %s failed: %s", task.task_id, task.body.callback_url, error)
        finally:
            self._slots.release()
