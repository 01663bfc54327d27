"""Image bodies: generations, omni-image, multi-image2image, kolors-virtual-try-on and editing/expand."""

from .cases import B64, COMMON, IMAGES, JPEG_B64, URL, bad, ok

VALID = [
    # generations
    ok(IMAGES, "generations", {"prompt": "a red bicycle"}, "minimal"),
    ok(
        IMAGES,
        "generations",
        {
            "model_name": "kling-v1-5",
            "prompt": "the same person in a garden",
            "image": URL,
            "image_reference": "subject",
            "image_fidelity": 0.6,
            "human_fidelity": 0.4,
            "resolution": "1k",
            "n": 4,
            "aspect_ratio": "3:2",
            **COMMON,
        },
        "full-reference",
    ),
    ok(
        IMAGES,
        "generations",
        {
            "model_name": "kling-v2",
            "prompt": "a panorama",
            "negative_prompt": "people",
            "element_list": [{"element_id": 1}],
            "resolution": "2k",
            "n": 9,
            "aspect_ratio": "21:9",
        },
        "text-2k",
    ),
    # omni-image
    ok(IMAGES, "omni-image", {"prompt": "a logo"}, "minimal"),
    ok(
        IMAGES,
        "omni-image",
        {
            "model_name": "kling-image-o1",
            "prompt": "<<<image_1>>> wearing <<<image_2>>>",
            "image_list": [{"image": URL}, {"image": B64}],
            "element_list": [{"element_id": 3}],
            "resolution": "2k",
            "n": 2,
            "aspect_ratio": "auto",
            **COMMON,
        },
        "full",
    ),
    # multi-image2image
    ok(IMAGES, "multi-image2image", {"subject_image_list": [{"subject_image": URL}]}, "minimal"),
    ok(
        IMAGES,
        "multi-image2image",
        {
            "model_name": "kling-v2-1",
            "prompt": "two cats in a kitchen",
            "subject_image_list": [{"subject_image": URL}, {"subject_image": B64}],
            "scene_image": URL,
            "style_image": B64,
            "n": 3,
            "aspect_ratio": "4:3",
            **COMMON,
        },
        "full",
    ),
    # kolors-virtual-try-on
    ok(IMAGES, "kolors-virtual-try-on", {"human_image": URL, "cloth_image": JPEG_B64}, "minimal"),
    ok(
        IMAGES,
        "kolors-virtual-try-on",
        {
            "model_name": "kolors-virtual-try-on-v1-5",
            "human_image": B64,
            "cloth_image": URL,
            **COMMON,
        },
        "full",
    ),
    # editing/expand
    ok(IMAGES, "editing/expand", {"image": URL, "up_expansion_ratio": 0.5}, "minimal"),
    ok(
        IMAGES,
        "editing/expand",
        {
            "image": B64,
            "up_expansion_ratio": 0.25,
            "down_expansion_ratio": 0.25,
            "left_expansion_ratio": 0.5,
            "right_expansion_ratio": 0,
            "prompt": "more sky",
            "n": 2,
            **COMMON,
        },
        "full",
    ),
]

