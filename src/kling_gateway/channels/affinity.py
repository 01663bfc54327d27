"""Channel affinity: a video, session, element or voice exists only on the upstream account that made it, so a call
naming one must go to that account.

The gateway remembers, per user, which channel made each video, element and voice (when its task succeeds) and
opened each session (when identify-face or init-selection answers). A reference is looked up only among the
caller's own objects, so another user's video or session reads exactly like one that does not exist. Elements and
voices differ in one way: Kling's official presets belong to every account, and the gateway does not keep their
list, so an element or voice id that no user made here is taken for a preset and may go to any channel (the
upstream then says whether it exists); only an id another user made is refused.
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
from kling_gateway.kling.schemas.audio import VideoToAudio
from kling_gateway.kling.schemas.base import ElementRef
from kling_gateway.kling.schemas.library import CustomElement, CustomVoice, DeleteElement, DeleteVoice
from kling_gateway.kling.schemas.new_parts import Content
from kling_gateway.kling.schemas.selection import IdentifyFace, InitSelection, SessionCall
from kling_gateway.kling.schemas.videos import VoiceRef
from kling_gateway.store.models import CHANNELS, TASKS, UPSTREAM_OBJECTS
from kling_gateway.upstream.client import UpstreamTask

log = logging.getLogger(__name__)

OBJECT_ID_MAX_CHARS = 64  # the width of upstream_objects.object_id; Kling's ids are 18 digits or a UUID
FACE_OPENER = "identify-face"
SELECTION_OPENER = "multi-elements/init-selection"
PRESET_OWNER = "kling"  # the `owned_by` of Kling's official elements and voices
EXTEND_ACTION = "video-extend"  # its videos are made with the model and mode of the video it extends

_uo = UPSTREAM_OBJECTS.c


class ObjectKind(StrEnum):
    """What an upstream object is."""

    VIDEO = "video"
    SESSION = "session"
    ELEMENT = "element"
    VOICE = "voice"


@dataclass(frozen=True, slots=True)
class Reference:
    """A body's mention of an upstream object: which object, and the field that names it."""

    kind: ObjectKind
    object_id: str
    field: str
    opener: str = ""  # for a session: the call that opens one
    preset: bool = False  # the id may name one of Kling's official elements or voices, which no account owns


def references_of(body: BaseModel) -> list[Reference]:
    """Find every video, session, element and voice a create or synchronous call body refers to."""
    named = (_edited_object(body), _general_object(body))
    return [reference for reference in named if reference is not None] + _library_references(body)


def _edited_object(body: BaseModel) -> Reference | None:
    """Find the video or session a body works on; None for a `video_url` or nothing."""
    match body:
        case VideoExtend(video_id=video_id):
            return Reference(ObjectKind.VIDEO, video_id, "video_id")
        case LipSync() if body.input.video_id is not None:
            return Reference(ObjectKind.VIDEO, body.input.video_id, "input.video_id")
        case (
            InitSelection(video_id=str(video_id))
            | IdentifyFace(video_id=str(video_id))
            | VideoToAudio(video_id=str(video_id))
        ):
            return Reference(ObjectKind.VIDEO, video_id, "video_id")
        case AdvancedLipSync(session_id=session_id):
            return Reference(ObjectKind.SESSION, session_id, "session_id", FACE_OPENER)
        case MultiElements(session_id=session_id) | SessionCall(session_id=session_id):
            return Reference(ObjectKind.SESSION, session_id, "session_id", SELECTION_OPENER)
    return None


def _general_object(body: BaseModel) -> Reference | None:
    """Find the object a `/v1/general` body names: a voice's source video, an element's voice, what is deleted."""
    match body:
        case CustomVoice() if body.source_video_id() is not None:
            return Reference(ObjectKind.VIDEO, str(body.source_video_id()), "video_id")
        case CustomElement(element_voice_id=str(voice_id)):
            return Reference(ObjectKind.VOICE, voice_id, "element_voice_id", preset=True)
        case DeleteElement(element_id=element_id):  # only custom elements can be deleted: no preset
            return Reference(ObjectKind.ELEMENT, element_id, "element_id")
        case DeleteVoice(voice_id=voice_id):
            return Reference(ObjectKind.VOICE, voice_id, "voice_id")
    return None


def _library_references(body: BaseModel) -> list[Reference]:
    """Find the elements and voices a body's lists name: legacy `element_list[]` and `voice_list[]`, and new-style
    `contents[]` items of type element and voice."""
    found = []
    for name in type(body).model_fields:
        items = getattr(body, name)
        if not isinstance(items, list):
            continue
        for index, item in enumerate(items):
            where = f"{name}[{index}]"
            match item:
                case ElementRef(element_id=element_id):
                    found.append(Reference(ObjectKind.ELEMENT, str(element_id), f"{where}.element_id", preset=True))
                case VoiceRef(voice_id=voice_id):
                    found.append(Reference(ObjectKind.VOICE, voice_id, f"{where}.voice_id", preset=True))
                case Content(type="element", element_id=str(element_id)):
                    found.append(Reference(ObjectKind.ELEMENT, element_id, f"{where}.element_id", preset=True))
                case Content(type="voice", voice_id=str(voice_id)):
                    found.append(Reference(ObjectKind.VOICE, voice_id, f"{where}.voice_id", preset=True))
    return found


async def required_channel(session: AsyncSession, *, user_id: int, spec: ActionSpec, body: CreateBody) -> int | None:
    """Return the channel a create must go to: the one holding the objects it names; None if it names none.

    Raise InvalidRequest when a named object is not one of the caller's own.
    """
    bound = await bound_channel(session, user_id=user_id, body=body, call=f"{spec.family}/{spec.action}")
    return None if bound is None else bound[0]


