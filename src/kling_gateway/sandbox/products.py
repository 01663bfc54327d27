"""The results of the `/v1` products added in 2026: audio, elements, voices, angle views, image series, recognition.

Every URL points at a real file the sandbox serves: MP3 and WAV audio, PNG images and MP4 clips.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

from kling_gateway.kling.schemas.library import CustomElement

NewId = Callable[[], str]
ANGLE_SETS = 3  # ai-multi-shot: three candidate sets of three views each
ANGLES_PER_SET = 3
SEGMENT_TYPES = ("object_seg", "head_seg", "face_seg", "cloth_seg")
ELEMENT_ID_DIGITS = 15  # [obs] element ids are 15 digits
VOICE_TRIAL_S = 5.0
PRESET_ELEMENTS = (("Grace", "An elegant young woman"), ("Armored Youth", "A young knight in armour"))
PRESET_VOICES = (("Warm Narrator", "zh"), ("Bright Host", "en"), ("Calm Guide", "en"))


def owner_id(account: str) -> str:
    """Give an account the numeric creator id that `owned_by` shows (`kling` marks the official library)."""
    return str(int(hashlib.sha256(account.encode()).hexdigest()[:12], 16))


def audio_item(base_url: str, audio_id: str, seconds: float) -> dict[str, Any]:
    """Describe one generated track as text-to-audio and video-to-audio results do."""
    length = f"{seconds:.1f}"
    return {
        "id": audio_id,
        "url_mp3": f"{base_url}/files/audio/{audio_id}.mp3",
        "url_wav": f"{base_url}/files/audio/{audio_id}.wav",
        "duration_mp3": length,
        "duration_wav": length,
    }


def tts_item(base_url: str, audio_id: str, seconds: float) -> dict[str, Any]:
    """Describe a spoken track as TTS answers it."""
    return {"id": audio_id, "url": f"{base_url}/files/audio/{audio_id}.mp3", "duration": f"{seconds:.1f}"}


def speech_seconds(text: str, speed: float) -> float:
    """Estimate how long a text takes to read: about 4 characters a second at speed 1, never under a second."""
    return round(max(1.0, len(text) / 4.0 / speed), 1)


def voice_item(base_url: str, voice_id: str, name: str, owned_by: str) -> dict[str, Any]:
    """Describe one voice as `task_result.voices[]` does; the trial is a real MP3."""
    return {
        "voice_id": voice_id,
        "voice_name": name,
        "trial_url": f"{base_url}/files/audio/{voice_id}.mp3",
        "owned_by": owned_by,
    }


def element_item(
    body: CustomElement, element_id: int, base_url: str, *, owned_by: str, voice: dict[str, Any] | None
) -> dict[str, Any]:
    """Describe one element as `task_result.elements[]` does."""
    images: dict[str, Any] = {}
    if body.element_image_list is not None:
        images = {
            "frontal_image": f"{base_url}/files/faces/element-{element_id}-0.png",
            "refer_images": [
                {"image_url": f"{base_url}/files/faces/element-{element_id}-{index}.png"}
                for index in range(1, len(body.element_image_list.refer_images) + 1)
            ],
        }
    videos: dict[str, Any] = {}
    if body.element_video_list is not None:
        videos = {"refer_videos": [{"video_url": video.video_url} for video in body.element_video_list.refer_videos]}
    return {
        "element_id": element_id,
        "element_name": body.element_name,
        "element_description": body.element_description,
        "reference_type": body.reference_type,
        "element_image_list": images,
        "element_video_list": videos,
        "element_voice_info": voice or {},
        "tag_list": [{"tag_id": tag.tag_id} for tag in body.tag_list or []],
        "owned_by": owned_by,
        "status": "succeed",
    }


def preset_element(index: int, name: str, description: str, base_url: str) -> dict[str, Any]:
    """Describe one official element."""
    element_id = 10**14 + index
    return {
        "element_id": element_id,
        "element_name": name,
        "element_description": description,
        "reference_type": "image_refer",
        "element_image_list": {
            "frontal_image": f"{base_url}/files/faces/element-{element_id}-0.png",
            "refer_images": [{"image_url": f"{base_url}/files/faces/element-{element_id}-1.png"}],
        },
        "element_video_list": {},
        "element_voice_info": {},
        "tag_list": [{"tag_id": "o_102"}],
        "owned_by": "kling",
        "status": "succeed",
    }


def multi_shot_images(task_id: str, base_url: str) -> list[dict[str, Any]]:
    """Give ai-multi-shot's three candidate sets, each of three angle views."""
    return [
        {"index": index}
        | {
            f"url_{angle}": f"{base_url}/files/images/{task_id}-{index * ANGLES_PER_SET + angle - 1}.png"
            for angle in range(1, ANGLES_PER_SET + 1)
        }
        for index in range(ANGLE_SETS)
    ]


def image_items(task_id: str, base_url: str, count: int, *, watermark: bool, first: int = 0) -> list[dict[str, Any]]:
    """Give `count` result images numbered from `first`, with watermarked copies when asked for."""
    items = []
    for index in range(first, first + count):
        image: dict[str, Any] = {"index": index - first, "url": f"{base_url}/files/images/{task_id}-{index}.png"}
        if watermark:
            image["watermark_url"] = f"{base_url}/files/images/{task_id}-{index}-watermarked.png"
        items.append(image)
    return items


def image_count(result: dict[str, Any]) -> int:
    """Count the image files behind a task result (an angle set holds three)."""
    single = sum(ANGLES_PER_SET if "url_1" in image else 1 for image in result.get("images", ()))
    return single + len(result.get("series_images", ()))


def recognition_images(base_url: str, call_id: str, found: tuple[bool, ...]) -> list[dict[str, Any]]:
    """Give image-recognize's four segmentations; one not found has no picture."""
    return [
        {"type": kind, "is_contain": present, "url": f"{base_url}/files/faces/{call_id}-{kind}.png" if present else ""}
        for kind, present in zip(SEGMENT_TYPES, found, strict=True)
    ]
