"""The sandbox's in-memory records: tasks, the videos they made, slots and units per account.

Every lookup goes through a dict, every list page is a slice and every running total is kept as tasks end,
so 100 000 tasks cost no more per request than ten.
"""

from __future__ import annotations

import heapq
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import orjson

from kling_gateway.kling.schemas import ActionSpec, CreateBody, Family
from kling_gateway.sandbox.lifecycle import TaskStatus, Timeline
from kling_gateway.sandbox.listing import TaskListing


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a video comes from: the action, model and mode that first generated it (extends keep it)."""

    action: str
    model: str
    mode: str | None


@dataclass(frozen=True, slots=True)
class Payer:
    """How the owning account pays: from resource packs, or in cash at a unit price (list) and a discount."""

    api_key_name: str
    currency: str | None = None  # None: units from resource packs
    unit_price: Decimal = Decimal(0)  # list price of one unit of the task's pack, in `currency`
    discount: Decimal = Decimal(1)  # the share of the list price actually charged


@dataclass(slots=True)
class SandboxTask:
    """One task as the sandbox keeps it: what was asked, its drawn timeline, and its eventual result."""

    task_id: str
    account: str  # the access key of the owning account
    spec: ActionSpec
    body: CreateBody
    timeline: Timeline
    units: Decimal  # what a success deducts, from the official price table
    result: dict[str, Any]  # `task_result` once the task has succeeded
    origin: Origin
    parent_video: dict[str, Any] | None = None
    payer: Payer = field(default_factory=lambda: Payer("default"))
    output_s: float | None = None  # the output length where the task bills on it (motion control)
    final_json: orjson.Fragment | None = None  # the encoded task once finished: it never changes again

    def status_at(self, now_ms: int) -> tuple[TaskStatus, int]:
        """Read the task's status and `updated_at` at a moment."""
        return self.timeline.status_at(now_ms)

    def succeeded_by(self, now_ms: int) -> bool:
        """Tell whether the task has succeeded by a moment, so its results exist."""
        return now_ms >= self.timeline.finished_ms and self.timeline.failure_message is None


@dataclass(frozen=True, slots=True)
class VideoRecord:
    """A generated video that later calls (extend, lip-sync, selection) may refer to by id."""

    video_id: str
    task: SandboxTask
    url: str
    duration_s: float

    def ready_at(self, now_ms: int) -> bool:
        """Tell whether the video exists yet: its task has succeeded."""
        return self.task.succeeded_by(now_ms)


@dataclass(frozen=True, slots=True)
class AudioRecord:
    """A generated audio track behind a result URL: of a task (ready once it succeeds) or of a synchronous call."""

    audio_id: str
    duration_s: float
    task: SandboxTask | None = None

    def ready_at(self, now_ms: int) -> bool:
        """Tell whether the audio exists yet."""
        return self.task is None or self.task.succeeded_by(now_ms)


