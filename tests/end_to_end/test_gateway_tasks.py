"""Submit, query and list through the gateway, as a user with a key would, over a real sandbox."""

from __future__ import annotations

import json
import os
import re
import subprocess
from decimal import Decimal
from typing import Any

import httpx
import pytest

from kling_gateway.sandbox.store import SandboxTask
from tests.gateway import GatewayFactory, RunningGateway
from tests.helpers import error_of, wait_until

T2V = "/kling/v1/videos/text2video"
PLATFORM_ID = re.compile(r"^video_[0-9A-HJKMNP-TV-Z]{26}$")
SEED_000_FIELDS = {
    "task_id",
    "platform_id",
    "task_status",
    "task_status_msg",
    "task_info",
    "task_result",
    "watermark_info",
    "created_at",
    "updated_at",
}


@pytest.mark.both_backends
def test_a_task_goes_from_submit_to_result(gateway: RunningGateway) -> None:
    with gateway.client() as client:
        answer = client.post(T2V, json={"prompt": "a fox", "external_task_id": "fox-1"})
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["code"] == 0
        created = body["data"]
        assert PLATFORM_ID.match(created["platform_id"])
        assert created["task_status"] == "submitted"
        done = wait_until(client, f"{T2V}/{created['platform_id']}")
    assert SEED_000_FIELDS | {"final_unit_deduction"} <= done.keys()
    assert done["task_status"] == "succeed"
    assert done["task_id"] == created["task_id"]
    assert done["task_info"] == {"external_task_id": "fox-1"}
    assert done["final_unit_deduction"] == "1"
    assert done["task_result"]["videos"][0]["url"].endswith(".mp4")


def submit(client: httpx.Client, body: dict[str, Any], path: str = T2V) -> dict[str, Any]:
    """Create a task through the gateway and return its `data`."""
    answer = client.post(path, json=body)
    assert answer.status_code == 200, answer.text
    data: dict[str, Any] = answer.json()["data"]
    return data


def upstream_tasks(gateway: RunningGateway) -> list[SandboxTask]:
    """Every task the sandbox holds, on every account."""
    return gateway.sandbox.state.tasks.all_tasks()


def test_any_of_the_three_ids_finds_the_task_on_both_path_prefixes(gateway: RunningGateway) -> None:
    with gateway.client() as client:
        created = submit(client, {"prompt": "a fox", "external_task_id": "fox-2"})
        done = wait_until(client, f"{T2V}/{created['platform_id']}")
        for prefix in ("/kling/v1", "/v1"):
            for reference in (done["platform_id"], done["task_id"], "fox-2"):
                answer = client.get(f"{prefix}/videos/text2video/{reference}")
                assert answer.status_code == 200, answer.text
                assert answer.json()["data"] == done


def test_another_users_task_is_not_found_by_any_id(gateway: RunningGateway) -> None:
    with gateway.client("alice") as alice, gateway.client("bob") as bob:
        created = submit(alice, {"prompt": "a fox", "external_task_id": "shared-name"})
        for reference in (created["platform_id"], created["task_id"], "shared-name"):
            status, code, message = error_of(bob.get(f"{T2V}/{reference}"))
            assert (status, code) == (404, 1203)
            assert reference in message
        assert bob.get(T2V).json()["data"] == []
        # bob may use the same external id for a task of his own
        assert (
            submit(bob, {"prompt": "a fox", "external_task_id": "shared-name"})["platform_id"] != created["platform_id"]
        )


def test_a_task_is_found_only_under_its_own_action(gateway: RunningGateway) -> None:
    with gateway.client() as client:
        created = submit(client, {"prompt": "a fox"})
        status, code, _ = error_of(client.get(f"/kling/v1/videos/image2video/{created['platform_id']}"))
    assert (status, code) == (404, 1203)


def test_lists_are_newest_first_and_paged(gateway: RunningGateway) -> None:
    with gateway.client() as client:
        ids = [submit(client, {"prompt": f"fox {n}"})["platform_id"] for n in range(5)]
        assert [t["platform_id"] for t in client.get(T2V).json()["data"]] == ids[::-1]
        page = client.get(T2V, params={"pageNum": 2, "pageSize": 2}).json()["data"]
        assert [t["platform_id"] for t in page] == ids[::-1][2:4]
        assert client.get(T2V, params={"pageNum": 4, "pageSize": 2}).json()["data"] == []
        assert client.get("/kling/v1/images/generations").json()["data"] == []


