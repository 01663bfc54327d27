"""What the sandbox does for an authenticated account: create tasks, answer synchronous calls, report costs."""

from __future__ import annotations

import random
from decimal import Decimal
from typing import Any

from pydantic import BaseModel

from kling_gateway.kling.codes import KlingCode
from kling_gateway.kling.pricing import SourceVideo, sync_call_cost, unit_cost
from kling_gateway.kling.schemas import (
    ActionSpec,
    AdvancedLipSync,
    CreateBody,
    Family,
    LipSync,
    MultiElements,
    OmniImage,
    Package,
    PackType,
    SyncSpec,
    VideoExtend,
)
from kling_gateway.kling.schemas.audio import TextToAudio, TextToSpeech, VideoToAudio
from kling_gateway.kling.schemas.library import AiMultiShot, CustomElement, CustomVoice, DeleteElement, DeleteVoice
from kling_gateway.kling.schemas.new_video import MotionControl as NewMotionControl
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
from kling_gateway.kling.versions import model_version
from kling_gateway.sandbox import exports, products
from kling_gateway.sandbox import sessions as session_views
from kling_gateway.sandbox.config import Account, SandboxConfig
from kling_gateway.sandbox.deductions import (
    Deduction,
    Facts,
    charge,
    deduction_fields,
    product_function,
    task_deduction,
)
from kling_gateway.sandbox.errors import SandboxError
from kling_gateway.sandbox.library import Library, preset_voice_ids
from kling_gateway.sandbox.lifecycle import draw_timeline
from kling_gateway.sandbox.media import CLIP_SECONDS, clip_seconds_for
from kling_gateway.sandbox.references import motion_reference
from kling_gateway.sandbox.sessions import Session, SessionKind, SessionStore, SourceClip
from kling_gateway.sandbox.store import (
    AudioRecord,
    Origin,
    Payer,
    SandboxTask,
    TaskStore,
    TimedAmounts,
    VideoRecord,
)

_EXTEND_MAX_TOTAL_S = 180.0  # an extended video may reach 3 minutes
_EXTENDABLE_MODELS = ("kling-v1", "kling-v1-5", "kling-v1-6")
_EXTENDABLE_ACTIONS = ("text2video", "image2video", "video-extend")
_PACK_VALIDITY_MS = 90 * 24 * 3600 * 1000
_COSTS_MIN_INTERVAL_MS = 1000  # `/account/costs` allows 1 query per second
# Source lengths in seconds each call accepts (reference §2.7, §2.8): (shortest, longest) ranges.
_SELECTION_SOURCE_S = ((2.0, 5.0), (7.0, 10.0))
_LIP_SYNC_SOURCE_S = ((5.0, 10.0),)
_FACE_SOURCE_S = ((2.0, 60.0),)
_SERIES_AUTO_RANGE = (2, 9)  # how many images a series of "auto" length may turn out to hold
# The status and code of the retired-model answer were not recorded (2026 §6); 400 / 1201 is how every other
# refused value is answered, so a client handles it like any bad model_name.
_RETIRED = "The model '{model}' has been discontinued and is no longer available."


def _refuse(message: str) -> SandboxError:
    return SandboxError(KlingCode.ILLEGAL_VALUE, message)