INVALID = [
    # generations
    bad(IMAGES, "generations", {}, "prompt: is required", id="required"),
    bad(IMAGES, "generations", {"prompt": "p", "n": 10}, "n: must be between 1 and 9 (got 10)", id="n-range"),
    bad(IMAGES, "generations", {"prompt": "p", "n": 2.0}, "n: must be a whole number (got 2.0)", id="n-type"),
    bad(
        IMAGES,
        "generations",
        {"prompt": "p", "image": URL, "negative_prompt": "blur"},
        "negative_prompt: is not allowed together with image",
        id="negative-with-image",
    ),
    bad(
        IMAGES,
        "generations",
        {"prompt": "p", "model_name": "kling-v1-5", "image_reference": "face"},
        "image: is required when image_reference is given",
        id="reference-needs-image",
    ),
    bad(
        IMAGES,
        "generations",
        {"prompt": "p", "image": URL, "image_reference": "face", "human_fidelity": 0.5, "model_name": "kling-v1-5"},
        'human_fidelity: is only allowed when image_reference is "subject"',
        id="human-fidelity",
    ),
    bad(
        IMAGES,
        "generations",
        {"model_name": "kling-v1", "prompt": "p", "image": URL, "image_reference": "subject"},
        "image_reference: is not supported by model kling-v1; it needs model kling-v1-5 or kling-v2-1",
        id="reference-model",
    ),
    bad(
        IMAGES,
        "generations",
        {"model_name": "kling-v1", "prompt": "p", "aspect_ratio": "21:9"},
        'aspect_ratio: "21:9" is not supported by model kling-v1',
        id="aspect-v1",
    ),
    bad(
        IMAGES,
        "generations",
        {"prompt": "p", "aspect_ratio": "5:4"},
        'aspect_ratio: "5:4" is not allowed; allowed values are "16:9", "9:16", "1:1", "4:3", "3:4", "3:2", '
        '"2:3", "21:9"',
        id="aspect-enum",
    ),
    bad(
        IMAGES,
        "generations",
        {"prompt": "p", "image_fidelity": 1.2, "image": URL},
        "image_fidelity: must be between 0 and 1 (got 1.2)",
        id="fidelity-range",
    ),
    bad(
        IMAGES,
        "generations",
        {"model_name": "kling-v1", "prompt": "p", "resolution": "2k"},
        'resolution: "2k" is not supported by model kling-v1; send "1k"',
        id="2k-model",
    ),
    bad(
        IMAGES,
        "generations",
        {"prompt": "p", "image": URL, "element_list": [{"element_id": i} for i in range(1, 11)]},
        "image, element_list: 1 image and 10 elements make 11; at most 10 are allowed",
        id="reference-count",
    ),
    bad(
        IMAGES,
        "generations",
        {"prompt": "p", "image": "data:image/png;base64," + B64},
        'image: has a "data:...;base64," prefix; send an http(s) URL or raw Base64 image data without it',
        id="data-prefix",
    ),
    bad(
        IMAGES,
        "generations",
        {"prompt": "p", "model_name": "kling-v2-new"},
        "image: is required by model kling-v2-new, which only restyles an image",
        id="restyle-needs-image",
    ),
    # omni-image
    bad(IMAGES, "omni-image", {"image_list": [{"image": URL}]}, "prompt: is required", id="required"),
    bad(
        IMAGES,
        "omni-image",
        {"prompt": "p", "image_list": [{"image": URL}] * 6, "element_list": [{"element_id": 1}] * 5},
        "image_list, element_list: 6 images and 5 elements make 11; at most 10 are allowed",
        id="reference-count",
    ),
    bad(
        IMAGES,
        "omni-image",
        {"prompt": "p", "model_name": "kling-v2"},
        'model_name: "kling-v2" is not allowed; allowed values are "kling-image-o1"',
        id="model-enum",
    ),
    bad(IMAGES, "omni-image", {"prompt": "p", "n": 0}, "n: must be between 1 and 9 (got 0)", id="n-range"),
    # multi-image2image
    bad(IMAGES, "multi-image2image", {"prompt": "p"}, "subject_image_list: is required", id="required"),
    bad(
        IMAGES,
        "multi-image2image",
        {"subject_image_list": [{"subject_image": URL}] * 5},
        "subject_image_list: has 5 items; at most 4 are allowed",
        id="subject-count",
    ),
    bad(
        IMAGES,
        "multi-image2image",
        {"subject_image_list": []},
        "subject_image_list: must have at least 1 item (got 0)",
        id="subject-empty",
    ),
    bad(
        IMAGES,
        "multi-image2image",
        {"subject_image_list": [{"image": URL}]},
        "subject_image_list[0].image: is not a field of subject_image_list[0]; allowed fields are: subject_image",
        "subject_image_list[0].subject_image: is required",
        id="item-field",
    ),
    # kolors-virtual-try-on
    bad(IMAGES, "kolors-virtual-try-on", {"human_image": URL}, "cloth_image: is required", id="required"),
    bad(
        IMAGES,
        "kolors-virtual-try-on",
        {"human_image": URL, "cloth_image": URL, "n": 2},
        "n: is not a field of kolors-virtual-try-on",
        id="no-n",
    ),
    bad(
        IMAGES,
        "kolors-virtual-try-on",
        {"human_image": URL, "cloth_image": "", "model_name": "kolors-virtual-try-on-v2"},
        "cloth_image: must not be empty; send an http(s) URL or raw Base64 image data",
        'model_name: "kolors-virtual-try-on-v2" is not allowed',
        id="empty-and-enum",
    ),
    # editing/expand
    bad(IMAGES, "editing/expand", {"up_expansion_ratio": 1}, "image: is required", id="required"),
    bad(
        IMAGES,
        "editing/expand",
        {"image": URL, "left_expansion_ratio": 2.5},
        "left_expansion_ratio: must be between 0 and 2 (got 2.5)",
        id="ratio-range",
    ),
    bad(
        IMAGES,
        "editing/expand",
        {"image": URL},
        "up_expansion_ratio, down_expansion_ratio, left_expansion_ratio, right_expansion_ratio: "
        "at least one must be greater than 0",
        id="no-expansion",
    ),
    bad(
        IMAGES,
        "editing/expand",
        {"image": URL, "up_expansion_ratio": 1, "left_expansion_ratio": 1},
        "the expanded image would be 4 times the original area; at most 3 is allowed",
        id="area",
    ),
]
