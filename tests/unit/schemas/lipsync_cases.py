"""lip-sync and advanced-lip-sync bodies: the video, the text or audio to speak, and the face timings."""

from .cases import AUDIO_B64, AUDIO_URL, B64, COMMON, FACE, FACE_TIMES, OGG_B64, VIDEO_URL, VIDEOS, bad, ok

VALID = [
    # lip-sync
    ok(
        VIDEOS,
        "lip-sync",
        {"input": {"video_id": "vid-1", "mode": "text2video", "text": "hello", "voice_id": "girlfriend_1"}},
        "minimal",
    ),
    ok(
        VIDEOS,
        "lip-sync",
        {
            "input": {
                "video_id": "vid-1",
                "mode": "text2video",
                "text": "你好",
                "voice_id": "girlfriend_1",
                "voice_language": "zh",
                "voice_speed": 1.5,
            },
            **COMMON,
        },
        "full-text",
    ),
    ok(
        VIDEOS,
        "lip-sync",
        {"input": {"video_url": VIDEO_URL, "mode": "audio2video", "audio_type": "url", "audio_url": AUDIO_URL}},
        "audio-url",
    ),
    ok(
        VIDEOS,
        "lip-sync",
        {"input": {"video_id": "vid-1", "mode": "audio2video", "audio_type": "file", "audio_file": AUDIO_B64}},
        "audio-file",
    ),
    # advanced-lip-sync
    ok(VIDEOS, "advanced-lip-sync", {"session_id": "s-1", "face_choose": [FACE]}, "minimal"),
    ok(
        VIDEOS,
        "advanced-lip-sync",
        {
            "session_id": "s-1",
            "face_choose": [
                {
                    "face_id": "0",
                    "sound_file": AUDIO_URL,
                    "sound_start_time": 500,
                    "sound_end_time": 4500,
                    "sound_insert_time": 1000,
                    "sound_volume": 1.5,
                    "original_audio_volume": 0,
                }
            ],
            **COMMON,
        },
        "full",
    ),
]

INVALID = [
    # lip-sync
    bad(VIDEOS, "lip-sync", {}, "input: is required", id="required"),
    bad(
        VIDEOS,
        "lip-sync",
        {"input": {"mode": "text2video", "text": "hi", "voice_id": "v"}},
        "input.video_id, input.video_url: give exactly one of these; one is required",
        id="video-required",
    ),
    bad(
        VIDEOS,
        "lip-sync",
        {"input": {"mode": "text2video", "video_id": "x", "video_url": VIDEO_URL, "text": "hi", "voice_id": "v"}},
        "input.video_id, input.video_url: give exactly one of these; only one may be given",
        id="video-exclusive",
    ),
    bad(
        VIDEOS,
        "lip-sync",
        {"input": {"mode": "text2video", "video_id": "x"}},
        'input.text: is required when mode is "text2video"',
        'input.voice_id: is required when mode is "text2video"',
        id="text-mode-fields",
    ),
    bad(
        VIDEOS,
        "lip-sync",
        {"input": {"mode": "text2video", "video_id": "x", "text": "t" * 121, "voice_id": "v"}},
        "input.text: is 121 characters long; at most 120 are allowed",
        id="text-length",
    ),
    bad(
        VIDEOS,
        "lip-sync",
        {"input": {"mode": "text2video", "video_id": "x", "text": "hi", "voice_id": "v", "voice_speed": 2.5}},
        "input.voice_speed: must be between 0.8 and 2 (got 2.5)",
        id="speed-range",
    ),
    bad(
        VIDEOS,
        "lip-sync",
        {"input": {"mode": "text2video", "video_id": "x", "text": "hi", "voice_id": "v", "voice_speed": 1.25}},
        "input.voice_speed: must be a multiple of 0.1 (got 1.25)",
        id="speed-step",
    ),
    bad(
        VIDEOS,
        "lip-sync",
        {"input": {"mode": "audio2video", "video_id": "x"}},
        'input.audio_type: is required when mode is "audio2video"; allowed values are "file", "url"',
        id="audio-type-required",
    ),
    bad(
        VIDEOS,
        "lip-sync",
        {"input": {"mode": "audio2video", "video_id": "x", "audio_type": "file", "audio_url": AUDIO_URL}},
        'input.audio_file: is required when audio_type is "file"',
        'input.audio_url: is only allowed when audio_type is "url"',
        id="audio-source",
    ),
    bad(
        VIDEOS,
        "lip-sync",
        {
            "input": {
                "mode": "audio2video",
                "video_id": "x",
                "audio_type": "file",
                "audio_file": "data:audio/mp3;base64,AAAA",
            }
        },
        'input.audio_file: has a "data:...;base64," prefix; send raw Base64 audio data without it',
        id="data-prefix",
    ),
    bad(
        VIDEOS,
        "lip-sync",
        {"input": {"mode": "audio2video", "video_id": "x", "audio_type": "file", "audio_file": OGG_B64}},
        "input.audio_file: is not audio Kling can read (send mp3, wav, m4a or aac, as raw Base64)",
        id="audio-format",
    ),
    bad(
        VIDEOS,
        "lip-sync",
        {"input": {"mode": "audio2video", "video_id": "x", "audio_type": "url", "audio_url": AUDIO_URL, "text": "hi"}},
        'input.text: is only allowed when mode is "text2video"',
        id="text-in-audio-mode",
    ),
    bad(
        VIDEOS,
        "lip-sync",
        {"input": {"mode": "sing", "video_id": "x"}},
        'input.mode: "sing" is not allowed',
        id="mode-enum",
    ),
    # advanced-lip-sync
    bad(VIDEOS, "advanced-lip-sync", {"face_choose": [FACE]}, "session_id: is required", id="required"),
    bad(
        VIDEOS,
        "advanced-lip-sync",
        {"session_id": "s", "face_choose": [{**FACE, "sound_file": AUDIO_URL}]},
        "face_choose[0].audio_id, face_choose[0].sound_file: give exactly one of these; only one may be given",
        id="audio-exclusive",
    ),
    bad(
        VIDEOS,
        "advanced-lip-sync",
        {"session_id": "s", "face_choose": [{**FACE_TIMES, "face_id": "0", "sound_file": B64}]},
        "face_choose[0].sound_file: is not audio Kling can read (send mp3, wav, m4a or aac, as a URL or raw Base64)",
        id="audio-format",
    ),
    bad(
        VIDEOS,
        "advanced-lip-sync",
        {"session_id": "s", "face_choose": [{**FACE, "sound_volume": 2.5}]},
        "face_choose[0].sound_volume: must be between 0 and 2 (got 2.5)",
        id="volume-range",
    ),
    bad(
        VIDEOS,
        "advanced-lip-sync",
        {"session_id": "s", "face_choose": [{**FACE, "sound_end_time": 0}]},
        "face_choose[0].sound_end_time: must be later than sound_start_time (0 ms)",
        id="times",
    ),
    bad(
        VIDEOS,
        "advanced-lip-sync",
        {"session_id": "s", "face_choose": []},
        "face_choose: must have exactly 1 item (got 0)",
        id="face-count",
    ),
    bad(
        VIDEOS,
        "advanced-lip-sync",
        {"session_id": "s", "face_choose": [{**FACE, "sound_start_time": 1.5}]},
        "face_choose[0].sound_start_time: must be a whole number (got 1.5)",
        id="type",
    ),
]
