"""Stream result files from where the upstream keeps them to clients, so that no download can hold what submits,
queries and polls need.

Downloads go through a pool of their own (`egress.clients.downloads_http`), never the upstream API's. A process
serves at most `downloads.at_once` of them, and one key at most `downloads.per_key`; past either, the request is
answered 429 in the caller's shape, saying the bound. A file's URL is checked as any URL fetched on a user's
behalf (`egress.destinations`): it may be on a private address only on the origin of the task's own channel or one
the operator lists (`downloads.private_origins`). The upstream may go silent for `read_timeout_s` at most, a client
may take `send_timeout_s` at most to accept each chunk, and a whole download `total_s`; past any of them the
download is cut off (the connection closed, so a client never takes a cut file for a whole one) and its place freed.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Mapping
from typing import Any

import httpx
from starlette.responses import StreamingResponse
from starlette.types import Message, Receive, Scope, Send

from kling_gateway.egress.destinations import Refused, checked, origin_of
from kling_gateway.errors import TooManyDownloads, UpstreamFailed
from kling_gateway.settings import DownloadConfig

log = logging.getLogger(__name__)

PASSED_HEADERS = ("content-length", "last-modified", "etag", "content-range", "accept-ranges")
# What a player's request may carry on to where the file is: a `Range`, so that a `<video>` can seek.
FORWARDED_HEADERS = ("range", "if-range")
ANSWERED = (200, 206)  # a whole file, or the part a `Range` asked for
RETRY_AFTER_S = 1  # a download takes seconds: a place is likely free again by then


class Place:
    """One download's place in the gate, freed once, however the download ends."""

    def __init__(self, gate: DownloadGate, key_id: int) -> None:
        self._gate = gate
        self._key_id = key_id
        self._held = True

    def free(self) -> None:
        """Give the place back (again: nothing)."""
        if self._held:
            self._held = False
            self._gate.leave(self._key_id)


class DownloadGate:
    """Count the downloads under way in this process, in all and per key; refuse one past either bound."""

    def __init__(self, config: DownloadConfig) -> None:
        self.config = config
        self.under_way = 0
        self._per_key: Counter[int] = Counter()

    def enter(self, key_id: int) -> Place:
        """Take a place for a download by this key; raise TooManyDownloads past a bound."""
        if self._per_key[key_id] >= self.config.per_key:
            raise TooManyDownloads(
                f"this key already has {self.config.per_key} downloads under way, the most one key may have at once "
                "(KLING_GATEWAY_DOWNLOADS__PER_KEY); retry when one has finished",
                retry_after_s=RETRY_AFTER_S,
            )
        if self.under_way >= self.config.at_once:
            raise TooManyDownloads(
                f"the gateway is serving {self.config.at_once} downloads, the most it serves at once "
                "(KLING_GATEWAY_DOWNLOADS__AT_ONCE); retry in a moment",
                retry_after_s=RETRY_AFTER_S,
            )
        self._per_key[key_id] += 1
        self.under_way += 1
        return Place(self, key_id)

    def leave(self, key_id: int) -> None:
        """Count a download as ended."""
        self._per_key[key_id] -= 1
        if self._per_key[key_id] <= 0:
            del self._per_key[key_id]
        self.under_way -= 1


