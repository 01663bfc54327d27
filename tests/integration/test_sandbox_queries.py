"""Single queries by task_id or external_task_id, paged lists, and what unknown ids answer."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import RunningSandbox
from tests.helpers import TEXT2VIDEO, create, error_of


def test_a_task_is_found_by_task_id_and_by_external_task_id(client: httpx.Client) -> None:
    task_id = create(client, TEXT2VIDEO, {"prompt": "a fox", "external_task_id": "order-42"})["task_id"]
    by_id = client.get(f"{TEXT2VIDEO}/{task_id}").json()["data"]
    by_external = client.get(f"{TEXT2VIDEO}/order-42").json()["data"]
    assert by_id["task_id"] == by_external["task_id"] == task_id
    assert by_external["task_info"]["external_task_id"] == "order-42"


def test_a_second_task_with_the_same_external_id_is_refused(client: httpx.Client) -> None:
    create(client, TEXT2VIDEO, {"prompt": "a fox", "external_task_id": "dup"})
    status, code, message = error_of(client.post(TEXT2VIDEO, json={"prompt": "a cat", "external_task_id": "dup"}))
    assert (status, code) == (400, 1201)
    assert "external_task_id" in message
    assert "unique" in message
    assert len(client.get(TEXT2VIDEO).json()["data"]) == 1


def test_a_task_id_of_another_action_does_not_hide_an_external_id(client: httpx.Client) -> None:
    other = create(client, "/v1/videos/image2video", {"image": "https://example.com/a.png"})["task_id"]
    mine = create(client, TEXT2VIDEO, {"prompt": "a fox", "external_task_id": other})["task_id"]
    assert client.get(f"{TEXT2VIDEO}/{other}").json()["data"]["task_id"] == mine


def test_external_ids_are_unique_per_account_not_globally(sandbox: RunningSandbox) -> None:
    with sandbox.client() as first, sandbox.client(sandbox.config.accounts[1]) as second:
        create(first, TEXT2VIDEO, {"prompt": "a fox", "external_task_id": "shared"})
        create(second, TEXT2VIDEO, {"prompt": "a fox", "external_task_id": "shared"})


def test_an_unknown_id_is_404_1203(client: httpx.Client) -> None:
    status, code, message = error_of(client.get(f"{TEXT2VIDEO}/123456789012345678"))
    assert (status, code) == (404, 1203)
    assert "123456789012345678" in message


def test_a_task_is_not_found_under_another_action(client: httpx.Client) -> None:
    task_id = create(client, TEXT2VIDEO, {"prompt": "a fox"})["task_id"]
    assert error_of(client.get(f"/v1/videos/image2video/{task_id}"))[:2] == (404, 1203)


def test_another_accounts_task_is_not_found_by_either_id(sandbox: RunningSandbox) -> None:
    with sandbox.client() as owner, sandbox.client(sandbox.config.accounts[1]) as stranger:
        task_id = create(owner, TEXT2VIDEO, {"prompt": "a fox", "external_task_id": "mine"})["task_id"]
        assert error_of(stranger.get(f"{TEXT2VIDEO}/{task_id}"))[:2] == (404, 1203)
        assert error_of(stranger.get(f"{TEXT2VIDEO}/mine"))[:2] == (404, 1203)
        assert stranger.get(TEXT2VIDEO).json()["data"] == []


def test_a_double_slash_before_the_id_is_tolerated(client: httpx.Client) -> None:
    path = "/v1/images/kolors-virtual-try-on"
    body = {"human_image": "https://example.com/h.png", "cloth_image": "https://example.com/c.png"}
    task_id = create(client, path, body)["task_id"]
    assert client.get(f"{path}//{task_id}").json()["data"]["task_id"] == task_id


def test_actions_with_a_slash_are_queried_and_listed(client: httpx.Client) -> None:
    path = "/v1/images/editing/expand"
    task_id = create(client, path, {"image": "https://example.com/a.png", "up_expansion_ratio": 0.5})["task_id"]
    assert client.get(f"{path}/{task_id}").json()["data"]["task_id"] == task_id
    assert [task["task_id"] for task in client.get(path).json()["data"]] == [task_id]


def test_a_list_is_a_bare_array_newest_first_30_by_default(client: httpx.Client) -> None:
    ids = [create(client, TEXT2VIDEO, {"prompt": f"clip {n}"})["task_id"] for n in range(35)]
    body = client.get(TEXT2VIDEO).json()
    assert body["code"] == 0
    assert [task["task_id"] for task in body["data"]] == ids[::-1][:30]
    second = client.get(TEXT2VIDEO, params={"pageNum": 2, "pageSize": 30}).json()["data"]
    assert [task["task_id"] for task in second] == ids[::-1][30:]
    assert client.get(TEXT2VIDEO, params={"pageNum": 3, "pageSize": 30}).json()["data"] == []
    assert len(client.get(TEXT2VIDEO, params={"pageSize": 7}).json()["data"]) == 7


def test_a_list_holds_only_that_actions_tasks(client: httpx.Client) -> None:
    create(client, TEXT2VIDEO, {"prompt": "a fox"})
    assert client.get("/v1/videos/image2video").json()["data"] == []


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"pageNum": 0}, "pageNum"),
        ({"pageNum": 1001}, "pageNum"),
        ({"pageSize": 0}, "pageSize"),
        ({"pageSize": 501}, "pageSize"),
        ({"pageSize": "ten"}, "pageSize"),
        ({"pageNum": "-1"}, "pageNum"),
    ],
)
def test_out_of_range_paging_is_refused(client: httpx.Client, params: dict[str, str | int], field: str) -> None:
    status, code, message = error_of(client.get(TEXT2VIDEO, params=params))
    assert (status, code) == (400, 1201)
    assert message.startswith(field)
    assert "1 to" in message


def test_unicode_digits_in_numbers_are_a_clear_400(client: httpx.Client) -> None:
    status, code, message = error_of(client.get(TEXT2VIDEO, params={"pageNum": "²"}))
    assert (status, code) == (400, 1201)
    assert message.startswith("pageNum")
    assert error_of(client.get("/account/costs", params={"start_time": "²", "end_time": "1"}))[:2] == (400, 1201)


@pytest.mark.parametrize(("page_num", "page_size"), [(1, 1), (1000, 500), (1, 500)])
def test_paging_bounds_are_inclusive(client: httpx.Client, page_num: int, page_size: int) -> None:
    assert client.get(TEXT2VIDEO, params={"pageNum": page_num, "pageSize": page_size}).status_code == 200


def test_unknown_paths_and_methods_answer_with_kling_codes(client: httpx.Client) -> None:
    assert error_of(client.get("/v1/videos/no-such-action"))[:2] == (404, 1203)
    assert error_of(client.post("/v1/music/text2song", json={}))[:2] == (404, 1203)
    assert error_of(client.delete(TEXT2VIDEO))[:2] == (404, 1202)


def test_wrong_methods_answer_1202(client: httpx.Client) -> None:
    assert error_of(client.get("/v1/videos/multi-elements/init-selection"))[:2] == (404, 1202)
    task_id = create(client, TEXT2VIDEO, {"prompt": "a fox"})["task_id"]
    assert error_of(client.post(f"{TEXT2VIDEO}/{task_id}", json={}))[:2] == (404, 1202)
