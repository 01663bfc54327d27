"""Synchronous editing sessions: multi-elements selections and advanced lip-sync face identification.

These calls answer at once (no task) with a `session_id` valid for 24 hours, which a later create refers to.
"""

from __future__ import annotations

import base64
import heapq
import secrets
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from kling_gateway.sandbox.errors import refuse
from kling_gateway.sandbox.media import png_image

if TYPE_CHECKING:
    from kling_gateway.sandbox.store import VideoRecord

SESSION_TTL_MS = 24 * 3600 * 1000
DEFAULT_SOURCE_DURATION_S = 5.0  # a video given by URL is not fetched; assume a 5 s clip
_SOURCE_FPS = 24
_SOURCE_SIZE = (1280, 720)


@dataclass(frozen=True, slots=True)
class SourceClip:
    """The video a call works on: a video of this sandbox, or one given by URL (not fetched, so assumed 5 s)."""

    video_id: str
    url: str
    duration_s: float
    known: bool  # False when the length is assumed

    def parent_view(self) -> dict[str, Any]:
        """Render it as `task_info.parent_video`."""
        return {"id": self.video_id, "url": self.url, "duration": f"{self.duration_s:.1f}"}

    @classmethod
    def from_url(cls, url: str, video_id: str) -> SourceClip:
        """Describe a video given by URL."""
        return cls(video_id=video_id, url=url, duration_s=DEFAULT_SOURCE_DURATION_S, known=False)


class SessionKind(StrEnum):
    """What a session is for: choosing objects to edit (multi-elements) or faces to lip-sync."""

    SELECTION = "selection"
    FACE = "face"


@dataclass(slots=True)
class Session:
    """One editing session of one account, about one source video."""

    session_id: str
    account: str
    kind: SessionKind
    expires_ms: int
    source: SourceClip
    selections: dict[int, list[tuple[float, float]]] = field(default_factory=dict)
    face_ids: tuple[str, ...] = ()


class SessionStore:
    """Hold sessions by id, scoped to their account and kind, dropping them once they expire."""

    def __init__(self) -> None:
        self._sessions: dict[str, Session] = {}
        self._expiries: list[tuple[int, str]] = []

    def open(self, account: str, kind: SessionKind, source: SourceClip, *, now_ms: int) -> Session:
        """Start a session on a source video."""
        while self._expiries and self._expiries[0][0] <= now_ms:
            self._sessions.pop(heapq.heappop(self._expiries)[1], None)
        session = Session(
            session_id=str(secrets.randbelow(9 * 10**17) + 10**17),
            account=account,
            kind=kind,
            expires_ms=now_ms + SESSION_TTL_MS,
            source=source,
            face_ids=("0",) if kind is SessionKind.FACE else (),
        )
        self._sessions[session.session_id] = session
        heapq.heappush(self._expiries, (session.expires_ms, session.session_id))
        return session

    def get(self, account: str, kind: SessionKind, session_id: str, now_ms: int) -> Session | None:
        """Find a live session of this account and kind."""
        session = self._sessions.get(session_id)
        if session is None or session.account != account or session.kind != kind:
            return None
        if session.expires_ms <= now_ms:
            del self._sessions[session_id]
            return None
        return session


def video_facts(session: Session) -> dict[str, Any]:
    """Describe a session's source video as init-selection does."""
    width, height = _SOURCE_SIZE
    return {
        "fps": _SOURCE_FPS,
        "original_duration": round(session.source.duration_s * 1000),
        "width": width,
        "height": height,
        "total_frame": round(session.source.duration_s * _SOURCE_FPS),
        "normalized_video": session.source.url,
    }


def selection_masks(session: Session, frame_index: int) -> dict[str, Any]:
    """Describe the masks of the selected objects on one frame, as add/delete-selection do."""
    width, height = _SOURCE_SIZE
    points = session.selections.get(frame_index, [])
    masks = []
    for object_id, _point in enumerate(points):
        png = base64.b64encode(png_image(width // 8, height // 8, object_id)).decode()
        masks.append(
            {
                "object_id": object_id,
                "rle_mask": {"size": [width, height], "counts": f"{width * height}"},
                "png_mask": {"size": [width // 8, height // 8], "base64": png},
            }
        )
    return {"frame_index": frame_index, "rle_mask_list": masks}


def face_data(session: Session, base_url: str) -> list[dict[str, Any]]:
    """Describe the faces found in a source video, as identify-face does."""
    return [
        {
            "face_id": face_id,
            "face_image": f"{base_url}/files/faces/{session.session_id}-{face_id}.png",
            "start_time": 0,
            "end_time": round(session.source.duration_s * 1000),
        }
        for face_id in session.face_ids
    ]


def clip_of(record: VideoRecord) -> SourceClip:
    """Describe a video of this sandbox as the source of a call."""
    return SourceClip(video_id=record.video_id, url=record.url, duration_s=record.duration_s, known=True)


def check_length(field: str, source: SourceClip, allowed: tuple[tuple[float, float], ...], call: str) -> None:
    """Refuse a source video whose known length the call does not take."""
    if not source.known or any(low <= source.duration_s <= high for low, high in allowed):
        return
    spans = " or ".join(f"{low:g} to {high:g} s" for low, high in allowed)
    raise refuse(f"{field}: video {source.video_id} is {source.duration_s:.1f} s long; {call} takes videos of {spans}")
