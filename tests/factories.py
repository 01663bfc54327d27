"""Small factories of the records tests store: a queued task's draft with everything a test does not care about."""

from __future__ import annotations

from typing import Any

from kling_gateway.store.records import TaskDraft


def task_draft(*, platform_id: str, user_id: int, created_at: int, **fields: Any) -> TaskDraft:
    """A queued text2video task of one slot, its fields overridden by `fields`."""
    defaults: dict[str, Any] = {
        "key_id": None,
        "dialect": None,
        "required_channel_id": None,
        "family": "videos",
        "action": "text2video",
        "external_task_id": None,
        "body_hash": "0" * 64,
        "request_json": "{}",
        "callback_url": None,
        "pack_type": "video",
        "slots": 1,
        "watermark": False,
        "rate_micros": 1_000_000,
        "hold_micros": 0,
        "next_sync_at": None,
        "model": None,
        "seconds": None,
        "width": None,
        "height": None,
        "fps": None,
        "expected_ms": None,
    }
    return TaskDraft(platform_id=platform_id, user_id=user_id, created_at=created_at, **(defaults | fields))