@pytest.mark.parametrize(
    ("name", "value"),
    [("pageNum", "0"), ("pageNum", "1001"), ("pageSize", "0"), ("pageSize", "501"), ("pageSize", "ten")],
)
def test_paging_out_of_bounds_is_refused(gateway: RunningGateway, name: str, value: str) -> None:
    with gateway.client() as client:
        status, code, message = error_of(client.get(T2V, params={name: value}))
    assert (status, code) == (400, 1201)
    assert name in message
    assert "from 1 to" in message


@pytest.mark.both_backends
def test_a_resubmit_with_the_same_external_id_returns_the_original(gateway: RunningGateway) -> None:
    body = {"prompt": "a fox", "external_task_id": "order-7"}
    with gateway.client() as client:
        first = submit(client, body)
        again = submit(client, body)
        assert again["platform_id"] == first["platform_id"]
        assert again["task_id"] == first["task_id"]
        status, code, message = error_of(client.post(T2V, json=body | {"prompt": "a wolf"}))
    assert (status, code) == (409, 1201)
    assert "order-7" in message
    assert "different request body" in message
    assert len(upstream_tasks(gateway)) == 1
    assert gateway.admin.task_count() == 1
    assert gateway.admin.entry_kinds("alice").count("hold") == 1


@pytest.mark.both_backends
def test_an_external_id_that_is_another_tasks_id_is_refused_so_every_id_finds_one_task(gateway: RunningGateway) -> None:
    with gateway.client() as client:
        first = submit(client, {"prompt": "a fox"})
        wait_until(client, f"{T2V}/{first['platform_id']}")  # charged: the balance moves no more
        before = gateway.admin.money("alice")
        for taken, what in (
            (first["task_id"], "is the task_id of your task"),
            (first["platform_id"], "has the form of"),
        ):
            status, code, message = error_of(client.post(T2V, json={"prompt": "a wolf", "external_task_id": taken}))
            assert (status, code) == (400, 1201)
            assert f"external_task_id: {taken!r} {what}" in message
        # Any platform id's form is refused, of another family and of no task yet: a lookup takes it for one.
        unused = {"prompt": "a wolf", "external_task_id": "image_01JABCDEFGHJKMNPQRSTVWXYZ0"}
        status, _, message = error_of(client.post(T2V, json=unused))
        assert status == 400
        assert "has the form of the gateway's own task ids (platform_id)" in message
        for reference in (first["task_id"], first["platform_id"]):
            assert client.get(f"{T2V}/{reference}").json()["data"]["platform_id"] == first["platform_id"]
    assert gateway.admin.task_count() == 1
    assert gateway.admin.money("alice") == before
    assert len(upstream_tasks(gateway)) == 1


def test_a_bad_body_is_refused_and_nothing_is_stored_held_or_sent(gateway: RunningGateway) -> None:
    before = gateway.admin.money("alice")
    with gateway.client() as client:
        status, code, message = error_of(client.post(T2V, json={"prompt": "a fox", "duration": "7"}))
        assert (status, code) == (400, 1201)
        assert "duration" in message
        assert "allowed" in message
        status, code, message = error_of(client.post(T2V, content=b"{not json"))
        assert (status, code) == (400, 1201)
        assert "JSON" in message
    assert gateway.admin.task_count() == 0
    assert upstream_tasks(gateway) == []
    assert gateway.admin.money("alice") == before


@pytest.mark.parametrize(
    ("header", "code"),
    [
        (None, 1001),
        ("Basic abc", 1002),
        ("Bearer", 1002),
        ("Bearer not-a-key", 1002),
        ("Bearer sk-unknown", 1000),
    ],
)
def test_requests_without_a_valid_key_get_401(gateway: RunningGateway, header: str | None, code: int) -> None:
    headers = {"Authorization": header} if header is not None else {}
    with gateway.http(headers) as client:
        for answer in (client.get(T2V), client.post(T2V, json={"prompt": "a fox"})):
            status, got, message = error_of(answer)
            assert (status, got) == (401, code)
            assert message
    assert gateway.admin.task_count() == 0


