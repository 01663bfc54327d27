"""omni-video bodies: reference images, elements and videos, first and end frames, and the v3 storyboard."""

from .cases import B64, COMMON, SHOTS, URL, VIDEO_URL, VIDEOS, bad, ok

VALID = [
    ok(VIDEOS, "omni-video", {"prompt": "a fox", "aspect_ratio": "16:9"}, "minimal"),
    ok(
        VIDEOS,
        "omni-video",
        {
            "model_name": "kling-video-o1",
            "prompt": "<<<image_1>>> turns into <<<image_2>>>",
            "image_list": [{"image_url": URL, "type": "first_frame"}, {"image_url": B64, "type": "end_frame"}],
            "element_list": [{"element_id": 831922345719271433}],
            "mode": "std",
            "duration": "10",
            **COMMON,
        },
        "full-frames",
    ),
    ok(
        VIDEOS,
        "omni-video",
        {
            "prompt": "in the style of <<<video_1>>>",
            "image_list": [{"image_url": URL}],
            "video_list": [{"video_url": VIDEO_URL, "refer_type": "feature", "keep_original_sound": "no"}],
            "aspect_ratio": "1:1",
            "duration": "7",
        },
        "feature-video",
    ),
    ok(
        VIDEOS,
        "omni-video",
        {"prompt": "make it snow", "video_list": [{"video_url": VIDEO_URL, "refer_type": "base"}]},
        "base-edit",
    ),
    ok(
        VIDEOS,
        "omni-video",
        {
            "model_name": "kling-v3-omni",
            "multi_shot": True,
            "shot_type": "customize",
            "multi_prompt": SHOTS,
            "duration": "10",
            "sound": "on",
            "aspect_ratio": "9:16",
        },
        "v3-omni-storyboard",
    ),
]

INVALID = [
    bad(
        VIDEOS,
        "omni-video",
        {"prompt": "a"},
        'aspect_ratio: is required unless image_list has a "first_frame" image or video_list has a "base" video; '
        'allowed values are "16:9", "9:16", "1:1"',
        id="aspect-required",
    ),
    bad(VIDEOS, "omni-video", {"aspect_ratio": "1:1"}, "prompt: is required", id="prompt-required"),
    bad(
        VIDEOS,
        "omni-video",
        {"prompt": "a", "aspect_ratio": "1:1", "duration": "7"},
        'duration: "7" is not allowed for model kling-video-o1; allowed values are "5", "10"',
        id="pure-text-duration",
    ),
    bad(
        VIDEOS,
        "omni-video",
        {"prompt": "a", "image_list": [{"image_url": URL}], "aspect_ratio": "1:1", "duration": "11"},
        'duration: "11" is not allowed for model kling-video-o1; allowed values are "3" to "10"',
        id="o1-duration",
    ),
    bad(
        VIDEOS,
        "omni-video",
        {"prompt": "a", "image_list": [{"image_url": URL, "type": "end_frame"}], "aspect_ratio": "1:1"},
        'image_list: an "end_frame" image needs a "first_frame" image too',
        id="end-needs-first",
    ),
    bad(
        VIDEOS,
        "omni-video",
        {"prompt": "a", "image_list": [{"image_url": URL, "type": "last_frame"}]},
        'image_list[0].type: "last_frame" is not allowed; allowed values are "first_frame", "end_frame"',
        id="frame-type",
    ),
    bad(
        VIDEOS,
        "omni-video",
        {
            "prompt": "a",
            "image_list": [{"image_url": URL}] * 3,
            "element_list": [{"element_id": 1}] * 2,
            "video_list": [{"video_url": VIDEO_URL, "refer_type": "feature"}],
            "aspect_ratio": "1:1",
        },
        "image_list, element_list: 3 images and 2 elements make 5; at most 4 are allowed with a reference video",
        id="reference-count",
    ),
    bad(
        VIDEOS,
        "omni-video",
        {"prompt": "a", "aspect_ratio": "1:1", "video_list": [{"video_url": VIDEO_URL, "refer_type": "feature"}] * 2},
        "video_list: has 2 items; at most 1 is allowed",
        id="video-count",
    ),
    bad(
        VIDEOS,
        "omni-video",
        {
            "model_name": "kling-v3-omni",
            "prompt": "a",
            "sound": "on",
            "video_list": [{"video_url": VIDEO_URL, "refer_type": "base"}],
        },
        'sound: must be "off" when video_list is given',
        id="sound-with-video",
    ),
    bad(
        VIDEOS,
        "omni-video",
        {"prompt": "a", "aspect_ratio": "1:1", "sound": "on"},
        'sound: "on" is not supported by model kling-video-o1; sound needs model kling-v3-omni',
        id="sound-model",
    ),
    bad(
        VIDEOS,
        "omni-video",
        {
            "prompt": "a",
            "image_list": [{"image_url": URL, "type": "first_frame"}],
            "video_list": [{"video_url": VIDEO_URL, "refer_type": "base"}],
        },
        'image_list: first_frame and end_frame images are not allowed when editing a "base" video',
        id="frames-with-base",
    ),
    bad(
        VIDEOS,
        "omni-video",
        {"prompt": "a", "video_list": [{"video_url": B64, "refer_type": "base"}]},
        "video_list[0].video_url: must be an absolute http:// or https:// URL",
        id="video-url",
    ),
    bad(
        VIDEOS,
        "omni-video",
        {"prompt": "a", "video_list": [{"video_url": VIDEO_URL}]},
        'video_list[0].refer_type: is required; allowed values are "feature", "base"',
        id="refer-type-required",
    ),
]
