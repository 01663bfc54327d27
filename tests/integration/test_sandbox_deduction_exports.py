"""The deduction exports `/account/billing/package` and `/account/billing/balance`: one row per deducted task or
billed call, matching the records' own deduction fields, with filters, paging and a cursor that overrides all."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx
import pytest

from kling_gateway.kling.schemas import Package
from kling_gateway.sandbox import Account
from kling_gateway.sandbox.deductions import billing_entries, task_deduction
from tests.conftest import SandboxFactory
from tests.helpers import TEXT2VIDEO, SteppedClock, create, error_of

PACKAGE = "/account/billing/package"
BALANCE = "/account/billing/balance"
DAY_MS = 86_400_000


def _settle(client: httpx.Client, clock: SteppedClock, path: str, body: dict[str, Any]) -> dict[str, Any]:
    task_id = create(client, path, body)["task_id"]
    clock.advance(60)  # the fast sandbox finishes any task within a minute of sandbox time
    data: dict[str, Any] = client.get(f"{path}/{task_id}").json()["data"]
    assert data["task_status"] == "succeed"
    return data


def _window(clock: SteppedClock) -> dict[str, int]:
    return {"start_time": clock.ms - DAY_MS, "end_time": clock.ms + DAY_MS}


def _export(client: httpx.Client, path: str, body: dict[str, Any]) -> dict[str, Any]:
    answer = client.post(path, json=body)
    assert answer.status_code == 200, answer.text
    data: dict[str, Any] = answer.json()["data"]
    return data


def test_unit_rows_match_the_tasks_and_calls_one_to_one(sandbox_factory: SandboxFactory) -> None:
    clock = SteppedClock()
    sandbox = sandbox_factory(clock=clock)
    with sandbox.client() as client:
        video = _settle(client, clock, TEXT2VIDEO, {"prompt": "a fox", "model_name": "kling-v3", "mode": "pro"})
        image = _settle(client, clock, "/v1/images/generations", {"prompt": "a fox", "n": 2})
        audio = _settle(client, clock, "/v1/audio/text-to-audio", {"prompt": "rain", "duration": 3})
        recognized = client.post("/v1/videos/image-recognize", json={"image": "https://cdn.example.com/a.png"})
        pending = create(client, TEXT2VIDEO, {"prompt": "not finished yet", "model_name": "kling-v1-6"})
        rows = _export(client, PACKAGE, _window(clock))["result"]["detail"]
        assert pending["task_id"] not in {row["task_id"] for row in rows}  # its units are not deducted yet
        by_id = {row["task_id"]: row for row in rows}
        assert set(by_id) == {video["task_id"], image["task_id"], audio["task_id"], recognized.json()["request_id"]}
        for record in (video, image, audio):
            assert by_id[record["task_id"]]["deduction_amount"] == float(record["final_unit_deduction"])
        assert by_id[recognized.json()["request_id"]]["deduction_amount"] == 0.1
        row = by_id[video["task_id"]]
        assert row | {"package_id": "", "api_key_name": "", "deduction_time": ""} == {
            "package_id": "",
            "product_type": "video",
            "task_id": video["task_id"],
            "api_key_name": "",
            "product_function": "Text to Video",
            "model_name": "kling-v3",
            "resolution": "1080p",
            "duration": "5.0",
            "refer_video_input": False,
            "video_sound": "off",
            "voice_control": False,
            "deduction_time": "",
            "unit_before_deduction": 10_000.0,
            "deduction_amount": 4.0,
            "unit_after_deduction": 9_996.0,
        }
        assert isinstance(row["deduction_time"], str)
        assert by_id[image["task_id"]]["product_type"] == "image"
        assert "duration" not in by_id[image["task_id"]]
        assert _export(client, BALANCE, _window(clock))["result"]["detail"] == []
        task = sandbox.state.tasks.task_by_id(video["task_id"])
        assert task is not None
        assert billing_entries(task_deduction(task)) == [
            {"charge_type": "unit", "amount": "4", "package_type": "video"}
        ]


def test_paging_filters_and_the_cursor(sandbox_factory: SandboxFactory) -> None:
    clock = SteppedClock()
    sandbox = sandbox_factory(clock=clock)
    with sandbox.client() as client:
        videos = [_settle(client, clock, TEXT2VIDEO, {"prompt": str(n), "model_name": "kling-v1-6"}) for n in range(3)]
        images = [_settle(client, clock, "/v1/images/generations", {"prompt": str(n)}) for n in range(2)]
        window = _window(clock)
        first = _export(client, PACKAGE, window | {"limit": 2})
        assert (first["result"]["count"], first["has_more"]) == (2, True)
        # The cursor stands for the whole query: other fields sent beside it are ignored.
        rest = _export(client, PACKAGE, {"cursor": first["next_cursor"], "limit": 1, "start_time": 0, "end_time": 1})
        last = _export(client, PACKAGE, {"cursor": rest["next_cursor"]})
        assert (rest["result"]["count"], last["result"]["count"], last["has_more"], last["next_cursor"]) == (
            2,
            1,
            False,
            "",
        )
        seen = [row["task_id"] for page in (first, rest, last) for row in page["result"]["detail"]]
        assert seen == [task["task_id"] for task in videos + images]  # oldest first, each once
        only_images = _export(client, PACKAGE, window | {"filters": [{"key": "product_type", "values": ["image"]}]})
        assert [row["task_id"] for row in only_images["result"]["detail"]] == [task["task_id"] for task in images]
        either = [{"key": "product_type", "values": ["image", "video"]}, {"key": "api_key_name", "values": ["nobody"]}]
        assert _export(client, PACKAGE, window | {"filters": either})["result"]["count"] == 0  # AND across keys
        by_pack = [{"key": "package_name", "values": ["video resource pack"]}]
        assert _export(client, PACKAGE, window | {"filters": by_pack})["result"]["count"] == 3


@pytest.mark.parametrize(
    ("body", "message"),
    [
        pytest.param({}, "start_time: is required without a cursor", id="no-window"),
        pytest.param({"start_time": 5, "end_time": 5}, "start_time: must be before end_time", id="empty-window"),
        pytest.param(
            {"start_time": 0, "end_time": 9, "limit": 501}, "limit: must be a whole number from 1 to 500", id="limit"
        ),
        pytest.param(
            {
                "start_time": 0,
                "end_time": 9,
                "filters": [{"key": "package_name", "values": ["a"]}, {"key": "package_id", "values": ["b"]}],
            },
            "filters: package_name and package_id cannot be used together",
            id="exclusive-filters",
        ),
        pytest.param({"cursor": "not-a-cursor"}, "cursor: is not a next_cursor", id="bad-cursor"),
    ],
)
def test_bad_export_requests_are_refused(sandbox_factory: SandboxFactory, body: dict[str, Any], message: str) -> None:
    with sandbox_factory().client() as client:
        status, code, text = error_of(client.post(PACKAGE, json=body))
    assert (status, code) == (400, 1201)
    assert text.startswith(message)


def test_a_cash_account_is_listed_on_the_balance_export(sandbox_factory: SandboxFactory) -> None:
    clock = SteppedClock()
    cash = Account.generate().model_copy(update={"pays_cash": "USD", "api_key_name": "prod"})
    sandbox = sandbox_factory(clock=clock, accounts=(cash,), cash_discount=Decimal("0.5"))
    with sandbox.client(cash) as client:
        video = _settle(client, clock, TEXT2VIDEO, {"prompt": "a fox", "model_name": "kling-v2-6"})  # 1.5 units
        assert video["final_unit_deduction"] == "0"
        assert video["final_balance_deduction"] == {"quota": "0.105", "list_price": "0.21"}
        tts = client.post("/v1/audio/tts", json={"text": "hi", "voice_id": "v"}).json()["data"]
        assert tts["final_balance_deduction"] == {"quota": "0.0035", "list_price": "0.007"}
        detail = _export(client, BALANCE, _window(clock) | {"filters": [{"key": "api_key_name", "values": ["prod"]}]})
        rows = detail["result"]["detail"]
        assert [row["task_id"] for row in rows] == [video["task_id"], tts["task_id"]]
        assert rows[0] | {"deduction_time": ""} == {
            "task_id": video["task_id"],
            "api_key_name": "prod",
            "product_function": "Text to Video",
            "model_name": "kling-v2-6",
            "resolution": "720p",
            "duration": "5.0",
            "refer_video_input": False,
            "video_sound": "off",
            "voice_control": False,
            "deduction_time": "",
            "cash_type": "balance",
            "balance_before_deduction": 10_000.0,
            "deduction_amount": 0.105,
            "balance_after_deduction": 9_999.895,
            "list_price": 0.21,
            "currency": "USD",
        }
        assert _export(client, PACKAGE, _window(clock))["result"]["count"] == 0
        task = sandbox.state.tasks.task_by_id(video["task_id"])
        assert task is not None
        deduction = task_deduction(task)
        assert deduction is not None
        assert deduction.package is Package.VIDEO
        assert billing_entries(deduction) == [
            {"charge_type": "cash", "amount": "0.105", "cash_type": "balance", "currency": "USD", "list_price": "0.21"}
        ]


def test_the_exports_take_an_api_key_too(sandbox_factory: SandboxFactory) -> None:
    sandbox = sandbox_factory()
    with sandbox.client(token=sandbox.account.api_key) as client:
        assert client.post(PACKAGE, json={"start_time": 0, "end_time": 1}).status_code == 200