class Sandbox:
    """Hold the sandbox's state and apply the official rules to every call."""

    def __init__(self, config: SandboxConfig, *, started_ms: int) -> None:
        self.config = config
        self.accounts: dict[str, Account] = {account.access_key: account for account in config.accounts}
        self.capacity = {
            PackType.VIDEO: config.video_concurrency,
            PackType.IMAGE: config.image_concurrency,
            PackType.TRY_ON: config.try_on_concurrency,
        }
        self.reset(started_ms=started_ms)

    def reset(self, *, started_ms: int) -> None:
        """Forget every task, session and count, as a sandbox just started would; its settings stay."""
        self.tasks = TaskStore()
        self.sessions = SessionStore()
        self.slots = TimedAmounts()  # slots held until each running task ends
        self.units = TimedAmounts()  # units promised by tasks that will succeed, deducted as they do
        self.library = Library()
        self.call_deductions: list[Deduction] = []  # what synchronous calls took, in the order they were made
        self.rng = random.Random(self.config.seed)
        self.started_ms = started_ms
        for voice_id in preset_voice_ids():
            self.tasks.add_audio(AudioRecord(voice_id, products.VOICE_TRIAL_S))
        self._last_costs_ms: dict[str, int] = {}

    def new_id(self) -> str:
        """Make an unused 18-digit numeric id, as the current API's task and video ids are."""
        while True:
            candidate = str(self.rng.randrange(10**17, 10**18))
            if self.tasks.task_by_id(candidate) is None and self.tasks.video_by_id(candidate) is None:
                return candidate

    def create_task(
        self, account: str, spec: ActionSpec, body: CreateBody, *, base_url: str, now_ms: int
    ) -> SandboxTask:
        """Accept a valid create body: check what it refers to, its pack and its slots, then store its task."""
        self._refuse_retired(spec, body)
        if body.external_task_id is not None:
            existing = self.tasks.find_external(account, body.external_task_id)
            if existing is not None:
                raise _refuse(
                    f"external_task_id: {body.external_task_id!r} is already used by task "
                    f"{existing.task_id} of this account; it must be unique per account"
                )
        source, origin = self._source_of(account, body, now_ms)
        if origin is None:
            origin = Origin(spec.action, body.model(), body.mode())
        priced = SourceVideo(origin.model, origin.mode, source.duration_s) if source else None
        pack_type, slots = body.slots()
        images_made = self._series_length(body)
        if images_made is not None:
            slots = images_made  # §7: a series holds a slot per image it makes
        units = unit_cost(spec, body, source=priced, images_made=images_made)
        payer = self._payer(account, body.package())
        self._reserve_units(account, body.package(), payer, units, now_ms)
        slot_key = (account, pack_type, model_version(body.model()))
        if self.slots.pending(slot_key, now_ms) + slots > self.capacity[pack_type]:
            raise SandboxError(KlingCode.CONCURRENCY_LIMIT, KlingCode.CONCURRENCY_LIMIT.message)
        timeline = draw_timeline(
            spec, body, now_ms=now_ms, speed=self.config.speed, failure_rate=self.config.failure_rate, rng=self.rng
        )
        self.slots.add(slot_key, Decimal(slots), due_ms=timeline.finished_ms)
        if timeline.failure_message is None and payer.currency is None:
            self.units.add((account, body.package()), units, due_ms=timeline.finished_ms)
        task_id = self.new_id()
        task = SandboxTask(
            task_id=task_id,
            account=account,
            spec=spec,
            body=body,
            timeline=timeline,
            units=units,
            result=self._result(task_id, account, spec, body, base_url, source, images_made, now_ms),
            origin=origin,
            parent_video=source.parent_view() if source and spec.action in _SHOWS_PARENT else None,
            payer=payer,
        )
        self.tasks.add(task)
        self.library.add(task)
        return task

    def _refuse_retired(self, spec: ActionSpec, body: CreateBody) -> None:
        """Answer a video request naming a retired model as the official API does (the default stays usable)."""
        named = getattr(body, "model_name", None) or getattr(body, "legacy_model", None)
        if spec.family is Family.VIDEOS and named in self.config.retired_models:
            raise _refuse(_RETIRED.format(model=named))

    def _series_length(self, body: CreateBody) -> int | None:
        """Draw how many images a series makes; None for other tasks."""
        if not isinstance(body, OmniImage):
            return None
        count = body.series_count()
        return self.rng.randint(*_SERIES_AUTO_RANGE) if count == "auto" else count

    def _payer(self, account: str, package: Package) -> Payer:
        owner = self.accounts[account]
        if owner.pays_cash is None:
            return Payer(owner.api_key_name)
        price = self.config.unit_prices[owner.pays_cash][package.value]
        return Payer(owner.api_key_name, owner.pays_cash, price, self.config.cash_discount)

    def _reserve_units(self, account: str, package: Package, payer: Payer, units: Decimal, now_ms: int) -> None:
        """Refuse with 1102 when the pack cannot pay; units of running tasks are already spoken for."""
        if payer.currency is not None:
            return  # a cash account is charged on its balance, which the sandbox does not run dry
        key = (account, package)
        promised = self.units.settled(key, now_ms) + self.units.pending(key, now_ms)
        remaining = self.config.resource_pack_units - promised
        if units > remaining:
            raise SandboxError(
                KlingCode.RESOURCE_PACK_EXHAUSTED,
                f"{KlingCode.RESOURCE_PACK_EXHAUSTED.message}: the {package.value} resource pack has "
                f"{remaining.normalize():f} units not yet spoken for and this task costs {units.normalize():f}",
            )

    def _source_of(  # noqa: PLR0911 - one early answer per kind of body
        self, account: str, body: CreateBody, now_ms: int
    ) -> tuple[SourceClip | None, Origin | None]:
        """Check what a body refers to; return the video it works on and, for an extension, its origin."""
        if isinstance(body, NewMotionControl):
            return motion_reference(body, self.tasks, self.rng, self.new_id, now_ms), None
        if isinstance(body, VideoExtend):
            record = self._own_video(account, body.video_id, now_ms, field="video_id")
            self._check_extendable(record)
            return _clip(record), record.task.origin
        if isinstance(body, LipSync):
            if body.input.video_id is None:
                return None, None
            record = self._own_video(account, body.input.video_id, now_ms, field="input.video_id")
            _check_length("input.video_id", _clip(record), _LIP_SYNC_SOURCE_S, "lip-sync")
            return _clip(record), None
        if isinstance(body, VideoToAudio):
            if body.video_id is not None:
                return _clip(self._own_video(account, body.video_id, now_ms, field="video_id")), None
            assert body.video_url is not None  # the schema requires one of the two
            return SourceClip.from_url(body.video_url, self.new_id()), None
        if isinstance(body, CustomVoice) and body.source_video_id() is not None:
            self._own_video(account, str(body.source_video_id()), now_ms, field="video_id")
        voice_id = body.element_voice_id if isinstance(body, CustomElement) else None
        if voice_id is not None and self.library.voice(account, voice_id, now_ms, "") is None:
            raise _refuse(
                f"element_voice_id: no voice {voice_id!r} in this account's voice library "
                "(make one with custom-voices, or pick an official one from presets-voices)"
            )
        if isinstance(body, MultiElements):
            self._check_selection_session(account, body, now_ms)
        if isinstance(body, AdvancedLipSync):
            session = self._live_session(account, SessionKind.FACE, body.session_id, now_ms)
            for index, choice in enumerate(body.face_choose):
                if choice.face_id not in session.face_ids:
                    raise _refuse(
                        f"face_choose[{index}].face_id: {choice.face_id!r} is not a face of session "
                        f"{session.session_id}; its faces are {', '.join(session.face_ids)}"
                    )
            return session.source, None
        return None, None

    def _check_extendable(self, record: VideoRecord) -> None:
        origin = record.task.origin
        if origin.action not in _EXTENDABLE_ACTIONS or origin.model not in _EXTENDABLE_MODELS:
            raise _refuse(
                f"video_id: video-extend takes videos made by text2video, image2video or video-extend with "
                f"{', '.join(_EXTENDABLE_MODELS)}; video {record.video_id} was made by {origin.action} "
                f"with {origin.model}"
            )
        if record.duration_s + VideoExtend.added_seconds > _EXTEND_MAX_TOTAL_S:
            raise _refuse(
                f"video_id: video {record.video_id} is {record.duration_s:.1f} s long; an extended video "
                f"may be at most {_EXTEND_MAX_TOTAL_S:.0f} s"
            )

    def _check_selection_session(self, account: str, body: MultiElements, now_ms: int) -> None:
        session = self._live_session(account, SessionKind.SELECTION, body.session_id, now_ms)
        if body.edit_mode in ("swap", "removal") and not any(session.selections.values()):
            raise _refuse(
                f"session_id: edit_mode {body.edit_mode!r} needs a selected object; "
                "call multi-elements/add-selection first"
            )
        wanted = body.duration_s()
        if (wanted <= 5.0) != (session.source.duration_s <= 5.0):
            raise _refuse(
                f'duration: "{wanted:.0f}" does not fit the session\'s {session.source.duration_s:.1f} s video; '
                'use "5" for a 2-5 s video and "10" for a 7-10 s video'
            )

    def _own_video(self, account: str, video_id: str, now_ms: int, *, field: str) -> VideoRecord:
        record = self.tasks.video(account, video_id, now_ms)
        if record is None:
            raise _refuse(
                f"{field}: no finished video {video_id!r} in this account "
                "(it must come from a task of this account that has succeeded)"
            )
        return record

    def _live_session(self, account: str, kind: SessionKind, session_id: str, now_ms: int) -> Session:
        session = self.sessions.get(account, kind, session_id, now_ms)
        if session is None:
            opener = "multi-elements/init-selection" if kind is SessionKind.SELECTION else "identify-face"
            raise _refuse(
                f"session_id: no live session {session_id!r} in this account "
                f"(open one with {opener}; sessions last 24 hours)"
            )
        return session

    def _result(
        self,
        task_id: str,
        account: str,
        spec: ActionSpec,
        body: CreateBody,
        base_url: str,
        source: SourceClip | None,
        images_made: int | None,
        now_ms: int,
    ) -> dict[str, Any]:
        watermark = body.wants_watermark()
        added = self._added_result(task_id, account, body, base_url, source, now_ms)
        if added is not None:
            return added
        if spec.family is Family.IMAGES:
            if images_made is not None:
                series = products.image_items(task_id, base_url, images_made, watermark=watermark)
                return {"result_type": "series", "images": [], "series_images": series}
            images = products.image_items(task_id, base_url, body.slots()[1], watermark=watermark)
            return {"result_type": "single", "images": images} if isinstance(body, OmniImage) else {"images": images}
        seconds = body.duration_s() or 5.0
        if source is not None:  # an extension adds its seconds to its source; a lip-sync keeps its length
            seconds = source.duration_s + (seconds if isinstance(body, VideoExtend) else 0.0)
        video = self._video(base_url, seconds, watermark=watermark)
        if isinstance(body, MultiElements):
            video["session_id"] = body.session_id
        return {"videos": [video]}

    def _video(self, base_url: str, seconds: float, *, watermark: bool = False) -> dict[str, Any]:
        video_id = self.new_id()
        video: dict[str, Any] = {
            "id": video_id,
            "url": f"{base_url}/files/videos/{video_id}.mp4",
            "duration": f"{clip_seconds_for(seconds) if seconds <= max(CLIP_SECONDS) else seconds:.1f}",
        }
        if watermark:
            video["watermark_url"] = f"{base_url}/files/videos/{video_id}-watermarked.mp4"
        return video

    def _added_result(
        self, task_id: str, account: str, body: CreateBody, base_url: str, source: SourceClip | None, now_ms: int
    ) -> dict[str, Any] | None:
        """Build the result of a 2026 `/v1` product, or None for the others."""
        owner = products.owner_id(account)
        if isinstance(body, TextToAudio):
            return {"audios": [products.audio_item(base_url, self.new_id(), body.duration)]}
        if isinstance(body, VideoToAudio):
            assert source is not None  # video-to-audio always names its video
            video = self._video(base_url, source.duration_s)
            return {"videos": [video], "audios": [products.audio_item(base_url, self.new_id(), source.duration_s)]}
        if isinstance(body, CustomVoice):
            made = products.voice_item(base_url, self.new_id(), body.voice_name, owner)
            self.tasks.add_audio(AudioRecord(made["voice_id"], products.VOICE_TRIAL_S))
            return {"voices": [made]}
        if isinstance(body, CustomElement):
            bound = None
            if body.element_voice_id is not None:
                bound = self.library.voice(account, body.element_voice_id, now_ms, base_url)
            return {"elements": [self._element(body, base_url, owner, bound)]}
        if isinstance(body, AiMultiShot):
            return {"images": products.multi_shot_images(task_id, base_url)}
        return None

    def _element(self, body: CustomElement, base_url: str, owner: str, voice: dict[str, Any] | None) -> dict[str, Any]:
        element_id = self.rng.randrange(10 ** (products.ELEMENT_ID_DIGITS - 1), 10**products.ELEMENT_ID_DIGITS)
        if voice is None and body.reference_type == "video_refer":
            # §4.9: a reference video with speech also makes a voice and binds it.
            voice = products.voice_item(base_url, self.new_id(), f"{body.element_name} voice", owner)
            self.tasks.add_audio(AudioRecord(voice["voice_id"], products.VOICE_TRIAL_S))
        return products.element_item(body, element_id, base_url, owned_by=owner, voice=voice)

    def run_sync_call(
        self, account: str, spec: SyncSpec, body: BaseModel, *, base_url: str, now_ms: int, request_id: str
    ) -> dict[str, Any]:
        """Answer one synchronous call, deducting its price at once; `request_id` is the envelope's."""
        units = sync_call_cost(spec.family, spec.call)
        payer = self._payer(account, spec.package or Package.VIDEO)
        if spec.package is not None:
            self._reserve_units(account, spec.package, payer, units, now_ms)
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
            self.units.add((account, spec.package), units, due_ms=now_ms)
        self.call_deductions.append(deduction)
        data.pop("final_unit_deduction", None)
        return data | deduction_fields(deduction)

    def _sync_answer(self, account: str, body: BaseModel, *, base_url: str, now_ms: int) -> dict[str, Any]:
        if isinstance(body, TextToSpeech):
            audio_id, seconds = self.new_id(), products.speech_seconds(body.text, body.voice_speed)
            self.tasks.add_audio(AudioRecord(audio_id, seconds))
            return {
                "task_id": self.new_id(),
                "task_status": "succeed",
                "task_status_msg": "",
                "task_result": {"audios": [products.tts_item(base_url, audio_id, seconds)]},
                "created_at": now_ms,
                "updated_at": now_ms,
            }
        if isinstance(body, ImageRecognize):
            found = tuple(self.rng.random() < 0.8 for _ in products.SEGMENT_TYPES)
            images = products.recognition_images(base_url, self.new_id(), found)
            return {"task_result": {"images": images}}
        if isinstance(body, DeleteElement | DeleteVoice):
            if isinstance(body, DeleteElement):
                self.library.delete_element(account, body.element_id, now_ms)
            else:
                self.library.delete_voice(account, body.voice_id, now_ms)
            return {"task_id": self.new_id(), "task_status": "succeed"}
        return self._session_call(account, body, base_url=base_url, now_ms=now_ms)

    def _session_call(self, account: str, body: BaseModel, *, base_url: str, now_ms: int) -> dict[str, Any]:
        """Answer one selection-editing or face-identification call."""
        data: dict[str, Any] = {"status": 0, "final_unit_deduction": "0"}
        if isinstance(body, InitSelection | IdentifyFace):
            face = isinstance(body, IdentifyFace)
            source = self._sync_source(account, body.video_id, body.video_url, now_ms)
            allowed = _FACE_SOURCE_S if face else _SELECTION_SOURCE_S
            _check_length("video_id", source, allowed, "identify-face" if face else "init-selection")
            kind = SessionKind.FACE if face else SessionKind.SELECTION
            session = self.sessions.open(account, kind, source, now_ms=now_ms)
            data["session_id"] = session.session_id
            if face:
                data["face_data"] = session_views.face_data(session, base_url)
            else:
                data.update(session_views.video_facts(session))
            return data
        if not isinstance(body, SessionCall):
            raise TypeError(f"not a synchronous call body: {type(body).__name__}")
        session = self._live_session(account, SessionKind.SELECTION, body.session_id, now_ms)
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
            return _clip(self._own_video(account, video_id, now_ms, field="video_id"))
        assert video_url is not None  # the schema requires one of the two
        return SourceClip.from_url(video_url, self.new_id())

    def _edit_selection(self, session: Session, body: AddSelection | DeleteSelection) -> None:
        total_frames = session_views.video_facts(session)["total_frame"]
        if body.frame_index >= total_frames:
            raise _refuse(
                f"frame_index: the video has {total_frames} frames; frame_index must be below that "
                f"(got {body.frame_index})"
            )
        points = list(dict.fromkeys((point.x, point.y) for point in body.points))
        selected = session.selections.setdefault(body.frame_index, [])
        if isinstance(body, AddSelection):
            selected.extend(point for point in points if point not in selected)
            return
        if not all(point in selected for point in points):
            raise _refuse(
                f"points: do not match the points selected on frame {body.frame_index}; "
                "delete-selection takes exactly the points add-selection was given"
            )
        for point in points:
            selected.remove(point)

    def deductions(self, account: str) -> list[Deduction]:
        """List everything the account's finished tasks and billed calls take (whether or not it is due yet)."""
        found = [task_deduction(task) for task in self.tasks.all_tasks() if task.account == account]
        return [d for d in found if d is not None] + [d for d in self.call_deductions if d.account == account]

    def export(self, ledger: exports.Ledger, account: str, body: object, *, now_ms: int) -> dict[str, Any]:
        """Answer one page of `/account/billing/package` (units) or `/account/billing/balance` (cash)."""
        query = exports.read_query(ledger, body)
        opening = Decimal(self.config.resource_pack_units) if ledger == "package" else self.config.cash_balance
        return exports.export_page(ledger, query, self.deductions(account), opening=opening, now_ms=now_ms)

    def costs(self, account: str, *, start_ms: int, end_ms: int, pack_name: str | None, now_ms: int) -> dict[str, Any]:
        """Describe the account's resource packs as `/account/costs` does."""
        last = self._last_costs_ms.get(account)
        if last is not None and now_ms - last < _COSTS_MIN_INTERVAL_MS:
            raise SandboxError(
                KlingCode.RATE_LIMITED, "/account/costs may be queried at most once per second per account"
            )
        self._last_costs_ms[account] = now_ms
        invalid_ms = self.started_ms + _PACK_VALIDITY_MS
        if end_ms < self.started_ms or start_ms > invalid_ms:
            return {"code": 0, "msg": "success", "resource_pack_subscribe_infos": []}
        packs = []
        for pack in Package:
            name = f"{pack.value} resource pack"
            if pack_name is not None and pack_name != name:
                continue
            total = Decimal(self.config.resource_pack_units)
            remaining = total - self.units.settled((account, pack), now_ms)
            packs.append(
                {
                    "resource_pack_name": name,
                    "resource_pack_id": f"{account}-{pack.value}",
                    "resource_pack_type": "decreasing_total",
                    "total_quantity": float(total),
                    "remaining_quantity": float(remaining),
                    "purchase_time": self.started_ms,
                    "effective_time": self.started_ms,
                    "invalid_time": invalid_ms,
                    "status": "online" if remaining > 0 else "runOut",
                }
            )
        return {"code": 0, "msg": "success", "resource_pack_subscribe_infos": packs}


_SHOWS_PARENT = (
    "video-extend",
    "advanced-lip-sync",
    "video-to-audio",
)  # the actions whose task_info carries parent_video


def _clip(record: VideoRecord) -> SourceClip:
    return SourceClip(video_id=record.video_id, url=record.url, duration_s=record.duration_s, known=True)


def _check_length(field: str, source: SourceClip, allowed: tuple[tuple[float, float], ...], call: str) -> None:
    """Refuse a source video whose known length the call does not take."""
    if not source.known or any(low <= source.duration_s <= high for low, high in allowed):
        return
    spans = " or ".join(f"{low:g} to {high:g} s" for low, high in allowed)
    raise _refuse(f"{field}: video {source.video_id} is {source.duration_s:.1f} s long; {call} takes videos of {spans}")
