"""What the sandbox does for an authenticated account: create tasks, answer synchronous calls, report costs."""

from __future__ import annotations

import random
from decimal import Decimal
from typing import Any

from pydantic import BaseModel

from kling_gateway.kling.codes import KlingCode
from kling_gateway.kling.pricing import SourceVideo, unit_cost
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
from kling_gateway.kling.schemas.audio import TextToAudio, VideoToAudio
from kling_gateway.kling.schemas.library import AiMultiShot, CustomElement, CustomVoice
from kling_gateway.kling.schemas.new_video import MotionControl as NewMotionControl
from kling_gateway.kling.versions import model_version
from kling_gateway.sandbox import exports, products
from kling_gateway.sandbox.config import Account, SandboxConfig
from kling_gateway.sandbox.deductions import (
    Deduction,
    task_deduction,
)
from kling_gateway.sandbox.errors import SandboxError, refuse
from kling_gateway.sandbox.library import Library, preset_voice_ids
from kling_gateway.sandbox.lifecycle import draw_timeline
from kling_gateway.sandbox.media import CLIP_SECONDS, clip_seconds_for
from kling_gateway.sandbox.references import motion_reference
from kling_gateway.sandbox.sessions import Session, SessionKind, SessionStore, SourceClip, check_length, clip_of
from kling_gateway.sandbox.store import (
    AudioRecord,
    Origin,
    Payer,
    SandboxTask,
    TaskStore,
    TimedAmounts,
    VideoRecord,
)
from kling_gateway.sandbox.sync_calls import SyncCalls

_EXTEND_MAX_TOTAL_S = 180.0  # an extended video may reach 3 minutes
_EXTENDABLE_MODELS = ("kling-v1", "kling-v1-5", "kling-v1-6")
_EXTENDABLE_ACTIONS = ("text2video", "image2video", "video-extend")
_PACK_VALIDITY_MS = 90 * 24 * 3600 * 1000
_COSTS_MIN_INTERVAL_MS = 1000  # `/account/costs` allows 1 query per second
# Source lengths in seconds lip-sync accepts (reference §2.8): (shortest, longest) ranges.
_LIP_SYNC_SOURCE_S = ((5.0, 10.0),)
_SERIES_AUTO_RANGE = (2, 9)  # how many images a series of "auto" length may turn out to hold
# The status and code of the retired-model answer were not recorded (2026 §6); 400 / 1201 is how every other
# refused value is answered, so a client handles it like any bad model_name.
_RETIRED = "The model '{model}' has been discontinued and is no longer available."


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
        self.calls = SyncCalls(self)

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
                raise refuse(
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
            raise refuse(_RETIRED.format(model=named))

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
            return clip_of(record), record.task.origin
        if isinstance(body, LipSync):
            if body.input.video_id is None:
                return None, None
            record = self._own_video(account, body.input.video_id, now_ms, field="input.video_id")
            check_length("input.video_id", clip_of(record), _LIP_SYNC_SOURCE_S, "lip-sync")
            return clip_of(record), None
        if isinstance(body, VideoToAudio):
            if body.video_id is not None:
                return clip_of(self._own_video(account, body.video_id, now_ms, field="video_id")), None
            assert body.video_url is not None  # the schema requires one of the two
            return SourceClip.from_url(body.video_url, self.new_id()), None
        if isinstance(body, CustomVoice) and body.source_video_id() is not None:
            self._own_video(account, str(body.source_video_id()), now_ms, field="video_id")
        voice_id = body.element_voice_id if isinstance(body, CustomElement) else None
        if voice_id is not None and self.library.voice(account, voice_id, now_ms, "") is None:
            raise refuse(
                f"element_voice_id: no voice {voice_id!r} in this account's voice library "
                "(make one with custom-voices, or pick an official one from presets-voices)"
            )
        if isinstance(body, MultiElements):
            self._check_selection_session(account, body, now_ms)
        if isinstance(body, AdvancedLipSync):
            session = self._live_session(account, SessionKind.FACE, body.session_id, now_ms)
            for index, choice in enumerate(body.face_choose):
                if choice.face_id not in session.face_ids:
                    raise refuse(
                        f"face_choose[{index}].face_id: {choice.face_id!r} is not a face of session "
                        f"{session.session_id}; its faces are {', '.join(session.face_ids)}"
                    )
            return session.source, None
        return None, None

    def _check_extendable(self, record: VideoRecord) -> None:
        origin = record.task.origin
        if origin.action not in _EXTENDABLE_ACTIONS or origin.model not in _EXTENDABLE_MODELS:
            raise refuse(
                f"video_id: video-extend takes videos made by text2video, image2video or video-extend with "
                f"{', '.join(_EXTENDABLE_MODELS)}; video {record.video_id} was made by {origin.action} "
                f"with {origin.model}"
            )
        if record.duration_s + VideoExtend.added_seconds > _EXTEND_MAX_TOTAL_S:
            raise refuse(
                f"video_id: video {record.video_id} is {record.duration_s:.1f} s long; an extended video "
                f"may be at most {_EXTEND_MAX_TOTAL_S:.0f} s"
            )

    def _check_selection_session(self, account: str, body: MultiElements, now_ms: int) -> None:
        session = self._live_session(account, SessionKind.SELECTION, body.session_id, now_ms)
        if body.edit_mode in ("swap", "removal") and not any(session.selections.values()):
            raise refuse(
                f"session_id: edit_mode {body.edit_mode!r} needs a selected object; "
                "call multi-elements/add-selection first"
            )
        wanted = body.duration_s()
        if (wanted <= 5.0) != (session.source.duration_s <= 5.0):
            raise refuse(
                f'duration: "{wanted:.0f}" does not fit the session\'s {session.source.duration_s:.1f} s video; '
                'use "5" for a 2-5 s video and "10" for a 7-10 s video'
            )

    def _own_video(self, account: str, video_id: str, now_ms: int, *, field: str) -> VideoRecord:
        record = self.tasks.video(account, video_id, now_ms)
        if record is None:
            raise refuse(
                f"{field}: no finished video {video_id!r} in this account "
                "(it must come from a task of this account that has succeeded)"
            )
        return record

    def _live_session(self, account: str, kind: SessionKind, session_id: str, now_ms: int) -> Session:
        session = self.sessions.get(account, kind, session_id, now_ms)
        if session is None:
            opener = "multi-elements/init-selection" if kind is SessionKind.SELECTION else "identify-face"
            raise refuse(
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
        return self.calls.run(account, spec, body, base_url=base_url, now_ms=now_ms, request_id=request_id)

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