@dataclass(slots=True)
class TaskStore:
    """Hold every task with the indexes the API needs: by id, by external id, by action in creation order."""

    _by_id: dict[str, SandboxTask] = field(default_factory=dict)
    _by_external_id: dict[tuple[str, str], SandboxTask] = field(default_factory=dict)
    _by_action: defaultdict[tuple[str, Family, str], list[SandboxTask]] = field(
        default_factory=lambda: defaultdict(list)
    )
    _videos: dict[str, VideoRecord] = field(default_factory=dict)
    _audios: dict[str, AudioRecord] = field(default_factory=dict)
    listing: TaskListing = field(default_factory=TaskListing)  # each account's tasks, for `POST /tasks`

    def __len__(self) -> int:
        return len(self._by_id)

    def add(self, task: SandboxTask) -> None:
        """Store a new task whose external id, if any, is not yet used in its account."""
        external_id = task.body.external_task_id
        if external_id is not None:
            self._by_external_id[(task.account, external_id)] = task
        self._by_id[task.task_id] = task
        self._by_action[(task.account, task.spec.family, task.spec.action)].append(task)
        self.listing.add(task)
        for video in task.result.get("videos", ()):
            self._videos[video["id"]] = VideoRecord(video["id"], task, video["url"], float(video["duration"]))
        for audio in task.result.get("audios", ()):
            self.add_audio(AudioRecord(audio["id"], float(audio["duration_mp3"]), task))

    def add_audio(self, record: AudioRecord) -> None:
        """Index an audio track so that its files can be served."""
        self._audios[record.audio_id] = record

    def audio_by_id(self, audio_id: str) -> AudioRecord | None:
        """Find an audio track by id, whoever owns it (for serving its file)."""
        return self._audios.get(audio_id)

    def find(self, account: str, spec: ActionSpec, reference: str) -> SandboxTask | None:
        """Find a task of this account and action by its `task_id` or its `external_task_id`."""
        for task in (self._by_id.get(reference), self._by_external_id.get((account, reference))):
            if task is not None and task.account == account and task.spec is spec:
                return task
        return None

    def find_external(self, account: str, external_id: str) -> SandboxTask | None:
        """Find a task of this account, of any action, by its `external_task_id`."""
        return self._by_external_id.get((account, external_id))

    def page(self, account: str, spec: ActionSpec, page_num: int, page_size: int) -> list[SandboxTask]:
        """Return one page of an account's tasks of one action, newest first."""
        tasks = self._by_action.get((account, spec.family, spec.action), [])
        stop = len(tasks) - (page_num - 1) * page_size
        if stop <= 0:
            return []
        return tasks[max(0, stop - page_size) : stop][::-1]

    def video(self, account: str, video_id: str, now_ms: int) -> VideoRecord | None:
        """Find a finished video of this account by id."""
        record = self._videos.get(video_id)
        if record is None or record.task.account != account or not record.ready_at(now_ms):
            return None
        return record

    def video_by_id(self, video_id: str) -> VideoRecord | None:
        """Find a video by id, whoever owns it (for serving its file)."""
        return self._videos.get(video_id)

    def all_tasks(self) -> list[SandboxTask]:
        """List every task of every account, oldest first."""
        return list(self._by_id.values())

    def task_by_id(self, task_id: str) -> SandboxTask | None:
        """Find a task by id, whoever owns it (for serving its files)."""
        return self._by_id.get(task_id)


PackKey = tuple[str, ...]  # (account, pack) for units; (account, pack type, model version) for slots


@dataclass(slots=True)
class TimedAmounts:
    """Amounts per account and pack that fall due at known moments: slots held until a task ends, units
    deducted when it succeeds. Both sides are running totals, settled as moments pass, never summed anew.
    """

    _due: defaultdict[PackKey, list[tuple[int, Decimal]]] = field(default_factory=lambda: defaultdict(list))
    _pending: defaultdict[PackKey, Decimal] = field(default_factory=lambda: defaultdict(Decimal))
    _settled: defaultdict[PackKey, Decimal] = field(default_factory=lambda: defaultdict(Decimal))

    def add(self, key: PackKey, amount: Decimal, *, due_ms: int) -> None:
        """Count an amount as pending until `due_ms`, then as settled."""
        heapq.heappush(self._due[key], (due_ms, amount))
        self._pending[key] += amount

    def pending(self, key: PackKey, now_ms: int) -> Decimal:
        """Return what is not yet due at a moment (e.g. slots still held)."""
        self._settle(key, now_ms)
        return self._pending[key]

    def settled(self, key: PackKey, now_ms: int) -> Decimal:
        """Return what has fallen due by a moment (e.g. units deducted)."""
        self._settle(key, now_ms)
        return self._settled[key]

    def _settle(self, key: PackKey, now_ms: int) -> None:
        due = self._due[key]
        while due and due[0][0] <= now_ms:
            amount = heapq.heappop(due)[1]
            self._pending[key] -= amount
            self._settled[key] += amount