async def bound_channel(
    session: AsyncSession, *, user_id: int, body: BaseModel, call: str
) -> tuple[int, Reference] | None:
    """Return the one channel holding every object a body names, with the first reference to one; None when it
    names none (or only presets).

    Raise InvalidRequest naming the field when an object is not the caller's own, or when two are on different
    channels (no upstream account holds both).
    """
    bound: tuple[int, Reference] | None = None
    for reference in references_of(body):
        channel_id = await _holder(session, user_id=user_id, reference=reference, call=call)
        if channel_id is None:
            continue
        if bound is None:
            bound = channel_id, reference
        elif bound[0] != channel_id:
            raise InvalidRequest(
                f"{reference.field}: {reference.object_id!r} was made on another upstream account than "
                f"{bound[1].field} ({bound[1].object_id!r}), and no account holds both, so one {call} cannot use "
                "them together",
                param=reference.field,
            )
    return bound


async def _holder(session: AsyncSession, *, user_id: int, reference: Reference, call: str) -> int | None:
    """Return the channel holding one of the caller's objects; None for a possible preset (an element or voice
    nobody made here); raise InvalidRequest naming the field for any other id."""
    query = (
        select(_uo.user_id, _uo.channel_id, CHANNELS.c.name, CHANNELS.c.removed_at)
        .join(CHANNELS, CHANNELS.c.id == _uo.channel_id)
        .where(_uo.kind == reference.kind.value, _uo.object_id == reference.object_id)
    )
    if not reference.preset:
        query = query.where(_uo.user_id == user_id)
    makers = (await session.execute(query)).all()
    for maker in makers:
        if maker.user_id == user_id and maker.removed_at is not None:
            raise InvalidRequest(
                f"{reference.field}: {reference.object_id!r} is on the upstream account of channel {maker.name!r}, "
                f"which was removed from this gateway, so {call} cannot use it",
                param=reference.field,
            )
        if maker.user_id == user_id:
            return int(maker.channel_id)
    if reference.preset and not makers:
        # Kling's presets are on every account and their list is the upstream's, so any channel will do; an id that
        # is neither a preset nor anything of any account is refused there, and the task fails uncharged.
        return None
    raise InvalidRequest(_not_yours(reference, call), param=reference.field)


_LIBRARY = {
    ObjectKind.ELEMENT: (
        "an element",
        "task_result.elements of your advanced-custom-elements tasks",
        "advanced-presets-elements",
    ),
    ObjectKind.VOICE: ("a voice", "task_result.voices of your custom-voices tasks", "presets-voices"),
}


def _not_yours(reference: Reference, call: str) -> str:
    named = f"{reference.field}: {reference.object_id!r}"
    if reference.kind in _LIBRARY:
        what, source, presets = _LIBRARY[reference.kind]
        also = f", or one of GET /v1/general/{presets}" if reference.preset else ""
        return f"{named} is not {what} you made here, so {call} cannot use it (use one from {source}{also})"
    if reference.kind is ObjectKind.VIDEO:
        return (
            f"{named} is not a video of one of your tasks, so {call} cannot use it (use an id from "
            "task_result.videos of a task you ran here, or give video_url where the call takes one)"
        )
    return (
        f"{named} is not a session you opened here, so {call} cannot use it (open one with "
        f"POST /v1/videos/{reference.opener} and use the session_id it answers; sessions last 24 hours)"
    )


async def remember_results(
    session: AsyncSession,
    *,
    user_id: int,
    channel_id: int,
    report: UpstreamTask,
    now_ms: int,
    task_id: int | None = None,
) -> None:
    """Record the videos, elements and voices of a succeeded task as the user's, made on `channel_id`; an id
    already known is kept.

    With the task's id, each video also keeps the model and mode that made it and its length, what a later
    extension or lip-sync of it is held for (an extension's videos keep those of the video it extended)."""
    videos = list(_videos(report.task_result))
    if videos:
        model, mode = await _maker(session, task_id, user_id) if task_id is not None else (None, None)
        made = [ObjectFacts(video_id, model, mode, duration_ms) for video_id, duration_ms in videos]
        await _remember(
            session, user_id=user_id, channel_id=channel_id, kind=ObjectKind.VIDEO, objects=made, now_ms=now_ms
        )
    for kind, ids in _library_objects(report.task_result).items():
        made = [ObjectFacts(object_id, None, None, None) for object_id in ids]
        await _remember(session, user_id=user_id, channel_id=channel_id, kind=kind, objects=made, now_ms=now_ms)


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


def _library_objects(task_result: dict[str, Any]) -> dict[ObjectKind, list[str]]:
    """List the custom elements and voices a result made: `elements[]`, the voice an element made from a video
    with speech (a bound preset is nobody's), and `voices[]`."""
    made: dict[ObjectKind, list[str]] = {ObjectKind.ELEMENT: [], ObjectKind.VOICE: []}
    for element in _items(task_result, "elements"):
        made[ObjectKind.ELEMENT].append(str(element.get("element_id") or ""))
        voice = element.get("element_voice_info")
        if isinstance(voice, dict) and voice.get("owned_by") != PRESET_OWNER:
            made[ObjectKind.VOICE].append(str(voice.get("voice_id") or ""))
    made[ObjectKind.VOICE] += [str(voice.get("voice_id") or "") for voice in _items(task_result, "voices")]
    return {kind: [object_id for object_id in ids if object_id] for kind, ids in made.items() if any(ids)}


def _items(task_result: dict[str, Any], key: str) -> list[dict[str, Any]]:
    items = task_result.get(key)
    return [item for item in items if isinstance(item, dict)] if isinstance(items, list) else []


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
