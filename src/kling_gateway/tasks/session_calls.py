"""Relay Kling's synchronous session calls (identify-face and the multi-elements selection calls) to the right
upstream account, and remember the sessions they open.

These calls make no task and are not billed: the reference prices tasks only, and the upstream's answer, its
`final_unit_deduction` included, is passed on as it is. A call naming a video or session goes to the channel that
owns it; identify-face and init-selection with a `video_url` go to any enabled channel, highest priority first and
weighted within a priority, failing over to the next while a channel cannot be reached.
"""

from __future__ import annotations

import random
from collections.abc import Mapping

from pydantic import BaseModel

from kling_gateway.channels.affinity import owning_channel, reference_of, remember_session
from kling_gateway.channels.selection import ChannelChoice, enabled_channels, rank
from kling_gateway.clock import now_ms
from kling_gateway.errors import InvalidRequest, NoCapacity, RefusedUpstream, UpstreamFailed
from kling_gateway.keys.service import Principal
from kling_gateway.kling.codes import KlingCode, refusal_code
from kling_gateway.kling.schemas import SYNC_CALLS, Family, InvalidBody, PackType, parse_body
from kling_gateway.store.database import Database
from kling_gateway.upstream.client import KlingClient
from kling_gateway.upstream.errors import ChannelBusy, ChannelUnavailable, OutcomeUnknown, RequestRefused

SESSION_CALLS = tuple(SYNC_CALLS)
"""The synchronous calls, by path after /v1/videos/."""


class SessionCalls:
    """Send the caller's synchronous calls upstream and answer with the upstream's `data`."""

    def __init__(self, db: Database, client: KlingClient, *, rng: random.Random | None = None) -> None:
        self.db = db
        self.client = client
        self.rng = rng or random.Random()

    async def call(self, owner: Principal, call: str, raw: object) -> dict[str, object]:
        """Validate one call's body, send it to the channel it belongs on, and return the upstream's `data`."""
        body = _parsed(call, raw)
        assert isinstance(raw, dict)  # parse_body takes nothing but a JSON object
        channels, pinned = await self._channels_for(owner, call, body)
        path = f"/v1/{Family.VIDEOS}/{call}"
        problems: list[str] = []
        for channel in channels:
            try:
                data = await self.client.call(channel.credentials, path, raw)
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
                await self._remember(owner, channel, data, getattr(body, "video_id", None))
                return data
        if not channels:
            raise UpstreamFailed("no upstream channel is enabled; an admin adds one with `kling-gateway channels add`")
        raise UpstreamFailed("no upstream channel could take the call: " + "; ".join(problems))

    async def _channels_for(self, owner: Principal, call: str, body: BaseModel) -> tuple[list[ChannelChoice], bool]:
        """List the channels to try in order, and whether the call is bound to the first (its object's owner)."""
        reference = reference_of(body)
        async with self.db.session() as session:
            enabled = await enabled_channels(session)
            if reference is None:
                # No upstream capacity is taken by a synchronous call: every enabled channel qualifies.
                return rank(enabled, {}, PackType.VIDEO, 0, self.rng), False
            owner_id = await owning_channel(
                session, user_id=owner.user_id, reference=reference, call=f"{Family.VIDEOS}/{call}"
            )
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


def _parsed(call: str, raw: object) -> BaseModel:
    try:
        return parse_body(SYNC_CALLS[call], raw)
    except InvalidBody as invalid:
        raise InvalidRequest(invalid.message, param=invalid.field) from None
