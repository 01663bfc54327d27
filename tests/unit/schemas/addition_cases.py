"""Bodies of the `/v1` endpoints added in 2026 (audio, elements, voices, angle views) and the 2026 changes to
omni-image, image2video multi-shot and motion control."""

from kling_gateway.kling.schemas import Family

from .cases import B64, IMAGES, SHOTS, URL, VIDEO_URL, VIDEOS, bad, ok

AUDIO, GENERAL = Family.AUDIO, Family.GENERAL
ELEMENT = {
    "element_name": "Mia",
    "element_description": "A girl in a red coat",
    "reference_type": "image_refer",
    "element_image_list": {"frontal_image": URL, "refer_images": [{"image_url": B64}]},
}

VALID = [
    ok(AUDIO, "text-to-audio", {"prompt": "rain on a tin roof", "duration": 3}, "minimal"),
    ok(
        AUDIO,
        "text-to-audio",
        {
            "prompt": "a crowd cheering",
            "duration": 9.9,
            "callback_url": "https://h.example.com/k",
            "external_task_id": "a-1",
        },
        "full",
    ),
    ok(AUDIO, "video-to-audio", {"video_url": VIDEO_URL}, "minimal"),
    ok(
        AUDIO,
        "video-to-audio",
        {"video_url": VIDEO_URL, "sound_effect_prompt": "steps", "bgm_prompt": "calm piano", "asmr_mode": True},
        "full",
    ),
    ok(GENERAL, "advanced-custom-elements", ELEMENT, "minimal"),
    ok(
        GENERAL,
        "advanced-custom-elements",
        {
            "element_name": "Runner",
            "element_description": "A runner in a blue shirt",
            "reference_type": "video_refer",
            "element_video_list": {"refer_videos": [{"video_url": VIDEO_URL}]},
            "tag_list": [{"tag_id": "o_102"}, {"tag_id": "o_108"}],
            "external_task_id": "el-1",
        },
        "full-video",
    ),
    ok(GENERAL, "custom-voices", {"voice_name": "Narrator", "voice_url": "https://cdn.example.com/v.mp3"}, "minimal"),
    ok(
        GENERAL,
        "custom-voices",
        {"voice_name": "Host", "voice_url": "https://cdn.example.com/v.wav", "video_id": "", "external_task_id": "v-1"},
        "full-sample",  # the vendor sample sends an empty video_id beside the URL
    ),
    ok(GENERAL, "ai-multi-shot", {"element_frontal_image": URL}, "minimal"),
    ok(GENERAL, "ai-multi-shot", {"element_frontal_image": B64, "external_task_id": "ms-1"}, "full"),
    ok(
        IMAGES,
        "omni-image",
        {"prompt": "a comic strip", "model_name": "kling-v3-omni", "result_type": "series", "series_amount": "auto"},
        "series-auto",
    ),
    ok(
        IMAGES,
        "omni-image",
        {
            "prompt": "a poster",
            "model_name": "kling-v3-omni",
            "resolution": "4k",
            "result_type": "series",
            "series_amount": 9,
        },
        "series-4k",
    ),
    ok(
        VIDEOS,
        "image2video",
        {
            "model_name": "kling-v3",
            "image": URL,
            "image_tail": URL,
            "multi_shot": True,
            "shot_type": "intelligence",
            "prompt": "a day",
        },
        "v3-multi-shot-frames",
    ),
    ok(
        VIDEOS,
        "image2video",
        {
            "model_name": "kling-v3",
            "image": URL,
            "multi_shot": True,
            "shot_type": "customize",
            "multi_prompt": SHOTS,
            "duration": "10",
        },
        "v3-storyboard",
    ),
    ok(
        VIDEOS,
        "omni-video",
        {
            "model_name": "kling-v3-omni",
            "prompt": "a chase",
            "image_list": [{"image_url": URL, "type": "first_frame"}],
            "multi_shot": True,
            "shot_type": "intelligence",
        },
        "v3-omni-intelligence-frames",
    ),
    ok(
        VIDEOS,
        "motion-control",
        {
            "model_name": "kling-v3",
            "mode": "pro",
            "image_url": URL,
            "video_url": VIDEO_URL,
            "element_list": [{"element_id": 7}],
            "character_orientation": "video",
        },
        "v3-element",
    ),
]

