"""What the schema tests share: real picture and sound fixtures, common values, and the builders of table rows."""

import base64
import io
import wave
from typing import Any

import pytest
from PIL import Image

from kling_gateway.kling.schemas import Family


def picture(width: int, height: int, kind: str = "PNG") -> str:
    """Return a plain picture of the given size and format as raw Base64."""
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), "white").save(buffer, kind)
    return base64.b64encode(buffer.getvalue()).decode()


def silence() -> str:
    """Return a tenth of a second of silent wav as raw Base64."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as track:
        track.setnchannels(1)
        track.setsampwidth(2)
        track.setframerate(8000)
        track.writeframes(b"\0\0" * 800)
    return base64.b64encode(buffer.getvalue()).decode()


URL = "https://cdn.example.com/in/cat.png"
B64 = picture(320, 320)
JPEG_B64 = picture(400, 300, "JPEG")
AUDIO_B64 = silence()
OGG_B64 = base64.b64encode(b"OggS\0\2" + bytes(64)).decode()
VIDEO_URL = "https://cdn.example.com/in/dance.mp4"
AUDIO_URL = "https://cdn.example.com/in/voice.mp3"
LONG = "x" * 2731
COMMON = {
    "callback_url": "https://hooks.example.com/kling?user=7",
    "external_task_id": "order-2024-0001",
    "watermark_info": {"enabled": True},
}
SHOTS = [
    {"index": 1, "prompt": "a fox wakes up", "duration": "4"},
    {"index": 2, "prompt": "the fox runs into the snow", "duration": "6"},
]
FACE_TIMES = {"sound_start_time": 0, "sound_end_time": 3000, "sound_insert_time": 0}
FACE = {"face_id": "0", "audio_id": "audio-1", **FACE_TIMES}

VIDEOS, IMAGES = Family.VIDEOS, Family.IMAGES


def ok(family: Family, action: str, body: dict[str, Any], id: str) -> Any:
    """A body the endpoint accepts; every action has a "minimal" and a "full..." one."""
    return pytest.param(family, action, body, id=f"{action}:{id}")


def bad(family: Family, action: str, body: object, *fragments: str, id: str) -> Any:
    """A body the endpoint refuses, with the fragments its message must contain."""
    return pytest.param(family, action, body, fragments, id=f"{action}:{id}")
