"""Relay Kling's synchronous calls (the multi-elements selection calls, identify-face, image-recognize, TTS, the element
and voice deletes, and the presets lists) to the right upstream account, and remember the sessions they open.

The selection calls, the deletes and the presets lists make no task and are not billed. The calls Kling bills
(`billed_calls`) are held at their price first, kept as a task final at once, and charged their own deduction once they
answer. The upstream's answer is passed on as it is. A call naming a video, session, element or voice goes to the
channel that owns it (a delete names only the caller's own); the others go to any enabled channel, highest priority
first and weighted within a priority, failing over to the next while a channel cannot be reached.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

from kling_gateway.channels.admin import mark_misconfigured
from kling_gateway.channels.affinity import bound_channel, remember_session
from kling_gateway.channels.selection import ChannelChoice, all_channels, rank, refused_reason, usable
from kling_gateway.clock import Clock, SystemClock, now_ms
from kling_gateway.errors import GatewayError, InvalidRequest, NoCapacity, RefusedUpstream, UpstreamFailed
from kling_gateway.keys.service import Principal
from kling_gateway.kling.codes import KlingCode, refusal_code
from kling_gateway.kling.schemas import SYNC_SPECS, Family, Generation, InvalidBody, PackType, parse_body
from kling_gateway.settings import Settings
from kling_gateway.store.database import Database, Executor
from kling_gateway.tasks import billed_calls
from kling_gateway.tasks.billed_calls import BILLED_CALLS
from kling_gateway.upstream.client import KlingClient
from kling_gateway.upstream.errors import (
    ChannelBusy,
    ChannelMisconfigured,
    ChannelUnavailable,
    OutcomeUnknown,
    RequestRefused,
)

RELAYED_CALLS = tuple(SYNC_SPECS)
"""Every synchronous call the gateway relays, by (family, path after /v1/<family>/)."""
PRESET_LISTS = ("advanced-presets-elements", "presets-voices")
"""The lists of Kling's official elements and voices, by path after /v1/general/: the same on every account."""


def call_schema(family: Family, call: str) -> type[BaseModel]:
    """The schema of a relayed call's body."""
    return SYNC_SPECS[family, call].schema


log = logging.getLogger(__name__)


