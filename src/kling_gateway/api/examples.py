"""A small request body each create route and synchronous call takes as it stands, shown in `/docs` and sent by the
contract tests.

The four actions that edit an earlier result, the selection calls and the deletes name it by an id of one of the
caller's own earlier results (a finished video, a session opened with init-selection / identify-face, an element or a
voice); their examples show placeholders.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from kling_gateway.kling.schemas import Family

PICTURE = "https://cdn.example.com/in/cat.png"
UPSTREAM_VIDEO_ID = "860531209405841471"
SELECTION_SESSION_ID = "860531209405841472"
FACE_SESSION_ID = "860531209405841473"
ELEMENT_ID = "321922438904313"
VOICE_ID = "891495440020668439"

CREATE_EXAMPLES: Mapping[tuple[Family, str], dict[str, Any]] = MappingProxyType(
    {
        (Family.VIDEOS, "text2video"): {"prompt": "a fox runs through fresh snow", "model_name": "kling-v1-6"},
        (Family.VIDEOS, "image2video"): {"image": PICTURE, "prompt": "the cat yawns"},
        (Family.VIDEOS, "omni-video"): {"prompt": "a paper boat on a rainy street", "aspect_ratio": "16:9"},
        (Family.VIDEOS, "multi-image2video"): {"image_list": [{"image": PICTURE}], "prompt": "the cat meets a dog"},
        (Family.VIDEOS, "multi-elements"): {
            "session_id": SELECTION_SESSION_ID,
            "edit_mode": "removal",
            "prompt": "remove the selected object",
        },
        (Family.VIDEOS, "lip-sync"): {
            "input": {"video_id": UPSTREAM_VIDEO_ID, "mode": "text2video", "text": "hello", "voice_id": "girlfriend_1"}
        },
        (Family.VIDEOS, "advanced-lip-sync"): {
            "session_id": FACE_SESSION_ID,
            "face_choose": [
                {
                    "face_id": "0",
                    "audio_id": "audio-1",
                    "sound_start_time": 0,
                    "sound_end_time": 3000,
                    "sound_insert_time": 0,
                }
            ],
        },
        (Family.VIDEOS, "video-extend"): {"video_id": UPSTREAM_VIDEO_ID},
        (Family.VIDEOS, "effects"): {"effect_scene": "bloombloom", "input": {"image": PICTURE, "duration": "5"}},
        (Family.VIDEOS, "avatar/image2video"): {"image": PICTURE, "audio_id": "audio-1"},
        (Family.VIDEOS, "motion-control"): {
            "image_url": PICTURE,
            "video_url": "https://cdn.example.com/in/dance.mp4",
            "character_orientation": "image",
            "mode": "std",
        },
        (Family.IMAGES, "generations"): {"prompt": "a red bicycle against a white wall"},
        (Family.IMAGES, "omni-image"): {"prompt": "a logo for a bakery"},
        (Family.IMAGES, "multi-image2image"): {"subject_image_list": [{"subject_image": PICTURE}]},
        (Family.IMAGES, "kolors-virtual-try-on"): {
            "human_image": "https://cdn.example.com/in/person.png",
            "cloth_image": "https://cdn.example.com/in/shirt.png",
        },
        (Family.IMAGES, "editing/expand"): {"image": PICTURE, "up_expansion_ratio": 0.5},
        (Family.AUDIO, "text-to-audio"): {"prompt": "rain on a tin roof", "duration": 5.0},
        (Family.AUDIO, "video-to-audio"): {"video_url": "https://cdn.example.com/in/street.mp4"},
        (Family.GENERAL, "advanced-custom-elements"): {
            "element_name": "Mimi",
            "element_description": "a grey tabby cat",
            "reference_type": "image_refer",
            "element_image_list": {"frontal_image": PICTURE, "refer_images": [{"image_url": PICTURE}]},
        },
        (Family.GENERAL, "custom-voices"): {
            "voice_name": "Narrator",
            "voice_url": "https://cdn.example.com/in/voice.mp3",
        },
        (Family.GENERAL, "ai-multi-shot"): {"element_frontal_image": PICTURE},
    }
)
SESSION_CALL_EXAMPLES: Mapping[str, dict[str, Any]] = MappingProxyType(
    {
        "identify-face": {"video_url": "https://cdn.example.com/in/speech.mp4"},
        "image-recognize": {"image": PICTURE},
        "tts": {"text": "hello there", "voice_id": "oversea_male1", "voice_language": "en"},
        "multi-elements/init-selection": {"video_url": "https://cdn.example.com/in/street.mp4"},
        "multi-elements/add-selection": {
            "session_id": SELECTION_SESSION_ID,
            "frame_index": 0,
            "points": [{"x": 0.5, "y": 0.4}],
        },
        "multi-elements/delete-selection": {
            "session_id": SELECTION_SESSION_ID,
            "frame_index": 0,
            "points": [{"x": 0.5, "y": 0.4}],
        },
        "multi-elements/clear-selection": {"session_id": SELECTION_SESSION_ID},
        "multi-elements/preview-selection": {"session_id": SELECTION_SESSION_ID},
        "delete-advanced-elements": {"element_id": ELEMENT_ID},
        "delete-elements": {"element_id": ELEMENT_ID},
        "delete-voices": {"voice_id": VOICE_ID},
    }
)
OPENAI_CREATE_EXAMPLE: Mapping[str, Any] = MappingProxyType(
    {"prompt": "a fox runs through fresh snow", "model": "kling-v1-6", "seconds": "5", "size": "1280x720"}
)
GENERATION_CREATE_EXAMPLE: Mapping[str, Any] = MappingProxyType(
    {"model": "kling-v1-6", "prompt": "a fox runs through fresh snow", "duration": 5, "size": "1280x720"}
)
NEW_CREATE_EXAMPLES: Mapping[str, dict[str, Any]] = MappingProxyType(
    {
        "text-to-video": {"prompt": "a fox runs through fresh snow", "settings": {"duration": 5}},
        "image-to-video": {
            "contents": [{"type": "first_frame", "url": PICTURE}, {"type": "prompt", "text": "the cat yawns"}],
            "settings": {"duration": 5},
        },
        "omni-video": {
            "contents": [{"type": "prompt", "text": "a paper boat on a rainy street"}],
            "settings": {"aspect_ratio": "16:9", "duration": 5},
        },
        "motion-control": {
            "contents": [
                {"type": "image", "url": PICTURE},
                {"type": "video", "url": "https://cdn.example.com/in/dance.mp4"},
            ],
            "settings": {"character_orientation": "image"},
        },
    }
)
"""A body each new-generation product takes, whatever its path model (by the product, the path's first segment)."""
