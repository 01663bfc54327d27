"""Refuse a forged upstream callback before the framework, the body or the store has any part in it.

A callback's path carries a token only a channel's secret makes for that task (`upstream.callbacks`). A flood of
posts with made-up tokens would otherwise each pass every middleware and cost a read of the store before its
refusal. This lane keeps the channels' callback secrets in memory (read again at most once a second when a token
matches none of them, so a channel added a moment ago is found) and answers a token that no channel could have
made at once, with the route's very answer. A token that does match goes on to the route, which proves it again
against the task's own channel.
"""

from __future__ import annotations

import re

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from kling_gateway.api import responses
from kling_gateway.api.runtime import Runtime
from kling_gateway.channels.selection import all_channels
from kling_gateway.errors import Unauthenticated
from kling_gateway.observability.http import ROUTE_KEY
from kling_gateway.upstream.callbacks import CALLBACK_PREFIX, token_matches

CALLBACK_PATH = re.compile(re.escape(CALLBACK_PREFIX) + r"/([^/]+)/([^/]+)")
REFRESH_S = 1.0  # the channels' secrets are read again at most this often, and only on a token none matches
REFUSAL = "the callback URL's token does not match the task's channel"  # the route's own words


class CallbackLane:
    """Answer an upstream callback whose token no channel made; pass every other request to `app`."""

    def __init__(self, app: ASGIApp, runtime: Runtime) -> None:
        self.app = app
        self.runtime = runtime
        self._secrets: tuple[str, ...] = ()
        self._read_at_ms: int | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or not scope["path"].startswith(CALLBACK_PREFIX):
            await self.app(scope, receive, send)
            return
        found = CALLBACK_PATH.fullmatch(scope["path"])
        if found is None or await self._could_be_ours(*found.groups()):
            await self.app(scope, receive, send)
            return
        scope[ROUTE_KEY] = CALLBACK_PREFIX + "/{platform_id}/{token}"
        request = Request(scope, receive)
        await responses.error(request, Unauthenticated(REFUSAL))(scope, receive, send)

    async def _could_be_ours(self, platform_id: str, token: str) -> bool:
        """Tell whether any channel's secret makes this token for this task (reading the secrets when stale)."""
        if self._matches(platform_id, token):
            return True
        now_ms = self.runtime.clock.now_ms()
        if self._read_at_ms is not None and now_ms - self._read_at_ms < REFRESH_S * 1000:
            return False
        self._read_at_ms = now_ms
        async with self.runtime.db.read() as connection:
            channels = await all_channels(connection)
        self._secrets = tuple({channel.credentials.callback_secret for channel in channels})
        return self._matches(platform_id, token)

    def _matches(self, platform_id: str, token: str) -> bool:
        # Every secret is tried, so the time taken tells nothing about which one matched.
        return sum(token_matches(secret, platform_id, token) for secret in self._secrets) > 0
