"""Per-account limits per resource pack (units 1102, concurrency 1303) and the injected faults."""

from __future__ import annotations

import time

import pytest

from tests.conftest import SandboxFactory
from tests.helpers import TEXT2VIDEO, create, error_of, finished, wait_until

SLOW = 0.01  # tasks take hours, so slots stay taken for the whole test
UNHURRIED = 200.0  # a 2-minute video takes about 0.6 s: a second request lands long before it ends
EXHAUSTED = "Account balance not enough: the video resource pack has 0 units not yet spoken for and this task costs 1"
TRY_ON = "/v1/images/kolors-virtual-try-on"
TRY_ON_BODY = {"human_image": "https://example.com/h.png", "cloth_image": "https://example.com/c.png"}


def test_video_tasks_over_the_limit_get_1303(sandbox_factory: SandboxFactory) -> None:
    sandbox = sandbox_factory(speed=SLOW, video_concurrency=2)
    with sandbox.client() as client:
        create(client, TEXT2VIDEO, {"prompt": "one"})
        create(client, "/v1/videos/image2video", {"image": "https://example.com/a.png"})
        status, code, message = error_of(client.post(TEXT2VIDEO, json={"prompt": "three"}))
        assert (status, code, message) == (429, 1303, "parallel task over resource pack limit")
        assert len(client.get(TEXT2VIDEO).json()["data"]) == 1  # the refused task was not stored
    with sandbox.client(sandbox.config.accounts[1]) as other:
        create(other, TEXT2VIDEO, {"prompt": "another account has its own slots"})


def test_an_image_task_takes_n_slots(sandbox_factory: SandboxFactory) -> None:
    sandbox = sandbox_factory(speed=SLOW, image_concurrency=5)
    with sandbox.client() as client:
        create(client, "/v1/images/generations", {"prompt": "four", "n": 4})
        assert error_of(client.post("/v1/images/generations", json={"prompt": "two", "n": 2}))[1] == 1303
        create(client, "/v1/images/generations", {"prompt": "one", "n": 1})


def test_packs_are_counted_separately(sandbox_factory: SandboxFactory) -> None:
    sandbox = sandbox_factory(speed=SLOW, video_concurrency=1, image_concurrency=1, try_on_concurrency=1)
    with sandbox.client() as client:
        create(client, TEXT2VIDEO, {"prompt": "video"})
        create(client, "/v1/images/generations", {"prompt": "image"})
        create(client, TRY_ON, TRY_ON_BODY)
        assert error_of(client.post(TRY_ON, json=TRY_ON_BODY))[1] == 1303


def test_a_slot_frees_when_the_task_ends(sandbox_factory: SandboxFactory) -> None:
    sandbox = sandbox_factory(speed=UNHURRIED, video_concurrency=1)
    with sandbox.client() as client:
        first = create(client, TEXT2VIDEO, {"prompt": "one"})
        assert error_of(client.post(TEXT2VIDEO, json={"prompt": "two"}))[1] == 1303
        wait_until(client, f"{TEXT2VIDEO}/{first['task_id']}")
        create(client, TEXT2VIDEO, {"prompt": "two"})


def test_a_failed_task_frees_its_slot_too(sandbox_factory: SandboxFactory) -> None:
    sandbox = sandbox_factory(video_concurrency=1, failure_rate=1.0)
    with sandbox.client() as client:
        assert finished(client, TEXT2VIDEO, {"prompt": "one"})["task_status"] == "failed"
        create(client, TEXT2VIDEO, {"prompt": "two"})


def test_a_used_up_pack_refuses_creates_with_1102(sandbox_factory: SandboxFactory) -> None:
    sandbox = sandbox_factory(resource_pack_units=2)
    with sandbox.client() as client:
        for prompt in ("one", "two"):  # kling-v1 std 5 s: 1 unit each
            finished(client, TEXT2VIDEO, {"prompt": prompt})
        assert error_of(client.post(TEXT2VIDEO, json={"prompt": "three"})) == (429, 1102, EXHAUSTED)
        now = int(time.time() * 1000)
        costs = client.get("/account/costs", params={"start_time": now - 1000, "end_time": now})
        video = next(
            pack
            for pack in costs.json()["data"]["resource_pack_subscribe_infos"]
            if pack["resource_pack_name"] == "video resource pack"
        )
        assert (video["remaining_quantity"], video["status"]) == (0.0, "runOut")
        create(client, "/v1/images/generations", {"prompt": "packs are separate", "model_name": "kling-v1"})


