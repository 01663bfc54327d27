"""The twelve new-generation bodies: accepted as §3 allows, refused with a message naming the field otherwise and
never leaking the hidden option copies (the attributes they answer to: `test_new_generation_rules`)."""

from typing import Any

import pytest

from kling_gateway.kling.schemas import NEW_ACTIONS, CreateBody, InvalidBody, parse_body

from .cases import B64, URL, VIDEO_URL

OPTIONS = {
    "callback_url": "https://hooks.example.com/kling",
    "external_task_id": "order-7",
    "watermark_info": {"enabled": True},
}
FIRST = {"type": "first_frame", "url": URL}
LAST = {"type": "last_frame", "url": URL}
PROMPT = {"type": "prompt", "text": "a fox runs"}
IMAGE = {"type": "image", "url": URL}
VIDEO = {"type": "video", "url": VIDEO_URL}
ELEMENT = {"type": "element", "element_id": "829833149733515340", "id": "element_1"}
MOTION = {"contents": [IMAGE, VIDEO], "settings": {"character_orientation": "video"}}
LEAKS = ("pydantic", "literal_error", "Input should", "Value error", "type=")


def ok(action: str, body: dict[str, Any], id: str) -> Any:
    return pytest.param(action, body, id=f"{action}:{id}")


def bad(action: str, body: dict[str, Any], *fragments: str, id: str) -> Any:
    return pytest.param(action, body, fragments, id=f"{action}:{id}")


def element(n: int) -> dict[str, str]:
    return {"type": "element", "element_id": str(100 + n), "id": f"el{n}x"}


def refer(n: int) -> dict[str, str]:
    return {"type": "refer_image", "url": URL, "id": f"img{n}x"}


VALID = [
    ok("text-to-video/kling-3.0-turbo", {"prompt": "a fox"}, "minimal"),
    ok(
        "text-to-video/kling-3.0-turbo",
        {
            "prompt": "a fox",
            "settings": {"resolution": "1080p", "aspect_ratio": "9:16", "duration": 15},
            "options": OPTIONS,
        },
        "full",
    ),
    ok(
        "text-to-video/kling-3.0",
        {
            "prompt": "shot 1, 2, a fox wakes; shot 2, 3, it runs, fast;",
            "settings": {"resolution": "4k", "duration": 5, "audio": "native", "multi_shot": True},
            "options": {**OPTIONS, "external_task_id": ""},
        },
        "multi-shot-4k",
    ),
    ok("text-to-video/kling-3.0", {"prompt": "shot 1, 2, ignored", "settings": {"multi_shot": False}}, "shots-off"),
    ok("text-to-video/kling-2.6", {"prompt": "a fox", "settings": {"audio": "native", "resolution": "1080p"}}, "audio"),
    ok("text-to-video/kling-2.5-turbo", {"prompt": "a fox", "settings": {"duration": 10}}, "ten"),
    ok("image-to-video/kling-3.0-turbo", {"contents": [PROMPT, {"type": "first_frame", "url": B64}]}, "base64"),
    ok("image-to-video/kling-3.0", {"contents": [FIRST, LAST, ELEMENT, element(2), element(3)]}, "three-elements"),
    ok(
        "image-to-video/kling-2.6",
        {
            "contents": [
                {"type": "prompt", "text": "@1 whispers"},
                FIRST,
                {"type": "voice", "voice_id": "8914", "id": "1"},
            ],
            "settings": {"audio": "native", "resolution": "1080p", "duration": 10},
        },
        "voice",
    ),
    ok("image-to-video/kling-2.5-turbo", {"contents": [FIRST, LAST], "settings": {"resolution": "1080p"}}, "last"),
    ok("omni-video/kling-3.0-omni", {"contents": [PROMPT]}, "prompt-only"),
    ok(
        "omni-video/kling-3.0-omni",
        {
            "contents": [PROMPT, {"type": "feature_video", "url": VIDEO_URL, "id": "video_1"}, refer(1), element(1)],
            "settings": {"resolution": "4k", "audio": "off", "shot_type": "intelligence"},
        },
        "feature-4k",
    ),
    ok(
        "omni-video/kling-3.0-omni",
        {"contents": [PROMPT, {"type": "base_video", "url": VIDEO_URL}], "settings": {"audio": "original"}},
        "edit",
    ),
    ok("omni-video/kling-3.0-omni", {"contents": [refer(1), *[element(n) for n in range(6)]]}, "seven-refs"),
    ok("omni-video/kling-o1", {"contents": [{**FIRST, "id": "image_1"}], "settings": {"duration": 10}}, "first-10"),
    ok("omni-video/kling-o1", {"contents": [PROMPT, refer(1)], "settings": {"duration": 7}}, "refer-7"),
    ok("motion-control/kling-3.0", {**MOTION, "contents": [PROMPT, IMAGE, VIDEO, ELEMENT]}, "element"),
    ok("motion-control/kling-2.6", {**MOTION, "settings": {"character_orientation": "image", "audio": "off"}}, "image"),
]

