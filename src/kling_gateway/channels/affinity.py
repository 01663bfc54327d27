"""Channel affinity: a video or session exists only on the upstream account that made it, so a call naming one
must go to that account.

The gateway remembers, per user, which channel made each video (when its task succeeds) and opened each session
(when identify-face or init-selection answers). A reference is looked up only among the caller's own objects, so
another user's id reads exactly like one that does not exist.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from kling_gateway.errors import InvalidRequest
from kling_gateway.kling.schemas import ActionSpec, AdvancedLipSync, CreateBody, LipSync, MultiElements, VideoExtend
from kling_gateway.kling.schemas.selection import IdentifyFace, InitSelection, SessionCall
from kling_gateway.store.models import UPSTREAM_OBJECTS
from kling_gateway.upstream.client import UpstreamTask

log = logging.getLogger(__name__)

OBJECT_ID_MAX_CHARS = 64  # the width of upstream_objects.object_id; Kling's ids are 18 digits or a UUID
FACE_OPENER = "identify-face"
SELECTION_OPENER = "multi-elements/init-selection"

_uo = UPSTREAM_OBJECTS.c


class ObjectKind(StrEnum):
    """What an upstream object is."""

    VIDEO = "video"
    SESSION = "session"


@dataclass(frozen=True, slots=True)
class Reference:
    """A body's mention of an upstream object: which object, and the field that names it."""

    kind: ObjectKind
    object_id: str
    field: str
    opener: str = ""  # for a session: the call that opens one


def reference_of(body: BaseModel) -> Reference | None:
    """Find the video or session a create or synchronous call body refers to; None for a `video_url` or nothing."""
    match body:
        case VideoExtend(video_id=video_id):
            return Reference(ObjectKind.VIDEO, video_id, "video_id")
        case LipSync() if body.input.video_id is not None:
            return Reference(ObjectKind.VIDEO, body.input.video_id, "input.video_id")
        case InitSelection(video_id=str(video_id)) | IdentifyFace(video_id=str(video_id)):
            return Reference(ObjectKind.VIDEO, video_id, "video_id")
        case AdvancedLipSync(session_id=session_id):
            return Reference(ObjectKind.SESSION, session_id, "session_id", FACE_OPENER)
        case MultiElements(session_id=session_id) | SessionCall(session_id=session_id):
            return Reference(ObjectKind.SESSION, session_id, "session_id", SELECTION_OPENER)
    return None


async def required_channel(session: AsyncSession, *, user_id: int, spec: ActionSpec, body: CreateBody) -> int | None:
    """Return the channel a create must go to: the one owning the video or session it names; None if it names none.

    Raise InvalidRequest when the named object is not one of the caller's own.
    """
    reference = reference_of(body)
    if reference is None:
        return None
    return await owning_channel(session, user_id=user_id, reference=reference, call=f"{spec.family}/{spec.action}")


async def owning_channel(session: AsyncSession, *, user_id: int, reference: Reference, call: str) -> int:
    """Return the channel that made one of the caller's objects; raise InvalidRequest naming the field if none did."""
    query = select(_uo.channel_id).where(
        _uo.user_id == user_id, _uo.kind == reference.kind.value, _uo.object_id == reference.object_id
    )
    channel_id = (await session.execute(query)).scalar_one_or_none()
    if channel_id is None:
        raise InvalidRequest(_not_yours(reference, call), param=reference.field)
    return int(channel_id)


def _not_yours(reference: Reference, call: str) -> str:
    named = f"{reference.field}: {reference.object_id!r}"
    if reference.kind is ObjectKind.VIDEO:
        return (
            f"{named} is not a video of one of your tasks, so {call} cannot use it (use an id from "
            "task_result.videos of a task you ran here, or give video_url where the call takes one)"
        )
    return (
        f"{named} is not a session you opened here, so {call} cannot use it (open one with "
        f"POST /v1/videos/{reference.opener} and use the session_id it answers; sessions last 24 hours)"
    )


async def remember_videos(
    session: AsyncSession, *, user_id: int, channel_id: int, report: UpstreamTask, now_ms: int
) -> None:
    """Record the videos of a succeeded task as the user's, made on `channel_id`; an id already known is kept."""
    ids = list(_video_ids(report.task_result))
    await _remember(session, user_id=user_id, channel_id=channel_id, kind=ObjectKind.VIDEO, ids=ids, now_ms=now_ms)


async def remember_session(
    session: AsyncSession, *, user_id: int, channel_id: int, session_id: str, now_ms: int
) -> None:
    """Record a session the user opened on `channel_id`; a session already known is kept."""
    await _remember(
        session, user_id=user_id, channel_id=channel_id, kind=ObjectKind.SESSION, ids=[session_id], now_ms=now_ms
    )


def _video_ids(task_result: dict[str, Any]) -> Iterator[str]:
    """The ids of a result's videos: legacy `videos[]`, or the new generation's `outputs[]` of type video."""
    videos = task_result.get("videos")
    outputs = task_result.get("outputs")
    if not isinstance(videos, list):
        videos = (
            [o for o in outputs if isinstance(o, dict) and o.get("type") == "video"]
            if isinstance(outputs, list)
            else []
        )
    for video in videos:
        video_id = video.get("id") if isinstance(video, dict) else None
        if isinstance(video_id, str) and video_id:
            yield video_id


async def _remember(
    session: AsyncSession, *, user_id: int, channel_id: int, kind: ObjectKind, ids: Iterable[str], now_ms: int
) -> None:
    rows = []
    for object_id in dict.fromkeys(ids):
        if len(object_id) > OBJECT_ID_MAX_CHARS:
            # Kling's ids are far shorter; such an id cannot be stored, and later calls naming it will be refused.
            log.warning(
                "not remembering %s %r of user %s: longer than %d characters",
                kind,
                object_id,
                user_id,
                OBJECT_ID_MAX_CHARS,
            )
            continue
        rows.append(
            {
                "user_id": user_id,
                "kind": kind.value,
                "object_id": object_id,
                "channel_id": channel_id,
                "created_at": now_ms,
            }
        )
    if not rows:
        return
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    await session.execute(insert(UPSTREAM_OBJECTS).values(rows).on_conflict_do_nothing())
