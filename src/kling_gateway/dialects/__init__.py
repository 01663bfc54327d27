"""The three response shapes clients already speak, and how a request picks one."""

from __future__ import annotations

from enum import StrEnum


class Dialect(StrEnum):
    """A response shape: `kling` (seed 000), `task` (seed 003) or `video` (seed 002)."""

    KLING = "kling"
    TASK = "task"
    VIDEO = "video"


DIALECT_HEADER = "X-Response-Format"
