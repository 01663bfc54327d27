"""Both codecs of a task's results and deductions, and every dialect rendering tasks of both generations and
audio tasks: pure functions over the internal view."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from kling_gateway import logs
from kling_gateway.dialects import Dialect, openai, record, video
from kling_gateway.dialects.outputs import (
    billing_of_deduction,
    deduction_of_billing,
    first_output,
    legacy_result_json,
    stored_outputs,
)
from kling_gateway.dialects.shapes import SHAPES, callback_body
from kling_gateway.kling.outputs import outputs_of, task_result_of
from kling_gateway.kling.schemas import Package
from kling_gateway.store.records import TaskStatus, TaskView

NOW = 1_800_000_000_000
VIDEO = {
    "id": "v-1",
    "url": "https://cdn.example.com/a.mp4",
    "watermark_url": "https://cdn.example.com/w.mp4",
    "duration": "5.1",
}
T2A = {
    "id": "a-1",
    "url_mp3": "https://cdn.example.com/a.mp3",
    "url_wav": "https://cdn.example.com/a.wav",
    "duration_mp3": "3.0",
    "duration_wav": "3.0",
}
NEW_VIDEO = {"type": "video", "id": "v-2", "url": "https://cdn.example.com/n.mp4", "duration": "3.041"}
BILLING = [{"charge_type": "unit", "amount": "2.4", "package_type": "video"}]


def view(**fields: Any) -> TaskView:
    defaults: dict[str, Any] = {
        "platform_id": "video_01KBE6S3QZ6N8W1Y2X3V4T5R6P",
        "family": "videos",
        "action": "text2video",
        "upstream_task_id": "930831534075682845",
        "external_task_id": "mine-1",
        "status": TaskStatus.SUCCEED,
        "status_msg": "",
        "task_info_json": "{}",
        "result_json": "{}",
        "watermark": False,
        "final_unit_deduction": None,
        "created_at": NOW - 60_000,
        "updated_at": NOW,
        "model": None,
        "seconds": None,
        "width": None,
        "height": None,
        "fps": None,
        "expected_ms": None,
        "generation": "legacy",
        "billing_json": "[]",
    }
    return TaskView(**(defaults | fields))


def new_style(**fields: Any) -> TaskView:
    return view(
        action="text-to-video/kling-3.0-turbo",
        generation="new",
        result_json=orjson.dumps({"outputs": [NEW_VIDEO]}).decode(),
        billing_json=orjson.dumps(BILLING).decode(),
        **fields,
    )


def test_a_stored_result_reads_as_outputs_and_as_task_result_in_either_generation() -> None:
    legacy = view(result_json=orjson.dumps({"videos": [VIDEO], "audios": [T2A]}).decode())
    assert stored_outputs(legacy) == outputs_of({"videos": [VIDEO], "audios": [T2A]})
    assert [output["type"] for output in stored_outputs(legacy)] == ["video", "audio"]
    assert legacy_result_json(legacy) == legacy.result_json  # the stored text as it is: nothing re-encoded
    assert stored_outputs(new_style()) == [NEW_VIDEO]
    assert legacy_result_json(new_style()) == task_result_of([NEW_VIDEO])
    assert stored_outputs(view(generation="new")) == []  # not finished yet


def test_deductions_convert_both_ways() -> None:
    assert billing_of_deduction("4.4", Package.VIDEO) == [
        {"charge_type": "unit", "amount": "4.4", "package_type": "video"}
    ]
    assert billing_of_deduction(None, Package.IMAGE) == []
    assert deduction_of_billing(BILLING) == "2.4"
    assert deduction_of_billing([*BILLING, {"charge_type": "unit", "amount": "0.6", "package_type": "audio"}]) == "3.0"
    assert deduction_of_billing([{"charge_type": "cash", "amount": "1.2", "cash_type": "balance"}]) is None


def test_the_kling_dialect_shows_a_new_style_task_as_the_legacy_task_object() -> None:
    data = orjson.loads(orjson.dumps(SHAPES[Dialect.KLING].one(new_style(), NOW)))
    assert data["task_status"] == "succeed"
    assert data["task_result"] == {"videos": [{k: v for k, v in NEW_VIDEO.items() if k != "type"}]}
    assert data["final_unit_deduction"] == "2.4"
    assert data["task_info"] == {"external_task_id": "mine-1"}


def test_the_task_and_video_dialects_render_a_new_style_task() -> None:
    task = orjson.loads(orjson.dumps(SHAPES[Dialect.TASK].one(new_style(), NOW)))
    assert (task["data"]["status"], task["data"]["progress"]) == ("SUCCESS", "100%")
    assert task["data"]["data"]["data"]["task_result"]["videos"][0]["url"] == NEW_VIDEO["url"]
    flat = video.one(new_style(), NOW)
    assert (flat["status"], flat["url"], flat["format"]) == ("completed", NEW_VIDEO["url"], "mp4")
    assert flat["metadata"]["duration"] == pytest.approx(3.041)  # type: ignore[index]
    job = openai.video(new_style(), NOW)
    assert (job["status"], job["seconds"], job["model"]) == ("completed", "3.041", None)


@pytest.mark.parametrize(
    ("result", "url"),
    [
        ({"audios": [T2A]}, T2A["url_mp3"]),
        ({"videos": [VIDEO], "audios": [T2A]}, T2A["url_mp3"]),  # video-to-audio: its result is the audio
        (
            {"audios": [{"id": "t", "url": "https://cdn.example.com/t.mp3", "duration": "2"}]},
            "https://cdn.example.com/t.mp3",
        ),
    ],
)
def test_an_audio_tasks_url_is_its_audio_file(result: dict[str, Any], url: str) -> None:
    audio = view(
        platform_id="audio_01KBE6S3QZ6N8W1Y2X3V4T5R6P",
        family="audio",
        action="text-to-audio",
        result_json=orjson.dumps(result).decode(),
    )
    flat = video.one(audio, NOW)
    assert (flat["url"], flat["format"]) == (url, "mp3")
    output = first_output(audio)
    assert output is not None
    assert output.kind == "audio"


def test_a_record_shows_either_generation_in_the_new_codec() -> None:
    legacy = view(
        result_json=orjson.dumps({"videos": [VIDEO]}).decode(),
        final_unit_deduction="1",
        status=TaskStatus.QUEUED,
        upstream_task_id=None,
    )
    assert record.record(legacy) == {
        "id": None,
        "platform_id": legacy.platform_id,
        "status": "submitted",
        "message": "",
        "create_time": legacy.created_at,
        "update_time": legacy.updated_at,
        "external_id": "mine-1",
        "outputs": [{"type": "video", **VIDEO}],
        "billing": [{"charge_type": "unit", "amount": "1", "package_type": "video"}],
    }
    assert record.record(new_style())["outputs"] == [NEW_VIDEO]
    assert record.created(new_style()) == {
        "id": "930831534075682845",
        "platform_id": new_style().platform_id,
        "status": "succeeded",
        "create_time": NOW - 60_000,
        "update_time": NOW,
        "external_id": "mine-1",
    }


def test_a_new_style_tasks_kling_callback_carries_the_new_record() -> None:
    assert orjson.loads(callback_body(new_style(), None, NOW)) == record.record(new_style())
    assert orjson.loads(callback_body(new_style(), "kling", NOW)) == record.record(new_style())
    assert orjson.loads(callback_body(new_style(), "task", NOW))["data"]["status"] == "SUCCESS"
    assert orjson.loads(callback_body(view(), None, NOW))["task_status"] == "succeed"  # legacy: the bare task object


def test_kept_records_answer_a_batch_byte_for_byte_as_records_do_and_encode_a_finished_one_once() -> None:
    finished, running = new_style(), view(platform_id="video_01KBE6S3QZ6N8W1Y2X3V4T5R7Q", status=TaskStatus.PROCESSING)
    kept = record.KeptRecords()
    token = logs.enter_request("req_batch")
    try:
        for _ in range(2):  # the second time, the finished record is the one kept
            assert orjson.dumps(kept.records([finished, running])) == orjson.dumps(record.records([finished, running]))
        moved = running._replace(status=TaskStatus.SUCCEED, updated_at=NOW + 1)
        assert orjson.dumps(kept.records([moved])) == orjson.dumps(record.records([moved]))  # kept only once final
        # A finished record is encoded once: what it was made from is read no more.
        changed = finished._replace(status_msg="not read again")
        assert orjson.dumps(kept.records([changed])) == orjson.dumps(record.records([finished]))
    finally:
        logs.leave_request(token)
