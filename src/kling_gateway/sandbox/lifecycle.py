"""When a sandbox task moves from `submitted` to `processing` to `succeed` or `failed`.

A task's whole timeline is drawn when it is created; its status at any moment is read off that timeline, so no
background loop has to touch 100 000 tasks to keep them moving.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from enum import StrEnum

from kling_gateway.kling.schemas import ActionSpec, CreateBody
from kling_gateway.kling.timing import typical_timing

_SPREAD_SIGMA = 0.25  # log-normal spread of run times around the median

_FAILURE_MESSAGES = (
    "Failure to pass the risk control system",
    "The content you submitted may contain inappropriate content, please modify it and resubmit",
    "Task processing failed, please retry later",
)
_IMAGE_INPUT_FAILURE = "The input image could not be recognised, please use a clearer image"
_ACTION_FAILURE_MESSAGES = {
    **{
        action: (*_FAILURE_MESSAGES, _IMAGE_INPUT_FAILURE)
        for action in ("image2video", "multi-image2video", "avatar/image2video", "editing/expand")
    },
    "lip-sync": ("there is no human in the video", "The audio could not be recognised"),
    "advanced-lip-sync": ("there is no human in the video",),
    "kolors-virtual-try-on": ("No person was detected in the human image",),
}


class TaskStatus(StrEnum):
    """The four states of an official Kling task (note the official spelling `succeed`)."""

    SUBMITTED = "submitted"
    PROCESSING = "processing"
    SUCCEED = "succeed"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class Timeline:
    """The moments (ms since the epoch) a task enters each state, and why it fails if it does."""

    created_ms: int
    processing_ms: int
    finished_ms: int
    failure_message: str | None  # None: the task succeeds

    @property
    def final_status(self) -> TaskStatus:
        """The status the task ends in."""
        return TaskStatus.SUCCEED if self.failure_message is None else TaskStatus.FAILED

    def status_at(self, now_ms: int) -> tuple[TaskStatus, int]:
        """Return the status at a moment and the time it was entered (the task's `updated_at`)."""
        if now_ms < self.processing_ms:
            return TaskStatus.SUBMITTED, self.created_ms
        if now_ms < self.finished_ms:
            return TaskStatus.PROCESSING, self.processing_ms
        return self.final_status, self.finished_ms

    def changes_ms(self) -> tuple[int, int, int]:
        """List the moments the status changes: created, processing, finished."""
        return self.created_ms, self.processing_ms, self.finished_ms


def draw_timeline(
    spec: ActionSpec, body: CreateBody, *, now_ms: int, speed: float, failure_rate: float, rng: random.Random
) -> Timeline:
    """Draw a realistic timeline around the typical timing of the task's model, mode and length."""
    typical = typical_timing(spec, body)
    total_s = typical.total_s * rng.lognormvariate(0.0, _SPREAD_SIGMA) / speed
    queued_s = min(typical.queued_s * rng.uniform(0.5, 1.5) / speed, total_s / 2)
    failure_message = None
    if rng.random() < failure_rate:
        # Moderation and input checks reject a task part-way through processing, not at the very end.
        total_s = queued_s + (total_s - queued_s) * rng.uniform(0.2, 1.0)
        failure_message = rng.choice(_ACTION_FAILURE_MESSAGES.get(spec.action, _FAILURE_MESSAGES))
    processing_ms = now_ms + max(1, round(queued_s * 1000))
    finished_ms = max(processing_ms + 1, now_ms + round(total_s * 1000))
    return Timeline(now_ms, processing_ms, finished_ms, failure_message)