def test_a_burst_of_creates_cannot_overdraw_a_pack(sandbox_factory: SandboxFactory) -> None:
    sandbox = sandbox_factory(resource_pack_units=2, speed=SLOW)
    with sandbox.client() as client:
        running = [create(client, TEXT2VIDEO, {"prompt": prompt})["task_id"] for prompt in ("one", "two")]
        assert error_of(client.post(TEXT2VIDEO, json={"prompt": "three"})) == (429, 1102, EXHAUSTED)
        for task_id in running:  # the units were reserved, not yet deducted
            assert client.get(f"{TEXT2VIDEO}/{task_id}").json()["data"]["task_status"] in ("submitted", "processing")


def test_failed_tasks_use_no_units(sandbox_factory: SandboxFactory) -> None:
    sandbox = sandbox_factory(resource_pack_units=1, failure_rate=1.0)
    with sandbox.client() as client:
        for prompt in ("one", "two", "three"):
            assert finished(client, TEXT2VIDEO, {"prompt": prompt})["task_status"] == "failed"


def test_error_rate_answers_5xx_before_doing_anything(sandbox_factory: SandboxFactory) -> None:
    sandbox = sandbox_factory(error_rate=1.0)
    seen = set()
    with sandbox.client() as client:
        for _ in range(40):
            status, code, _message = error_of(client.post(TEXT2VIDEO, json={"prompt": "x"}))
            seen.add((status, code))
        assert error_of(client.get(TEXT2VIDEO))[0] >= 500
    assert seen == {(500, 5000), (503, 5001), (504, 5002)}
    assert len(sandbox.state.tasks) == 0


def test_error_rate_hits_about_that_share_of_requests(sandbox_factory: SandboxFactory) -> None:
    sandbox = sandbox_factory(error_rate=0.25)
    with sandbox.client() as client:
        failures = sum(client.get(TEXT2VIDEO).status_code >= 500 for _ in range(400))
    assert 60 <= failures <= 140


def test_a_lost_response_stores_the_task_but_answers_5xx(sandbox_factory: SandboxFactory) -> None:
    sandbox = sandbox_factory(lost_response_rate=1.0)
    with sandbox.client() as client:
        status, code, _message = error_of(client.post(TEXT2VIDEO, json={"prompt": "x", "external_task_id": "p-1"}))
        assert status >= 500
        assert code in (5000, 5001, 5002)
        found = client.get(f"{TEXT2VIDEO}/p-1")
        assert found.status_code == 200
        assert found.json()["data"]["task_info"]["external_task_id"] == "p-1"
        retry = error_of(client.post(TEXT2VIDEO, json={"prompt": "x", "external_task_id": "p-1"}))
        assert retry[:2] == (400, 1201)  # a blind retry would be refused: the task exists


@pytest.mark.parametrize("rate", [pytest.param(0.0, id="creates-answered"), pytest.param(1.0, id="creates-lost")])
def test_lost_responses_never_touch_queries(sandbox_factory: SandboxFactory, rate: float) -> None:
    sandbox = sandbox_factory(lost_response_rate=rate)
    with sandbox.client() as client:
        created = client.post(TEXT2VIDEO, json={"prompt": "x", "external_task_id": "q-1"})
        assert (created.status_code >= 500) == (rate == 1.0), created.text
        by_external = client.get(f"{TEXT2VIDEO}/q-1")
        assert by_external.status_code == 200, by_external.text
        task_id = by_external.json()["data"]["task_id"]
        if created.status_code == 200:  # otherwise the task_id is known only from the query
            assert created.json()["data"]["task_id"] == task_id
        assert client.get(f"{TEXT2VIDEO}/{task_id}").status_code == 200
        assert client.get(TEXT2VIDEO).status_code == 200
