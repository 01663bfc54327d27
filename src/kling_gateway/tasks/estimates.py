"""What a submit holds: the most the task can be charged, by the upstream's price table, so that a hold is never
smaller than the charge it leads to.

The table prices a task by its body, except where the charge depends on a video the body only names: an extension
is priced at the row of its source video's model and mode, a lip-sync by its source video's length. The gateway
knows a source video it made (its model, mode and length are remembered when its task succeeds); one it does not
know (a URL, a video from before those were kept) is held at the dearest the endpoint allows: the longest source
it accepts, the dearest model and mode it can extend.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from kling_gateway.channels.affinity import ObjectFacts, ObjectKind, object_facts
from kling_gateway.kling.pricing import PRICED_BY_SOURCE, RATES, SourceVideo, unit_cost
from kling_gateway.kling.schemas import (
    ActionSpec,
    AdvancedLipSync,
    Avatar,
    CreateBody,
    LipSync,
    MotionControl,
    VideoExtend,
)

# The longest source video each call accepts (reference §2.8): lip-sync 2-10 s by URL (5-10 s by id), and the
# face session of an advanced lip-sync is opened on a video of 2-60 s.
LIP_SYNC_LONGEST_SOURCE_S = 10.0
FACE_SESSION_LONGEST_SOURCE_S = 60.0
# Tasks billed on an output length no body states: motion control follows its reference video, at most 10 s when
# the character keeps the image's orientation and 30 s when it follows the video's (log 2025-12-22); an avatar
# speaks its audio, 2-300 s (reference §2.11).
MOTION_LONGEST_REFERENCE_S = {"image": 10.0, "video": 30.0}
AVATAR_LONGEST_AUDIO_S = 300.0


async def hold_units(session: AsyncSession, *, user_id: int, spec: ActionSpec, body: CreateBody) -> Decimal:
    """Return the most units this task can be charged when it succeeds, knowing the user's source videos."""
    sources = await _sources(session, user_id, body)
    output_s = _longest_output_s(body)
    return max(unit_cost(spec, body, source=source, output_s=output_s) for source in sources)


def _longest_output_s(body: CreateBody) -> float | None:
    """The longest output a task billed on its output's length can make; None where the body says how long."""
    match body:
        case MotionControl(character_orientation=orientation):
            return MOTION_LONGEST_REFERENCE_S[orientation]
        case Avatar():
            return AVATAR_LONGEST_AUDIO_S
    return None


async def _sources(session: AsyncSession, user_id: int, body: CreateBody) -> list[SourceVideo | None]:
    """List the source videos the task may be priced at: the known one, else every one the endpoint allows."""
    match body:
        case VideoExtend(video_id=video_id):
            facts = await object_facts(session, user_id=user_id, kind=ObjectKind.VIDEO, object_id=video_id)
            known = _extended(body, facts)
            return [known] if known is not None else list(_extendable(body))
        case LipSync() if body.input.video_id is not None:
            facts = await object_facts(session, user_id=user_id, kind=ObjectKind.VIDEO, object_id=body.input.video_id)
            return [_as_long_as(facts, LIP_SYNC_LONGEST_SOURCE_S)]
        case LipSync():
            return [_as_long_as(None, LIP_SYNC_LONGEST_SOURCE_S)]
        case AdvancedLipSync(session_id=session_id):
            facts = await object_facts(session, user_id=user_id, kind=ObjectKind.SESSION, object_id=session_id)
            return [_as_long_as(facts, FACE_SESSION_LONGEST_SOURCE_S)]
    return [None]


def _extended(body: CreateBody, facts: ObjectFacts | None) -> SourceVideo | None:
    """The source of an extension when the gateway knows what made it and the table prices extending it."""
    if facts is None or facts.model is None:
        return None
    key = (facts.model, facts.mode or "std", PRICED_BY_SOURCE[body.model()])
    if key not in RATES:
        return None
    return SourceVideo(facts.model, facts.mode, _seconds(facts) or 0.0)


def _extendable(body: CreateBody) -> Iterator[SourceVideo]:
    """Every source the table prices an extension of: an unknown source is held at the dearest of them."""
    variant = PRICED_BY_SOURCE[body.model()]
    for model, mode, row in RATES:
        if row == variant:
            yield SourceVideo(model, mode, 0.0)


def _as_long_as(facts: ObjectFacts | None, longest_s: float) -> SourceVideo:
    """A source priced by its length: the known one, else the longest the call accepts (its model plays no part)."""
    seconds = _seconds(facts) if facts is not None else None
    return SourceVideo("", None, longest_s if seconds is None else seconds)


def _seconds(facts: ObjectFacts) -> float | None:
    return None if facts.duration_ms is None else facts.duration_ms / 1000
