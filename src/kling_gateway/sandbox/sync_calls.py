"""The sandbox's synchronous calls: TTS, recognition, library deletes, selection editing and face identification.

They answer in the create response and deduct their price at once, on the state of the one `Sandbox` they serve.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from kling_gateway.kling.pricing import sync_call_cost
from kling_gateway.kling.schemas import Package, SyncSpec
from kling_gateway.kling.schemas.audio import TextToSpeech
from kling_gateway.kling.schemas.library import DeleteElement, DeleteVoice
from kling_gateway.kling.schemas.recognition import ImageRecognize
from kling_gateway.kling.schemas.selection import (
    AddSelection,
    ClearSelection,
    DeleteSelection,
    IdentifyFace,
    InitSelection,
    PreviewSelection,
    SessionCall,
)
from kling_gateway.sandbox import products
from kling_gateway.sandbox import sessions as session_views
from kling_gateway.sandbox.deductions import Facts, charge, deduction_fields, product_function
from kling_gateway.sandbox.errors import refuse
from kling_gateway.sandbox.sessions import Session, SessionKind, SourceClip, check_length, clip_of
from kling_gateway.sandbox.store import AudioRecord

if TYPE_CHECKING:
    from kling_gateway.sandbox.service import Sandbox

# Source lengths in seconds each call accepts (reference §2.7): (shortest, longest) ranges.
_SELECTION_SOURCE_S = ((2.0, 5.0), (7.0, 10.0))
_FACE_SOURCE_S = ((2.0, 60.0),)


class SyncCalls:
    """Answer the synchronous calls of one sandbox."""

    def __init__(self, sandbox: Sandbox) -> None:
        self._sandbox = sandbox

    def run(
        self, account: str, spec: SyncSpec, body: BaseModel, *, base_url: str, now_ms: int, request_id: str
    ) -> dict[str, Any]:
        """Answer one synchronous call, deducting its price at once; `request_id` is the envelope's."""
        units = sync_call_cost(spec.family, spec.call)
        payer = self._sandbox._payer(account, spec.package or Package.VIDEO)
        if spec.package is not None:
            self._sandbox._reserve_units(account, spec.package, payer, units, now_ms)
        data = self._sync_answer(account, body, base_url=base_url, now_ms=now_ms)
        if spec.package is None:
            return data
        # A call whose answer has no task id (recognition) is recorded under its request_id.
        task_id = str(data.get("task_id") or request_id)
        facts = Facts(product_function(spec.call), spec.call, spec.package.value)
        deduction = charge(
            task_id=task_id, account=account, payer=payer, units=units, package=spec.package, facts=facts, at_ms=now_ms
        )
        if payer.currency is None:
            self._sandbox.units.add((account, spec.package), units, due_ms=now_ms)
        self._sandbox.call_deductions.append(deduction)
        data.pop("final_unit_deduction", None)
        return data | deduction_fields(deduction)

    def _sync_answer(self, account: str, body: BaseModel, *, base_url: str, now_ms: int) -> dict[str, Any]:
        if isinstance(body, TextToSpeech):
            audio_id, seconds = self._sandbox.new_id(), products.speech_seconds(body.text, body.voice_speed)
            self._sandbox.tasks.add_audio(AudioRecord(audio_id, seconds))
            return {
                "task_id": self._sandbox.new_id(),
                "task_status": "succeed",
                "task_status_msg": "",
                "task_result": {"audios": [products.tts_item(base_url, audio_id, seconds)]},
                "created_at": now_ms,
                "updated_at": now_ms,
            }
        if isinstance(body, ImageRecognize):
            found = tuple(self._sandbox.rng.random() < 0.8 for _ in products.SEGMENT_TYPES)
            images = products.recognition_images(base_url, self._sandbox.new_id(), found)
            return {"task_result": {"images": images}}
        if isinstance(body, DeleteElement | DeleteVoice):
            if isinstance(body, DeleteElement):
                self._sandbox.library.delete_element(account, body.element_id, now_ms)
            else:
                self._sandbox.library.delete_voice(account, body.voice_id, now_ms)
            return {"task_id": self._sandbox.new_id(), "task_status": "succeed"}
        return self._session_call(account, body, base_url=base_url, now_ms=now_ms)

    def _session_call(self, account: str, body: BaseModel, *, base_url: str, now_ms: int) -> dict[str, Any]:
        """Answer one selection-editing or face-identification call."""
        data: dict[str, Any] = {"status": 0, "final_unit_deduction": "0"}
        if isinstance(body, InitSelection | IdentifyFace):
            face = isinstance(body, IdentifyFace)
            source = self._sync_source(account, body.video_id, body.video_url, now_ms)
            allowed = _FACE_SOURCE_S if face else _SELECTION_SOURCE_S
            check_length("video_id", source, allowed, "identify-face" if face else "init-selection")
            kind = SessionKind.FACE if face else SessionKind.SELECTION
            session = self._sandbox.sessions.open(account, kind, source, now_ms=now_ms)
            data["session_id"] = session.session_id
            if face:
                data["face_data"] = session_views.face_data(session, base_url)
            else:
                data.update(session_views.video_facts(session))
            return data
        if not isinstance(body, SessionCall):
            raise TypeError(f"not a synchronous call body: {type(body).__name__}")
        session = self._sandbox._live_session(account, SessionKind.SELECTION, body.session_id, now_ms)
        data["session_id"] = session.session_id
        if isinstance(body, AddSelection | DeleteSelection):
            self._edit_selection(session, body)
            data["res"] = session_views.selection_masks(session, body.frame_index)
        elif isinstance(body, ClearSelection):
            session.selections.clear()
        elif isinstance(body, PreviewSelection):
            data["res"] = {
                "video": session.source.url,
                "video_cover": f"{base_url}/files/faces/{session.session_id}-cover.png",
                "tracking_output": session.source.url,
            }
        return data

    def _sync_source(self, account: str, video_id: str | None, video_url: str | None, now_ms: int) -> SourceClip:
        if video_id is not None:
            return clip_of(self._sandbox._own_video(account, video_id, now_ms, field="video_id"))
        assert video_url is not None  # the schema requires one of the two
        return SourceClip.from_url(video_url, self._sandbox.new_id())

    def _edit_selection(self, session: Session, body: AddSelection | DeleteSelection) -> None:
        total_frames = session_views.video_facts(session)["total_frame"]
        if body.frame_index >= total_frames:
            raise refuse(
                f"frame_index: the video has {total_frames} frames; frame_index must be below that "
                f"(got {body.frame_index})"
            )
        points = list(dict.fromkeys((point.x, point.y) for point in body.points))
        selected = session.selections.setdefault(body.frame_index, [])
        if isinstance(body, AddSelection):
            selected.extend(point for point in points if point not in selected)
            return
        if not all(point in selected for point in points):
            raise refuse(
                f"points: do not match the points selected on frame {body.frame_index}; "
                "delete-selection takes exactly the points add-selection was given"
            )
        for point in points:
            selected.remove(point)