def test_a_revoked_key_stops_working(gateway_factory: GatewayFactory) -> None:
    gateway = gateway_factory(key_cache_ttl_s=0)
    with gateway.client() as client:
        assert client.get(T2V).status_code == 200
        gateway.admin.revoke_keys("alice")
        status, code, _ = error_of(client.get(T2V))
    assert (status, code) == (401, 1000)


@pytest.mark.both_backends
def test_a_finished_task_costs_exactly_its_deduction(gateway: RunningGateway) -> None:
    balance, _ = gateway.admin.money("alice")
    with gateway.client() as client:
        created = submit(client, {"prompt": "a fox", "model_name": "kling-v2-6", "mode": "pro", "duration": "10"})
        done = wait_until(client, f"{T2V}/{created['platform_id']}")
        image = submit(client, {"prompt": "a cat", "n": 2}, "/kling/v1/images/generations")
        image_done = wait_until(client, f"/kling/v1/images/generations/{image['platform_id']}")
    video_cost = int(Decimal(done["final_unit_deduction"]) * 1_000_000)
    image_cost = int(Decimal(image_done["final_unit_deduction"]) * 25_000)
    assert gateway.admin.money("alice") == (balance - video_cost - image_cost, 0)
    assert gateway.admin.ledger(created["platform_id"])["charge"] == -video_cost
    assert gateway.admin.ledger(image["platform_id"])["charge"] == -image_cost


@pytest.mark.both_backends
def test_a_submit_the_balance_cannot_cover_is_refused_before_anything_goes_upstream(
    gateway: RunningGateway,
) -> None:
    key = gateway.admin.user("carol", balance_yuan="0.50")
    with gateway.http({"Authorization": f"Bearer {key}"}) as client:
        status, code, message = error_of(client.post(T2V, json={"prompt": "a fox"}))
    assert (status, code) == (429, 1102)
    assert "insufficient balance" in message
    assert "¥0.50" in message
    assert gateway.admin.task_count() == 0
    assert upstream_tasks(gateway) == []
    assert gateway.admin.money("carol") == (500_000, 0)


@pytest.mark.both_backends
def test_a_users_own_rate_prices_their_tasks(gateway: RunningGateway) -> None:
    key = gateway.admin.user("dave", balance_yuan="100", video_rate_micros=2_000_000)
    with gateway.http({"Authorization": f"Bearer {key}"}) as client:
        created = submit(client, {"prompt": "a fox"})
        done = wait_until(client, f"{T2V}/{created['platform_id']}")
    assert done["final_unit_deduction"] == "1"
    assert gateway.admin.money("dave") == (98_000_000, 0)


# The query commands of seed 000 exactly as published; only the host changes.
SEED_000_HOST = "https://models.hingnet.com.cn"
SEED_000_COMMANDS = [
    f'curl "{SEED_000_HOST}/kling/v1/{action}/$TASK_ID" \\\n  -H "Authorization: Bearer $TOKEN"'
    for action in ("videos/text2video", "images/generations")
] + [
    f'curl "{SEED_000_HOST}/kling/v1/{action}?pageNum=1&pageSize=30" \\\n  -H "Authorization: Bearer $TOKEN"'
    for action in (
        "videos/text2video",
        "videos/image2video",
        "videos/omni-video",
        "videos/multi-image2video",
        "images/generations",
        "images/omni-image",
        "images/multi-image2image",
        "videos/multi-elements",
    )
]


def test_the_seed_000_curl_commands_work_verbatim(gateway_factory: GatewayFactory) -> None:
    gateway = gateway_factory(listen=True)  # curl needs a port to call
    with gateway.client() as client:
        video = submit(client, {"prompt": "a fox"})
        image = submit(client, {"prompt": "a cat"}, "/kling/v1/images/generations")
    task_ids = {"videos/text2video": video["platform_id"], "images/generations": image["platform_id"]}
    for command in SEED_000_COMMANDS:
        action = command.split("/kling/v1/")[1].split("/$")[0].split("?")[0]
        env = os.environ | {"TOKEN": gateway.keys["alice"], "TASK_ID": task_ids.get(action, "")}
        pasted = command.replace(SEED_000_HOST, gateway.url)
        answer = subprocess.run(["bash", "-c", pasted + " -s"], capture_output=True, text=True, env=env, check=True)
        body = json.loads(answer.stdout)
        assert body["code"] == 0, (pasted, body)
        if "$TASK_ID" in command:
            assert body["data"]["platform_id"] == task_ids[action]
        else:
            assert isinstance(body["data"], list)