INVALID = [
    bad(
        "text-to-video/kling-3.0-turbo",
        {"prompt": "a", "settings": {"duration": "5"}},
        "settings.duration: must be a whole number",
        id="string-duration",
    ),
    bad(
        "text-to-video/kling-3.0-turbo",
        {"prompt": "a", "settings": {"audio": "native"}},
        "settings.audio: is not supported on /text-to-video/kling-3.0-turbo",
        id="no-audio",
    ),
    bad(
        "text-to-video/kling-3.0-turbo",
        {"prompt": "a", "settings": {"resolution": "4k"}},
        'settings.resolution: "4k" is not allowed for model kling-3.0-turbo',
        id="no-4k",
    ),
    bad(
        "text-to-video/kling-3.0-turbo",
        {"prompt": "x" * 3073},
        "prompt: is 3073 characters long; at most 3072",
        id="long-prompt",
    ),
    bad(
        "text-to-video/kling-3.0-turbo",
        {"prompt": "a", "callback_url": "https://x.example"},
        "callback_url: is not a top-level field here; put it in options (options.callback_url)",
        id="top-level-option",
    ),
    bad(
        "text-to-video/kling-3.0-turbo",
        {"prompt": "a", "options": {"external_task_id": "a/b"}},
        "options.external_task_id: must not contain",
        id="slash-id",
    ),
    bad(
        "text-to-video/kling-3.0",
        {"prompt": "a", "settings": {"duration": 16}},
        "settings.duration: must be between 3 and 15 seconds for model kling-3.0 (got 16)",
        id="too-long",
    ),
    bad(
        "text-to-video/kling-3.0",
        {"prompt": "shot 1, 2, a; shot 2, 2, b;"},
        "prompt: shot lengths add up to 4 s but settings.duration is 5",
        id="shot-sum",
    ),
    bad(
        "text-to-video/kling-3.0",
        {"prompt": "shot 1, 5, " + "w" * 513},
        "shot 1 has 513 characters of words; at most 512",
        id="shot-words",
    ),
    bad(
        "text-to-video/kling-3.0",
        {"prompt": "shot 1, 0, a; shot 3, 5, b"},
        "every shot must last at least 1 s",
        "numbered 1, 2, ... in order",
        id="shot-numbers",
    ),
    bad(
        "text-to-video/kling-3.0",
        {"prompt": "shot 1, 5 a fox"},
        "shot 1 must read `shot <n>, <seconds>, <words>;`",
        id="shot-form",
    ),
    bad(
        "text-to-video/kling-3.0",
        {"prompt": "a", "settings": {"audio": "original"}},
        'settings.audio: "original" is not allowed for model kling-3.0',
        id="original",
    ),
    bad(
        "text-to-video/kling-3.0",
        {"prompt": "a", "negative_prompt": "b"},
        "negative_prompt: is not a field of text-to-video/kling-3.0; allowed fields are: prompt, settings, options",
        id="negative",
    ),
    bad(
        "text-to-video/kling-2.6",
        {"prompt": "a", "settings": {"audio": "native"}},
        'settings.audio: "native" needs settings.resolution "1080p" on model kling-2.6',
        id="native-720p",
    ),
    bad(
        "text-to-video/kling-2.6",
        {"prompt": "a", "settings": {"duration": 7}},
        "settings.duration: 7 is not allowed for model kling-2.6; allowed values are 5, 10",
        id="seven",
    ),
    bad("text-to-video/kling-2.6", {"prompt": "x" * 2501}, "at most 2500", id="prompt-2500"),
    bad(
        "text-to-video/kling-2.5-turbo",
        {"prompt": "a", "settings": {"multi_shot": True}},
        "settings.multi_shot: is not supported",
        id="no-multi-shot",
    ),
    bad("text-to-video/kling-2.5-turbo", {"prompt": " "}, "prompt: must not be empty", id="blank"),
    bad(
        "image-to-video/kling-3.0-turbo",
        {"contents": [FIRST, LAST]},
        'contents[1].type: "last_frame" is not allowed on /image-to-video/kling-3.0-turbo',
        'allowed values are "prompt", "first_frame"',
        id="turbo-last",
    ),
    bad(
        "image-to-video/kling-3.0-turbo",
        {"contents": [{"type": "prompt", "text": "x" * 2501}, FIRST]},
        "contents[0].text: is 2501 characters long; at most 2500",
        id="turbo-i2v-prompt",
    ),
    bad(
        "image-to-video/kling-3.0-turbo",
        {"contents": [FIRST], "settings": {"aspect_ratio": "1:1"}},
        "settings.aspect_ratio: is not supported on /image-to-video/kling-3.0-turbo",
        "(the first frame decides the frame)",
        id="aspect",
    ),
    bad(
        "image-to-video/kling-3.0",
        {"contents": [PROMPT]},
        'contents: needs exactly one "first_frame" item (got 0)',
        id="no-first",
    ),
    bad(
        "image-to-video/kling-3.0",
        {"contents": [FIRST, *[element(n) for n in range(4)]]},
        "contents: has 4 elements; at most 3",
        id="four-elements",
    ),
    bad(
        "image-to-video/kling-3.0",
        {"contents": [FIRST, {"type": "element", "element_id": 5, "id": "e"}]},
        "contents[1].element_id: must be a string (got 5)",
        id="numeric-element-id",
    ),
    bad(
        "image-to-video/kling-3.0",
        {"contents": [FIRST, {"type": "element", "element_id": "5"}]},
        'contents[1].id: is required in a "element" item',
        id="element-needs-id",
    ),
    bad(
        "image-to-video/kling-3.0",
        {"contents": [{**FIRST, "id": "f"}]},
        'contents[0].id: is not a field of a "first_frame" item on /image-to-video/kling-3.0',
        id="frame-id",
    ),
    bad(
        "image-to-video/kling-3.0",
        {"contents": [{"type": "first_frame", "url": "data:image/png;base64,AAAA"}]},
        'contents[0].url: has a "data:...;base64," prefix',
        id="data-prefix",
    ),
    bad(
        "image-to-video/kling-2.6",
        {"contents": [FIRST, LAST], "settings": {"resolution": "1080p", "audio": "native"}},
        'contents[1].type: "last_frame" needs settings.audio "off" on model kling-2.6',
        id="last-silent",
    ),
    bad(
        "image-to-video/kling-2.6",
        {"contents": [FIRST, LAST]},
        '"last_frame" needs settings.resolution "1080p" on model kling-2.6',
        id="last-1080p",
    ),
    bad(
        "image-to-video/kling-2.6",
        {"contents": [FIRST, {"type": "voice", "voice_id": "1", "id": "1"}]},
        'contents[1].type: a "voice" item needs settings.audio "native"',
        id="voice-silent",
    ),
    bad(
        "image-to-video/kling-2.6",
        {
            "contents": [FIRST, *[{"type": "voice", "voice_id": "1", "id": f"v{n}x"} for n in range(3)]],
            "settings": {"audio": "native", "resolution": "1080p"},
        },
        "contents: has 3 voices; at most 2",
        id="three-voices",
    ),
    bad(
        "image-to-video/kling-2.5-turbo",
        {"contents": [FIRST, LAST]},
        '"last_frame" needs settings.resolution "1080p" on model kling-2.5-turbo',
        id="turbo25-last",
    ),
    bad("omni-video/kling-3.0-omni", {"contents": [LAST]}, 'a "last_frame" needs a "first_frame" too', id="last-only"),
    bad(
        "omni-video/kling-3.0-omni",
        {"contents": [{"type": "feature_video", "url": "AAAA"}]},
        "contents[0].url: must be an absolute http:// or https:// URL",
        "URL only",
        id="video-base64",
    ),
    bad(
        "omni-video/kling-3.0-omni",
        {"contents": [{"type": "feature_video", "url": VIDEO_URL}, {"type": "base_video", "url": VIDEO_URL}]},
        "has 2 videos; at most 1",
        id="two-videos",
    ),
    bad(
        "omni-video/kling-3.0-omni",
        {"contents": [{"type": "feature_video", "url": VIDEO_URL}], "settings": {"audio": "native"}},
        'settings.audio: must be "off" with a feature_video',
        id="feature-audio",
    ),
    bad(
        "omni-video/kling-3.0-omni",
        {"contents": [FIRST, {"type": "base_video", "url": VIDEO_URL}], "settings": {"multi_shot": True}},
        "not allowed when editing a base_video",
        "settings.multi_shot: must be false when editing a base_video",
        id="edit-frames",
    ),
    bad(
        "omni-video/kling-3.0-omni",
        {"contents": [FIRST, *[element(n) for n in range(4)]]},
        "at most 3 are allowed with frames",
        id="frames-elements",
    ),
    bad(
        "omni-video/kling-3.0-omni",
        {"contents": [refer(1), refer(2), *[element(n) for n in range(6)]]},
        "make 8; at most 7 are allowed without a reference video",
        id="eight-refs",
    ),
    bad(
        "omni-video/kling-3.0-omni",
        {"contents": [{"type": "feature_video", "url": VIDEO_URL}, refer(1), *[element(n) for n in range(4)]]},
        "at most 4 are allowed with a reference video",
        id="refs-with-video",
    ),
    bad(
        "omni-video/kling-3.0-omni",
        {"contents": [PROMPT], "settings": {"audio": "original"}},
        '"original" keeps the sound of a reference video',
        id="original-no-video",
    ),
    bad(
        "omni-video/kling-3.0-omni",
        {"contents": [{**refer(1), "id": "img"}, {**refer(2), "id": "img_2"}]},
        "contain one another",
        id="ambiguous-ids",
    ),
    bad(
        "omni-video/kling-o1",
        {"contents": [FIRST], "settings": {"duration": 7}},
        "settings.duration: must be 5 or 10 when animating a first frame alone on model kling-o1",
        id="o1-first-7",
    ),
    bad(
        "omni-video/kling-o1",
        {"contents": [FIRST, LAST, refer(1)]},
        "with first and last frames, refer_image and element items are not allowed on model kling-o1",
        id="o1-frames-refs",
    ),
    bad(
        "omni-video/kling-o1",
        {"contents": [PROMPT], "settings": {"resolution": "4k", "duration": 11}},
        '"4k" is not allowed for model kling-o1',
        "between 3 and 10 seconds",
        id="o1-range",
    ),
    bad(
        "omni-video/kling-o1",
        {"contents": [PROMPT], "settings": {"multi_shot": True}},
        "settings.multi_shot: is not supported on /omni-video/kling-o1",
        id="o1-multi-shot",
    ),
    bad(
        "omni-video/kling-o1",
        {"contents": [{"type": "feature_video", "url": VIDEO_URL}, FIRST, LAST]},
        'a feature_video allows a "first_frame" but not a "last_frame"',
        id="o1-feature-last",
    ),
    bad(
        "motion-control/kling-3.0",
        {"contents": [IMAGE, VIDEO]},
        'settings.character_orientation: is required; allowed values are "image", "video"',
        id="orientation",
    ),
    bad(
        "motion-control/kling-3.0",
        {**MOTION, "contents": [IMAGE]},
        'contents: needs exactly one "video" item (got 0)',
        id="no-video",
    ),
    bad(
        "motion-control/kling-3.0",
        {**MOTION, "settings": {"character_orientation": "video", "duration": 5}},
        "settings.duration: is not supported on /motion-control/kling-3.0",
        id="no-duration",
    ),
    bad(
        "motion-control/kling-3.0",
        {**MOTION, "settings": {"character_orientation": "video", "resolution": "4k"}},
        '"4k" is not allowed for model kling-3.0',
        id="motion-4k",
    ),
    bad(
        "motion-control/kling-3.0",
        {**MOTION, "contents": [IMAGE, VIDEO, ELEMENT, element(2)]},
        "contents: has 2 elements; at most 1",
        id="two-elements",
    ),
    bad(
        "motion-control/kling-3.0",
        {**MOTION, "settings": {"character_orientation": "video", "audio": "native"}},
        '"native" is not allowed for model kling-3.0; allowed values are "original", "off"',
        id="motion-native",
    ),
    bad(
        "motion-control/kling-2.6",
        {**MOTION, "contents": [IMAGE, VIDEO, ELEMENT]},
        'contents[2].type: "element" is not allowed on /motion-control/kling-2.6',
        id="26-element",
    ),
]


@pytest.mark.parametrize(("action", "body"), VALID)
def test_valid_body_is_accepted(action: str, body: dict[str, Any]) -> None:
    parsed = parse_body(NEW_ACTIONS[action].schema, body)
    assert isinstance(parsed, CreateBody)
    assert parsed.model() == action.partition("/")[2]
    assert parsed.mode() in ("720p", "1080p", "4k")


@pytest.mark.parametrize(("action", "body", "fragments"), INVALID)
def test_invalid_body_is_refused_naming_the_field(
    action: str, body: dict[str, Any], fragments: tuple[str, ...]
) -> None:
    with pytest.raises(InvalidBody) as caught:
        parse_body(NEW_ACTIONS[action].schema, body)
    message = caught.value.message
    assert not [leak for leak in LEAKS if leak in message]
    for fragment in fragments:
        assert fragment in message
