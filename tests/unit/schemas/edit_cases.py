"""Bodies that rework or animate existing material: multi-elements, video-extend, effects and avatar."""

from .cases import AUDIO_B64, AUDIO_URL, B64, COMMON, LONG, OGG_B64, URL, VIDEOS, bad, ok

VALID = [
    # multi-elements
    ok(VIDEOS, "multi-elements", {"session_id": "s-1", "edit_mode": "removal", "prompt": "remove the dog"}, "minimal"),
    ok(
        VIDEOS,
        "multi-elements",
        {
            "model_name": "kling-v1-6",
            "session_id": "s-1",
            "edit_mode": "addition",
            "image_list": [{"image": URL}, {"image": B64}],
            "prompt": "Using the context of <<<video_1>>>, add the hat from <<<image_1>>>",
            "negative_prompt": "blur",
            "mode": "pro",
            "duration": "10",
            **COMMON,
        },
        "full",
    ),
    # video-extend
    ok(VIDEOS, "video-extend", {"video_id": "vid-1"}, "minimal"),
    ok(
        VIDEOS,
        "video-extend",
        {"video_id": "vid-1", "prompt": "keep walking", "negative_prompt": "blur", "cfg_scale": 1, **COMMON},
        "full",
    ),
    # effects
    ok(VIDEOS, "effects", {"effect_scene": "bloombloom", "input": {"image": URL, "duration": "5"}}, "minimal"),
    ok(VIDEOS, "effects", {"effect_scene": "hug_pro", "input": {"images": [URL, B64], "duration": "5"}}, "dual"),
    ok(
        VIDEOS,
        "effects",
        {
            "effect_scene": "heart_gesture",
            "input": {"images": [URL, B64], "duration": "10", "model_name": "kling-v1-6", "mode": "pro"},
            **COMMON,
        },
        "full-legacy",
    ),
    # avatar/image2video
    ok(VIDEOS, "avatar/image2video", {"image": URL, "audio_id": "audio-1"}, "minimal"),
    ok(
        VIDEOS,
        "avatar/image2video",
        {"image": B64, "sound_file": AUDIO_B64, "prompt": "smiles, then nods", "mode": "pro", **COMMON},
        "full",
    ),
]

INVALID = [
    # multi-elements
    bad(
        VIDEOS,
        "multi-elements",
        {"prompt": "p"},
        "session_id: is required",
        'edit_mode: is required; allowed values are "addition", "swap", "removal"',
        id="required",
    ),
    bad(
        VIDEOS,
        "multi-elements",
        {"session_id": "s", "edit_mode": "add", "prompt": "p"},
        'edit_mode: "add" is not allowed; allowed values are "addition", "swap", "removal"',
        id="enum",
    ),
    bad(
        VIDEOS,
        "multi-elements",
        {"session_id": "s", "edit_mode": "addition", "prompt": "p", "image_list": [{"image": URL}] * 3},
        'image_list: edit_mode "addition" needs 1 to 2 images (got 3)',
        id="addition-count",
    ),
    bad(
        VIDEOS,
        "multi-elements",
        {"session_id": "s", "edit_mode": "swap", "prompt": "p"},
        'image_list: edit_mode "swap" needs exactly 1 image (got 0)',
        id="swap-count",
    ),
    bad(
        VIDEOS,
        "multi-elements",
        {"session_id": "s", "edit_mode": "removal", "prompt": "p", "image_list": [{"image": URL}]},
        'image_list: must be left out when edit_mode is "removal"',
        id="removal-images",
    ),
    # video-extend
    bad(VIDEOS, "video-extend", {"prompt": "more"}, "video_id: is required", id="required"),
    bad(
        VIDEOS,
        "video-extend",
        {"video_id": "v", "cfg_scale": -0.1},
        "cfg_scale: must be between 0 and 1 (got -0.1)",
        id="range",
    ),
    bad(
        VIDEOS,
        "video-extend",
        {"video_id": "v", "model_name": "kling-v1"},
        "model_name: is not a field of video-extend; allowed fields are: video_id, prompt, negative_prompt, cfg_scale,",
        id="no-model-field",
    ),
    bad(VIDEOS, "video-extend", {"video_id": "v", "prompt": LONG}, "prompt: is 2731 characters long", id="length"),
    # effects
    bad(VIDEOS, "effects", {"input": {"image": URL, "duration": "5"}}, "effect_scene: is required", id="required"),
    bad(
        VIDEOS,
        "effects",
        {"effect_scene": "Pet Lion", "input": {"image": URL, "duration": "5"}},
        'effect_scene: must be a scene name of lowercase letters, digits and underscores (got "Pet Lion")',
        id="scene-name",
    ),
    bad(
        VIDEOS,
        "effects",
        {"effect_scene": "squish", "input": {"images": [URL, URL], "duration": "5"}},
        "input.image: is required for a single-image scene",
        "input.images: is only allowed for the dual-person scenes",
        id="single-needs-image",
    ),
    bad(
        VIDEOS,
        "effects",
        {"effect_scene": "kiss_pro", "input": {"images": [URL], "duration": "5"}},
        "input.images: must have exactly 2 items (got 1)",
        id="dual-count",
    ),
    bad(
        VIDEOS,
        "effects",
        {"effect_scene": "kiss_pro", "input": {"images": [URL, URL], "duration": "10"}},
        'input.duration: "10" is not allowed; allowed values are "5"',
        id="dual-duration",
    ),
    bad(
        VIDEOS,
        "effects",
        {"effect_scene": "fight", "input": {"images": [URL, URL], "duration": "5", "model_name": "kling-v1-6"}},
        'effect_scene: "fight" has been retired and is no longer available',
        id="retired-scene",
    ),
    bad(
        VIDEOS,
        "effects",
        {"effect_scene": "squish", "input": {"image": URL, "duration": "5", "mode": "pro"}},
        "input.mode: is only allowed for the legacy scenes hug, kiss, heart_gesture and fight",
        id="mode-refused",
    ),
    bad(
        VIDEOS,
        "effects",
        {"effect_scene": "squish", "input": {"image": URL, "duration": 5}},
        'input.duration: must be a string such as "5"',
        id="duration-number",
    ),
    # avatar/image2video
    bad(
        VIDEOS,
        "avatar/image2video",
        {"image": URL},
        "audio_id, sound_file: give exactly one of these; one is required",
        id="audio-required",
    ),
    bad(
        VIDEOS,
        "avatar/image2video",
        {"image": URL, "audio_id": "a", "sound_file": AUDIO_URL},
        "audio_id, sound_file: give exactly one of these; only one may be given",
        id="audio-exclusive",
    ),
    bad(
        VIDEOS,
        "avatar/image2video",
        {"image": URL, "sound_file": OGG_B64},
        "sound_file: is not audio Kling can read (send mp3, wav, m4a or aac, as a URL or raw Base64)",
        id="audio-format",
    ),
    bad(VIDEOS, "avatar/image2video", {"audio_id": "a"}, "image: is required", id="image-required"),
    bad(
        VIDEOS,
        "avatar/image2video",
        {"image": URL, "audio_id": "a", "mode": "ultra"},
        'mode: "ultra" is not allowed; allowed values are "std", "pro"',
        id="mode-enum",
    ),
]
