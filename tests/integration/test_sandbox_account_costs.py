"""`GET /account/costs`: the resource-pack shape, required parameters, and its one-query-a-second limit."""

from __future__ import annotations

import time

import httpx

from tests.conftest import RunningSandbox, SandboxFactory
from tests.helpers import TEXT2VIDEO, SteppedClock, error_of, finished

COSTS = "/account/costs"


def _window() -> dict[str, int]:
    now = int(time.time() * 1000)
    return {"start_time": now - 86_400_000, "end_time": now + 60_000}


def test_costs_list_the_resource_packs(sandbox: RunningSandbox, client: httpx.Client) -> None:
    body = client.get(COSTS, params=_window()).json()
    assert (body["code"], body["message"]) == (0, "SUCCEED")
    data = body["data"]
    assert (data["code"], data["msg"]) == (0, "success")
    packs = data["resource_pack_subscribe_infos"]
    assert {pack["resource_pack_type"] for pack in packs} == {"decreasing_total"}
    for pack in packs:
        assert set(pack) == {
            "resource_pack_name",
            "resource_pack_id",
            "resource_pack_type",
            "total_quantity",
            "remaining_quantity",
            "purchase_time",
            "effective_time",
            "invalid_time",
            "status",
        }
        assert pack["total_quantity"] == float(sandbox.config.resource_pack_units)
        assert pack["status"] == "online"


def test_a_success_lowers_the_remaining_units(sandbox: RunningSandbox, client: httpx.Client) -> None:
    finished(client, TEXT2VIDEO, {"prompt": "a fox"})
    packs = client.get(COSTS, params=_window()).json()["data"]["resource_pack_subscribe_infos"]
    video = next(pack for pack in packs if pack["resource_pack_name"] == "video resource pack")
    assert video["remaining_quantity"] == sandbox.config.resource_pack_units - 1  # kling-v1 std 5 s


def test_a_pack_name_filters_the_answer(client: httpx.Client) -> None:
    params = _window() | {"resource_pack_name": "image resource pack"}
    packs = client.get(COSTS, params=params).json()["data"]["resource_pack_subscribe_infos"]
    assert [pack["resource_pack_name"] for pack in packs] == ["image resource pack"]


def test_both_times_are_required(client: httpx.Client) -> None:
    status, code, message = error_of(client.get(COSTS, params={"start_time": 0}))
    assert (status, code) == (400, 1201)
    assert message.startswith("end_time")


def test_more_than_one_query_a_second_is_1302(sandbox_factory: SandboxFactory) -> None:
    clock = SteppedClock()
    with sandbox_factory(clock=clock).client() as client:
        assert client.get(COSTS, params=_window()).status_code == 200
        assert error_of(client.get(COSTS, params=_window()))[:2] == (429, 1302)
        clock.advance(0.999)
        assert error_of(client.get(COSTS, params=_window()))[:2] == (429, 1302)
        clock.advance(0.001)  # a second after the first query
        assert client.get(COSTS, params=_window()).status_code == 200
