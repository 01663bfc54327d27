"""The response contracts the three dialects were specified from, read from the documents they were written in.

`kling_000.txt` (the kling dialect), `video_002.txt` (the video dialect: an OpenAPI 3.1 document embedded in the
page) and `task_003.txt` (the task dialect: a response table and an example) are kept verbatim.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
_JSON_BLOCK = re.compile(r"```json[^\n]*\n(.*?)```", re.DOTALL)
_TABLE_ROW = re.compile(r"^\| ([a-z_.\[\]0-9]+) \| (string|object|array|integer|number) \|", re.MULTILINE)


def _text(name: str) -> str:
    return (HERE / name).read_text(encoding="utf-8")


def video_openapi() -> dict[str, Any]:
    """The OpenAPI document embedded in the video dialect's page."""
    text = _text("video_002.txt")
    start = text.index('{\n"openapi"')
    document, _ = json.JSONDecoder().raw_decode(text, start)
    return dict(document)


def video_response_schema(status: str) -> dict[str, Any]:
    """The JSON schema of the video dialect's single-task answer with this status ("200" or "404")."""
    operation = video_openapi()["paths"]["/kling/v1/videos/image2video/{task_id}"]["get"]
    return dict(operation["responses"][status]["content"]["application/json"]["schema"])


def task_example() -> dict[str, Any]:
    """The task dialect's response example."""
    return dict(json.loads(_JSON_BLOCK.findall(_text("task_003.txt"))[0]))


def task_fields() -> dict[str, str]:
    """The task dialect's response table: dotted field path → JSON type."""
    text = _text("task_003.txt")
    return dict(_TABLE_ROW.findall(text, text.index("## 响应参数")))


def kling_examples() -> list[dict[str, Any]]:
    """The kling dialect's response examples (a video, an image and a failed task)."""
    return [json.loads(block) for block in _JSON_BLOCK.findall(_text("kling_000.txt"))]