INVALID = [
    bad(
        AUDIO,
        "text-to-audio",
        {"prompt": "rain", "duration": 2.9},
        "duration: must be between 3 and 10 (got 2.9)",
        id="short",
    ),
    bad(
        AUDIO,
        "text-to-audio",
        {"prompt": "rain", "duration": 4.25},
        "duration: must have at most one decimal",
        id="decimals",
    ),
    bad(
        AUDIO,
        "text-to-audio",
        {"prompt": "x" * 201, "duration": 5},
        "prompt: is 201 characters long; at most 200",
        id="long",
    ),
    bad(
        AUDIO, "text-to-audio", {"prompt": "rain", "duration": "5"}, "duration: must be a number", id="string-duration"
    ),
    bad(
        AUDIO,
        "text-to-audio",
        {"prompt": "rain", "duration": 5, "watermark_info": {"enabled": True}},
        "watermark_info: is not a field of the audio endpoints",
        id="watermark",
    ),
    bad(AUDIO, "video-to-audio", {}, "video_id, video_url: give exactly one of these; one is required", id="no-video"),
    bad(
        AUDIO,
        "video-to-audio",
        {"video_url": VIDEO_URL, "bgm_prompt": "y" * 201},
        "bgm_prompt: is 201 characters long; at most 200",
        id="long-bgm",
    ),
    bad(
        GENERAL,
        "advanced-custom-elements",
        ELEMENT | {"element_name": "n" * 21},
        "element_name: is 21 characters long; at most 20",
        id="long-name",
    ),
    bad(
        GENERAL,
        "advanced-custom-elements",
        {k: v for k, v in ELEMENT.items() if k != "element_image_list"},
        'element_image_list: is required when reference_type is "image_refer"',
        id="no-images",
    ),
    bad(
        GENERAL,
        "advanced-custom-elements",
        ELEMENT | {"element_image_list": {"frontal_image": URL, "refer_images": [{"image_url": URL}] * 4}},
        "element_image_list.refer_images: has 4 items; at most 3 are allowed",
        id="too-many-refer-images",
    ),
    bad(
        GENERAL,
        "advanced-custom-elements",
        ELEMENT | {"tag_list": [{"tag_id": "o_999"}]},
        'tag_list[0].tag_id: "o_999" is not allowed',
        id="tag",
    ),
    bad(
        GENERAL,
        "custom-voices",
        {"voice_name": "N"},
        "voice_url, video_id: give exactly one of these; one is required",
        id="no-source",
    ),
    bad(GENERAL, "ai-multi-shot", {}, "element_frontal_image: is required", id="no-image"),
    bad(
        IMAGES,
        "omni-image",
        {"prompt": "p", "result_type": "series"},
        'result_type: "series" is not supported by model kling-image-o1; it needs model kling-v3-omni',
        id="series-o1",
    ),
    bad(
        IMAGES,
        "omni-image",
        {"prompt": "p", "resolution": "4k"},
        'resolution: "4k" is not supported by model kling-image-o1; it needs model kling-v3-omni',
        id="4k-o1",
    ),
    bad(
        IMAGES,
        "omni-image",
        {"prompt": "p", "model_name": "kling-v3-omni", "result_type": "series", "series_amount": 10},
        'series_amount: must be a whole number from 2 to 9 or "auto" (got 10)',
        id="series-amount",
    ),
    bad(
        VIDEOS,
        "image2video",
        {"model_name": "kling-v2-6", "image": URL, "multi_shot": True, "shot_type": "intelligence", "prompt": "p"},
        "multi_shot: is not supported by model kling-v2-6; it needs model kling-v3 or kling-v3-omni",
        id="multi-shot-model",
    ),
    bad(
        VIDEOS,
        "text2video",
        {"model_name": "kling-v2-6", "prompt": "p", "mode": "4k"},
        'mode: "4k" is not supported by model kling-v2-6; it needs model kling-v3',
        id="4k-model",
    ),
    bad(
        VIDEOS,
        "omni-video",
        {"prompt": "p", "aspect_ratio": "1:1", "mode": "4k"},
        'mode: "4k" is not supported by model kling-video-o1; it needs model kling-v3-omni',
        id="4k-o1",
    ),
    bad(
        VIDEOS,
        "multi-image2video",
        {"image_list": [{"image": URL}], "prompt": "p", "mode": "4k"},
        '"4k" is not allowed; allowed values are "std", "pro"',
        id="4k-not-here",
    ),
    bad(
        VIDEOS,
        "motion-control",
        {
            "mode": "std",
            "image_url": URL,
            "video_url": VIDEO_URL,
            "element_list": [{"element_id": 7}],
            "character_orientation": "image",
        },
        "element_list: is not supported by model kling-v2-6; element binding needs model kling-v3",
        id="element-v2-6",
    ),
    bad(
        VIDEOS,
        "effects",
        {"effect_scene": "magic_match_tree", "input": {"image": URL, "duration": "5"}},
        'effect_scene: "magic_match_tree" has been retired',
        id="retired-still-listed",
    ),
]