def test_a_watermarked_task_reads_back_with_its_flag_by_every_id(gateway: RunningGateway) -> None:
    with gateway.client() as client:
        created = submit(client, {"prompt": "a fox", "external_task_id": "marked", "watermark_info": {"enabled": True}})
        plain = submit(client, {"prompt": "a fox", "external_task_id": "plain"})
        for reference in (created["task_id"], created["platform_id"], "marked"):
            answer = client.get(f"{T2V}/{reference}")
            assert answer.status_code == 200, answer.text
            assert answer.json()["data"]["watermark_info"]["enabled"] is True  # a JSON true, not 1
        assert client.get(f"{T2V}/plain").json()["data"]["watermark_info"]["enabled"] is False
        assert plain["watermark_info"]["enabled"] is False


def _without_request_id(answer: httpx.Response) -> tuple[int, Any]:
    """The answer without what differs per request: its id, and the progress estimated from the clock."""
    body = answer.json()
    body.pop("request_id", None)
    if isinstance(body.get("data"), dict):
        body["data"].pop("progress", None)
    return answer.status_code, body


@pytest.mark.parametrize("dialect", ["kling", "task", "video"])
def test_the_fast_single_task_route_answers_as_the_routed_one(gateway_factory: GatewayFactory, dialect: str) -> None:
    # `…/text2video//{id}` is read by the fallback route, through FastAPI; `…/text2video/{id}` is answered before it.
    # No worker runs, so the task cannot move between the two reads.
    gateway = gateway_factory(worker=False)
    with gateway.client() as client:
        created = submit(client, {"prompt": "a fox", "external_task_id": f"same-{dialect}"})
    with gateway.client(**{"X-Response-Format": dialect}) as client:
        for reference in (created["platform_id"], f"same-{dialect}", "no-such-task"):
            fast, routed = client.get(f"{T2V}/{reference}"), client.get(f"{T2V}//{reference}")
            assert _without_request_id(fast) == _without_request_id(routed)
    with gateway.client(user="", **{"X-Response-Format": dialect}) as anonymous:
        fast, routed = anonymous.get(f"{T2V}/no-such-task"), anonymous.get(f"{T2V}//no-such-task")
        assert fast.status_code == 401
        assert _without_request_id(fast) == _without_request_id(routed)


@pytest.mark.parametrize("dialect", ["kling", "task", "video"])
def test_the_fast_list_route_answers_as_the_routed_one(gateway_factory: GatewayFactory, dialect: str) -> None:
    # `…/text2video/` is read by the fallback route, through FastAPI; `…/text2video` is answered before it.
    gateway = gateway_factory(worker=False)
    with gateway.client() as client:
        for number in range(3):
            submit(client, {"prompt": f"fox {number}"})
    queries = [{}, {"pageNum": "2", "pageSize": "2"}, {"pageSize": "0"}, {"pageNum": "ten"}, {"pageSize": " 5"}]
    with gateway.client(**{"X-Response-Format": dialect}) as client:
        for query in queries:
            fast, routed = client.get(T2V, params=query), client.get(f"{T2V}/", params=query)
            assert _listed(fast) == _listed(routed), query
        assert client.get(T2V, params={"pageSize": "0"}).status_code == 400
        assert len(_listed(client.get(T2V, params={"pageSize": "2"}))[1]["data"]) == 2
    with gateway.client(user="", **{"X-Response-Format": dialect}) as anonymous:
        fast, routed = anonymous.get(T2V), anonymous.get(f"{T2V}/")
        assert fast.status_code == 401
        assert _listed(fast) == _listed(routed)


def _listed(answer: httpx.Response) -> tuple[int, Any]:
    """A list answer without what differs per request: its id, and each task's progress estimated from the clock."""
    status, body = _without_request_id(answer)
    items = body.get("data") if isinstance(body, dict) else None
    for item in items if isinstance(items, list) else []:
        item.pop("progress", None)
    return status, body