class SessionCalls:
    """Send the caller's synchronous calls upstream and answer with the upstream's `data`."""

    def __init__(
        self,
        db: Database,
        client: KlingClient,
        settings: Settings,
        *,
        rng: random.Random | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.db = db
        self.client = client
        self.settings = settings
        self.rng = rng or random.Random()
        self.clock = clock or SystemClock()

    async def call(
        self, owner: Principal, call: str, raw: object, *, family: Family = Family.VIDEOS
    ) -> dict[str, object]:
        """Validate one call's body, hold its price if it is billed, send it to the channel it belongs on, charge
        its deduction, and return the upstream's `data`."""
        body = _parsed(family, call, raw)
        assert isinstance(raw, dict)  # parse_body takes nothing but a JSON object
        channels, pinned = await self._channels_for(owner, f"{family}/{call}", body)
        if not channels:
            raise UpstreamFailed("no upstream channel is enabled; an admin adds one with `kling-gateway channels add`")
        billed = BILLED_CALLS.get((family, call))
        if billed is None:
            channel, data, _ = await self._send(channels, pinned, f"/v1/{family}/{call}", raw)
        else:
            task = await billed_calls.hold_call(self.db, self.settings, owner, billed, raw, now_ms=self.clock.now_ms())
            try:
                channel, data, request_id = await self._send(channels, pinned, billed.path, raw)
            except GatewayError as failure:
                await billed_calls.fail_call(self.db, task, failure.message, now_ms=self.clock.now_ms())
                raise
            await billed_calls.charge_call(
                self.db,
                task,
                data,
                request_id=request_id,
                channel_id=channel.id,
                package=billed.package,
                now_ms=self.clock.now_ms(),
                currency_micros=self.settings.billing.currency_micros,
            )
        await self._remember(owner, channel, data, getattr(body, "video_id", None))
        return data

    async def _send(
        self, channels: list[ChannelChoice], pinned: bool, path: str, raw: Mapping[str, Any]
    ) -> tuple[ChannelChoice, dict[str, Any], str | None]:
        """Send a call to the first channel that takes it; return that channel, the answer and its request id."""
        problems: list[str] = []
        for channel in channels:
            try:
                data, request_id = await self.client.call_answer(channel.credentials, path, raw)
            except ChannelMisconfigured as error:
                # Noted on the channel as a task's create would note it: no call or task goes there until fixed.
                reason = refused_reason(channel, error.message)
                log.warning("channel %s is misconfigured: %s", channel.name, reason)
                async with self.db.session() as session, session.begin():
                    await mark_misconfigured(session, channel_id=channel.id, reason=reason)
                problems.append(f"{channel.name}: {reason}")
            except ChannelBusy as error:
                if pinned:
                    raise NoCapacity(
                        f"the upstream account that owns this session or video is busy ({error.message}); "
                        "retry in a few seconds",
                        KlingCode.RATE_LIMITED,
                    ) from None
                problems.append(f"{channel.name}: {error.message}")
            except ChannelUnavailable as error:
                problems.append(f"{channel.name}: {error.message}")
            except RequestRefused as error:
                raise RefusedUpstream(
                    f"the upstream refused the call: {error.message}", refusal_code(error.code)
                ) from None
            except OutcomeUnknown as error:
                # A selection edit may or may not have been applied: only the caller can tell whether to repeat it.
                raise UpstreamFailed(
                    f"the upstream did not answer the call ({error.message}); it may or may not have taken effect"
                ) from None
            else:
                return channel, data, request_id
        raise UpstreamFailed("no upstream channel could take the call: " + "; ".join(problems))

    async def presets(self, listing: str, *, page_num: int, page_size: int) -> list[dict[str, Any]]:
        """Fetch a page of one presets list (`PRESET_LISTS`) from any channel that answers; as the upstream gave it."""
        async with self.db.session() as session:
            channels = await self._usable(session)
        problems: list[str] = []
        for channel in channels:
            try:
                return await self.client.records(
                    channel.credentials, f"/v1/general/{listing}", page_num=page_num, page_size=page_size
                )
            except (ChannelBusy, ChannelUnavailable, OutcomeUnknown) as error:  # a read: the next channel may answer
                problems.append(f"{channel.name}: {error.message}")
            except RequestRefused as error:
                raise RefusedUpstream(
                    f"the upstream refused the list: {error.message}", refusal_code(error.code)
                ) from None
        raise UpstreamFailed("no upstream channel could answer the list: " + "; ".join(problems))

    async def _usable(self, session: Executor) -> list[ChannelChoice]:
        """Rank the channels a call may go to (no upstream capacity is taken by a synchronous call: every enabled
        channel whose credentials are accepted qualifies); say why when there is none."""
        channels, why_none = usable(await all_channels(session), Generation.LEGACY)
        if not channels:
            raise UpstreamFailed(f"the call cannot be sent: {why_none}")
        return rank(channels, {}, PackType.VIDEO, 0, self.rng)

    async def _channels_for(self, owner: Principal, call: str, body: BaseModel) -> tuple[list[ChannelChoice], bool]:
        """List the channels to try in order, and whether the call is bound to the first (its object's owner)."""
        async with self.db.session() as session:
            enabled = await self._usable(session)
            bound = await bound_channel(session, user_id=owner.user_id, body=body, call=call)
        if bound is None:
            return enabled, False
        owner_id, reference = bound
        for channel in enabled:
            if channel.id == owner_id:
                return [channel], True
        raise UpstreamFailed(
            f"{reference.field}: the upstream account that owns {reference.object_id!r} is disabled, and the "
            f"{reference.kind} exists only there; ask an admin to enable it again"
        )

    async def _remember(
        self, owner: Principal, channel: ChannelChoice, data: Mapping[str, object], video_id: str | None
    ) -> None:
        """Remember a session the call opened, and the length of the video it opened on (a status other than 0
        means it was rejected)."""
        session_id = data.get("session_id")
        if not isinstance(session_id, str) or not session_id or data.get("status", 0) != 0:
            return
        async with self.db.session() as session, session.begin():
            await remember_session(
                session,
                user_id=owner.user_id,
                channel_id=channel.id,
                session_id=session_id,
                now_ms=now_ms(),
                video_id=video_id,
            )


def _parsed(family: Family, call: str, raw: object) -> BaseModel:
    try:
        return parse_body(call_schema(family, call), raw)
    except InvalidBody as invalid:
        raise InvalidRequest(invalid.message, param=invalid.field) from None