class Downloads:
    """Fetch result files over the downloads pool and stream them to clients, within the gate's bounds."""

    def __init__(self, config: DownloadConfig, http: httpx.AsyncClient) -> None:
        self.config = config
        self.http = http
        self.gate = DownloadGate(config)
        self._private_origins = frozenset(origin_of(str(origin)) for origin in config.private_origins)

    async def stream(
        self,
        key_id: int,
        url: str,
        *,
        channel_url: str | None,
        what: str,
        headers: Mapping[str, str] | None = None,
    ) -> StreamingResponse:
        """Answer with the file at `url` (`what` names it in errors and logs), fetched for this key (a negative id
        names a web session's holder); the origin of `channel_url`, the task's channel, may be private. Of
        `headers` (the client's), a `Range` is sent on, and a part answered as the upstream answers it (206)."""
        place = self.gate.enter(key_id)
        forwarded = {name: value for name, value in (headers or {}).items() if name.lower() in FORWARDED_HEADERS}
        try:
            upstream = await self._open(url, channel_url=channel_url, what=what, headers=forwarded)
        except BaseException:
            place.free()
            raise
        passed = {name: upstream.headers[name] for name in PASSED_HEADERS if name in upstream.headers}
        return ResultStream(
            upstream,
            place,
            self.config,
            status_code=upstream.status_code,
            what=what,
            media_type=upstream.headers.get("content-type", "application/octet-stream"),
            headers=passed,
        )

    async def _open(
        self, url: str, *, channel_url: str | None, what: str, headers: Mapping[str, str]
    ) -> httpx.Response:
        trusted = self._private_origins | ({origin_of(channel_url)} if channel_url else set())
        try:
            # Through a proxy the proxy connects, so only the check is ours; directly, the address checked is used.
            destination = await checked(url, trusted=trusted, pin=self.config.proxy is None)
        except Refused as refused:
            log.warning("refused to fetch %s: %s", what, refused)
            raise UpstreamFailed(
                f"the upstream's URL of {what} is not fetched: {refused}; result files come only from public "
                "addresses or the channel's own (an operator can allow more with "
                "KLING_GATEWAY_DOWNLOADS__PRIVATE_ORIGINS)"
            ) from None
        try:
            request = destination.request(self.http, "GET", headers=dict(headers))
            upstream = await self.http.send(request, stream=True)
        except httpx.HTTPError as error:
            raise UpstreamFailed(f"{what} could not be fetched from the upstream ({type(error).__name__})") from None
        if upstream.status_code not in ANSWERED:
            await upstream.aclose()
            raise UpstreamFailed(
                f"the upstream answered {upstream.status_code} for {what}; Kling keeps results for 30 days"
            )
        return upstream


class _Stalled(Exception):
    """The client took too long to accept a chunk."""


class ResultStream(StreamingResponse):
    """Stream an upstream file to a client within the download bounds; close the upstream response and free the
    place however the stream ends."""

    def __init__(
        self,
        upstream: httpx.Response,
        place: Place,
        config: DownloadConfig,
        *,
        status_code: int = 200,
        what: str,
        media_type: str,
        headers: Mapping[str, str],
    ) -> None:
        super().__init__(upstream.aiter_raw(), status_code=status_code, media_type=media_type, headers=headers)
        self.upstream = upstream
        self.place = place
        self.config = config
        self.what = what

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            await self.upstream.aclose()
            self.place.free()

    async def stream_response(self, send: Send) -> None:
        try:
            async with asyncio.timeout(self.config.total_s):
                await self._send_all(send)
        except TimeoutError:
            self._cut_off(f"it took longer than {self.config.total_s:g} s in all")
        except _Stalled:
            self._cut_off(f"the client accepted nothing for {self.config.send_timeout_s:g} s")
        except httpx.HTTPError as error:
            self._cut_off(f"the upstream stopped sending ({type(error).__name__})")

    async def _send_all(self, send: Send) -> None:
        start = {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
        await self._send_in_time(send, start)
        async for chunk in self.body_iterator:
            await self._send_in_time(send, {"type": "http.response.body", "body": chunk, "more_body": True})
        await self._send_in_time(send, {"type": "http.response.body", "body": b"", "more_body": False})

    async def _send_in_time(self, send: Send, message: Message | dict[str, Any]) -> None:
        try:
            async with asyncio.timeout(self.config.send_timeout_s):
                await send(message)
        except TimeoutError:
            raise _Stalled from None

    def _cut_off(self, why: str) -> None:
        # The response ends unfinished: the server closes the connection, so the client sees a cut download.
        log.warning("download of %s cut off: %s", self.what, why)
