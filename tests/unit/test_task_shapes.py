"""Legacy `task_result` and new `outputs[]` translate both ways; `/tasks` queries are read as §3.8-3.9 say."""

from typing import Any

import pytest

from kling_gateway.kling import outputs
from kling_gateway.kling.schemas import InvalidBody
from kling_gateway.kling.task_queries import DEFAULT_WINDOW_MS, read_id_query, read_listing

VIDEO = {"id": "11", "url": "https://f/v.mp4", "duration": "5.0", "watermark_url": "https://f/v-w.mp4"}
AUDIO = {
    "id": "12",
    "url_mp3": "https://f/a.mp3",
    "url_wav": "https://f/a.wav",
    "duration_mp3": "3.0",
    "duration_wav": "3.0",
}
VOICE = {"voice_id": "13", "voice_name": "Narrator", "trial_url": "https://f/t.mp3", "owned_by": "42"}
ELEMENT = {
    "element_id": 829833149733515,
    "element_name": "Grace",
    "element_description": "An elegant young woman",
    "reference_type": "image_refer",
    "element_image_list": {"frontal_image": "https://f/0.png", "refer_images": [{"image_url": "https://f/1.png"}]},
    "element_video_list": {},
    "element_voice_info": VOICE,
    "tag_list": [{"tag_id": "102", "tag_name": "person"}],
    "owned_by": "kling",
    "status": "succeed",
}
RESULTS = [
    pytest.param({"videos": [VIDEO]}, id="video"),
    pytest.param(
        {"images": [{"index": 0, "url": "https://f/0.png"}, {"index": 1, "url": "https://f/1.png"}]}, id="images"
    ),
    pytest.param(
        {"result_type": "series", "images": [], "series_images": [{"index": 0, "url": "https://f/s0.png"}]}, id="series"
    ),
    pytest.param(
        {"images": [{"index": 0, "url_1": "https://f/1", "url_2": "https://f/2", "url_3": "https://f/3"}]}, id="angles"
    ),
    pytest.param({"videos": [VIDEO], "audios": [AUDIO]}, id="video-to-audio"),
    pytest.param({"voices": [VOICE]}, id="voice"),
    pytest.param({"elements": [ELEMENT]}, id="element"),
]


@pytest.mark.parametrize("task_result", RESULTS)
def test_a_legacy_result_survives_the_trip_through_typed_outputs(task_result: dict[str, Any]) -> None:
    typed = outputs.outputs_of(task_result)
    assert all(item["type"] in ("video", "image", "audio", "voice", "element") for item in typed)
    assert outputs.task_result_of(typed) == task_result


def test_the_new_field_names_are_used() -> None:
    audio, voice = outputs.outputs_of({"audios": [AUDIO], "voices": [VOICE]})
    assert audio == {
        "type": "audio",
        "id": "12",
        "mp3_url": "https://f/a.mp3",
        "wav_url": "https://f/a.wav",
        "mp3_duration": "3.0",
        "wav_duration": "3.0",
    }
    assert voice == {
        "type": "voice",
        "id": "13",
        "name": "Narrator",
        "url": "https://f/t.mp3",
        "owned_by": "42",
        "status": "succeeded",
    }
    [element] = outputs.outputs_of({"elements": [ELEMENT]})
    assert (element["id"], element["element_type"], element["status"]) == (
        "829833149733515",
        "multi_image_elements",
        "succeeded",
    )
    assert [ref["role"] for ref in element["references"]] == ["frontal", "reference", "refer"]
    assert element["tags"] == [{"id": 102, "name": "person", "description": ""}]
    [image] = outputs.outputs_of({"images": [{"index": 0, "url": "u"}]})
    assert image == {"type": "image", "url": "u"}  # no index in the new shape


def test_a_legacy_record_is_reshaped_with_its_billing() -> None:
    legacy = {
        "task_id": "9",
        "task_status": "succeed",
        "task_status_msg": "",
        "task_info": {"external_task_id": "e-9"},
        "task_result": {"videos": [VIDEO]},
        "created_at": 1,
        "updated_at": 2,
        "final_unit_deduction": "2.50",
    }
    billing = outputs.billing_of(legacy, "video")
    assert billing == [{"charge_type": "unit", "amount": "2.5", "package_type": "video"}]
    record = outputs.record_of(legacy, billing)
    assert record == {
        "id": "9",
        "status": "succeeded",
        "message": "",
        "create_time": 1,
        "update_time": 2,
        "external_id": "e-9",
        "outputs": [{"type": "video", **VIDEO}],
        "billing": billing,
    }
    cash = outputs.billing_of({"final_balance_deduction": {"quota": "0.7", "list_price": "1.4"}}, "video", "USD")
    assert cash == [
        {"charge_type": "cash", "amount": "0.7", "cash_type": "balance", "currency": "USD", "list_price": "1.4"}
    ]
    assert outputs.record_of(legacy | {"task_status": "failed", "task_status_msg": "no"}, billing)["billing"] == []


def test_id_queries_keep_the_order_asked_and_drop_repeats() -> None:
    query = read_id_query({"external_task_ids": " b, a,,b "})
    assert (query.kind, query.ids) == ("external_task_ids", ("b", "a"))
    with pytest.raises(InvalidBody, match="cannot exceed 20 in total"):
        read_id_query({"task_ids": ",".join(map(str, range(21)))})
    with pytest.raises(InvalidBody, match="task_ids: must list at least one id"):
        read_id_query({"task_ids": ""})


def test_a_listing_defaults_to_the_last_thirty_days_and_a_hundred_tasks() -> None:
    asked = read_listing({}, now_ms=10**13)
    assert (asked.start_ms, asked.end_ms, asked.limit, asked.cursor) == (10**13 - DEFAULT_WINDOW_MS, 10**13, 100, None)
    both = read_listing(
        {"filters": [{"key": "status", "values": ["failed"]}, {"key": "status", "values": ["succeeded"]}]},
        now_ms=10**13,
    )
    assert both.statuses == frozenset({"failed", "succeeded"})
    assert both.product_types is None
    assert read_listing({"end_time": "5000", "start_time": 10}, now_ms=0).end_ms == 5000
    with pytest.raises(InvalidBody, match="request body must be a JSON object"):
        read_listing([1], now_ms=0)
    with pytest.raises(InvalidBody, match=r"must be a JSON object \(got null\)"):
        read_listing(None, now_ms=0)  # no body reads as {} at the edge; a JSON null is not a listing
