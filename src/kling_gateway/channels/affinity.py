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
from decimal import ROUND_CEILING, Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

import orjson
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from kling_gateway.errors import InvalidRequest
from kling_gateway.kling.schemas import ActionSpec, AdvancedLipSync, CreateBody, LipSync, MultiElements, VideoExtend
from kling_gateway.kling.schemas.selection import IdentifyFace, InitSelection, SessionCall
from kling_gateway.store.models import TASKS, UPSTREAM_OBJECTS
from kling_gateway.upstream.client import UpstreamTask

log = logging.getLogger(__name__)

OBJECT_ID_MAX_CHARS = 64  # the width of upstream_objects.object_id; Kling's ids are 18 digits or a UUID
FACE_OPENER = "identify-face"
SELECTION_OPENER = "multi-elements/init-selection"
EXTEND_ACTION = "video-extend"  # its videos are made with the model and mode of the video it extends

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
    session: AsyncSession,
    *,
    user_id: int,
    channel_id: int,
    report: UpstreamTask,
    now_ms: int,
    task_id: int | None = None,
) -> None:
    """Record the videos of a succeeded task as the user's, made on `channel_id`; an id already known is kept.

    With the task's id, each video also keeps the model and mode that made it and its length, what a later
    extension or lip-sync of it is held for (an extension's videos keep those of the video it extended)."""
    videos = list(_videos(report.task_result))
    if not videos:
        return
    model, mode = await _maker(session, task_id, user_id) if task_id is not None else (None, None)
    await _remember(
        session,
        user_id=user_id,
        channel_id=channel_id,
        kind=ObjectKind.VIDEO,
        objects=[ObjectFacts(video_id, model, mode, duration_ms) for video_id, duration_ms in videos],
        now_ms=now_ms,
    )


async def remember_session(
    session: AsyncSession,
    *,
    user_id: int,
    channel_id: int,
    session_id: str,
    now_ms: int,
    video_id: str | None = None,
) -> None:
    """Record a session the user opened on `channel_id`, with the length of its video when that is one of the
    user's own (`video_id`); a session already known is kept."""
    duration_ms = None
    if video_id is not None:
        facts = await object_facts(session, user_id=user_id, kind=ObjectKind.VIDEO, object_id=video_id)
        duration_ms = None if facts is None else facts.duration_ms
    await _remember(
        session,
        user_id=user_id,
        channel_id=channel_id,
        kind=ObjectKind.SESSION,
        objects=[ObjectFacts(session_id, None, None, duration_ms)],
        now_ms=now_ms,
    )


@dataclass(frozen=True, slots=True)
class ObjectFacts:
    """A remembered video or session: its id, the model and mode that made it and its length, where known."""

    object_id: str
    model: str | None
    mode: str | None
    duration_ms: int | None


async def object_facts(session: AsyncSession, *, user_id: int, kind: ObjectKind, object_id: str) -> ObjectFacts | None:
    """Return what is known of one of the user's videos or sessions; None when it is not one of theirs."""
    query = select(_uo.model, _uo.mode, _uo.duration_ms).where(
        _uo.user_id == user_id, _uo.kind == kind.value, _uo.object_id == object_id
    )
    row = (await session.execute(query)).one_or_none()
    if row is None:
        return None
    return ObjectFacts(object_id, row.model, row.mode, None if row.duration_ms is None else int(row.duration_ms))


async def _maker(session: AsyncSession, task_id: int, user_id: int) -> tuple[str | None, str | None]:
    """Name the model and mode a task's videos were made with: its own, or for an extension its source's."""
    row = (
        await session.execute(select(TASKS.c.action, TASKS.c.model, TASKS.c.request_json).where(TASKS.c.id == task_id))
    ).one_or_none()
    if row is None:
        return None, None
    request = _request(row.request_json)
    if row.action == EXTEND_ACTION:
        source = request.get("video_id")
        if not isinstance(source, str):
            return None, None
        facts = await object_facts(session, user_id=user_id, kind=ObjectKind.VIDEO, object_id=source)
        return (None, None) if facts is None else (facts.model, facts.mode)
    mode = request.get("mode")
    model = request.get("model_name")
    return (model if isinstance(model, str) else row.model), (mode if isinstance(mode, str) else None)


def _request(text: str) -> dict[str, Any]:
    try:
        request = orjson.loads(text)
    except orjson.JSONDecodeError:
        return {}
    return request if isinstance(request, dict) else {}


def _videos(task_result: dict[str, Any]) -> Iterator[tuple[str, int | None]]:
    """Yield each video of a result (legacy `videos[]`, or the new generation's `outputs[]` of type video): its id
    and its length in ms (None when the upstream did not say)."""
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
            yield video_id, _milliseconds(video.get("duration"))


def _milliseconds(seconds: object) -> int | None:
    """Read a length in seconds ("5.04", as Kling writes it, or a number) as whole milliseconds."""
    if isinstance(seconds, bool) or not isinstance(seconds, str | int | float):
        return None
    try:
        value = Decimal(str(seconds))
    except InvalidOperation:
        return None
    if not value.is_finite() or value < 0:
        return None
    return int((value * 1000).to_integral_value(rounding=ROUND_CEILING))


async def _remember(
    session: AsyncSession,
    *,
    user_id: int,
    channel_id: int,
    kind: ObjectKind,
    objects: Iterable[ObjectFacts],
    now_ms: int,
) -> None:
    rows = []
    for facts in {facts.object_id: facts for facts in objects}.values():
        object_id = facts.object_id
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
                "model": facts.model,
                "mode": facts.mode,
                "duration_ms": facts.duration_ms,
            }
        )
    if not rows:
        return
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    await session.execute(insert(UPSTREAM_OBJECTS).values(rows).on_conflict_do_nothing())
