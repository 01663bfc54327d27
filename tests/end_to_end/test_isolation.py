"""Users are isolated: nothing bob can ask, by any id, route, dialect, list or cursor, tells him of alice's tasks."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from kling_gateway.kling.schemas import Family
from kling_gateway.tasks.ids import new_platform_id
from tests.gateway import RunningGateway
from tests.helpers import create, wait_until

T2V = "/kling/v1/videos/text2video"
DIALECTS = ("kling", "task", "video")
# Every way to ask for one task: the Kling routes (gateway and official prefixes, with the empty segment and
# trailing slash the official service tolerates, and another action), the OpenAI videos API, new-api's route.
ONE_TASK_PATHS = (
    "/kling/v1/videos/text2video/{id}",
    "/v1/videos/text2video/{id}",
    "/kling/v1/videos/text2video//{id}",
    "/v1/videos/text2video/{id}/",
    "/kling/v1/videos/image2video/{id}",
    "/v1/videos/{id}",
    "/v1/videos/{id}/content",
    "/v1/video/generations/{id}",
)
LIST_PATHS = ("/kling/v1/videos/text2video", "/v1/videos/text2video", "/v1/videos", "/kling/v1/videos/text2video/")


@dataclass(frozen=True)
class AliceTask:
    """Alice's finished task and the three ids it answers to; and bob's own task."""

    platform_id: str
    task_id: str
    external_task_id: str
    bobs_platform_id: str

    def ids(self) -> dict[str, str]:
        return {"platform_id": self.platform_id, "task_id": self.task_id, "external_task_id": self.external_task_id}


@pytest.fixture
def alices(gateway: RunningGateway) -> AliceTask:
    """Alice's finished text2video, with an external_task_id; bob has a task of his own."""
    with gateway.client("alice") as alice:
        created = create(alice, T2V, {"prompt": "alice's fox", "external_task_id": "alice-ext-1"})
        done = wait_until(alice, f"{T2V}/{created['platform_id']}")
    assert done["task_status"] == "succeed", done
    with gateway.client("bob") as bob:
        bobs = create(bob, T2V, {"prompt": "bob's cat"})["platform_id"]
    return AliceTask(done["platform_id"], done["task_id"], "alice-ext-1", bobs)


def lookalike(reference: str) -> str:
    """An id of the same form that names no task: another platform id, or the last character changed."""
    if reference.startswith("video_"):
        return new_platform_id(Family.VIDEOS)
    last = reference[-1]
    other = str((int(last) + 1) % 10) if last.isdigit() else ("b" if last != "b" else "c")
    return reference[:-1] + other


def normalized(answer: httpx.Response, asked: str) -> tuple[int, str]:
    """Status and body with the asked id and every request id blanked: what may differ between two answers."""

    def without_request_ids(value: Any) -> Any:
        if isinstance(value, dict):
            return {key: without_request_ids(item) for key, item in value.items() if key != "request_id"}
        if isinstance(value, list):
            return [without_request_ids(item) for item in value]
        return value

    body = json.dumps(without_request_ids(answer.json()), sort_keys=True)
    return answer.status_code, body.replace(asked, "<id>")


def requests_for(task: AliceTask) -> Iterator[tuple[str, str, str, str]]:
    """Every (path template, id kind, id, dialect) a query for alice's task can take."""
    for template in ONE_TASK_PATHS:
        for kind, reference in task.ids().items():
            for dialect in DIALECTS:
                yield template, kind, reference, dialect


def test_bob_gets_for_alices_task_exactly_the_answer_for_no_task(gateway: RunningGateway, alices: AliceTask) -> None:
    """On every query route, by every id and in every dialect, alice's task is to bob as a task that never was."""
    with gateway.client("alice") as alice, gateway.client("bob") as bob:
        for template, kind, reference, dialect in requests_for(alices):
            case = (template, kind, dialect)
            header = {"X-Response-Format": dialect}
            unknown = lookalike(reference)
            path, unknown_path = template.format(id=reference), template.format(id=unknown)
            if "image2video" not in template:  # alice herself finds her task there: the id form is a real one
                assert alice.get(path, headers=header).status_code == 200, case
            assert alice.get(unknown_path, headers=header).status_code == 404, case
            answer = bob.get(path, headers=header)
            assert answer.status_code == 404, (case, answer.text)
            assert normalized(answer, reference) == normalized(bob.get(unknown_path, headers=header), unknown), case
            others = set(alices.ids().values()) - {reference}
            assert not any(other in answer.text for other in others), (case, answer.text)


def test_lists_hold_only_the_callers_own_tasks(gateway: RunningGateway, alices: AliceTask) -> None:
    """Bob's lists, on every list route and in every dialect, hold his task and never alice's."""
    with gateway.client("alice") as alice, gateway.client("bob") as bob:
        for path in LIST_PATHS:
            for dialect in DIALECTS:
                header = {"X-Response-Format": dialect}
                assert alices.platform_id in alice.get(path, headers=header).text, (path, dialect)
                listed = bob.get(path, headers=header)
                assert listed.status_code == 200, (path, dialect, listed.text)
                assert alices.bobs_platform_id in listed.text, (path, dialect)
                for reference in alices.ids().values():
                    assert reference not in listed.text, (path, dialect, reference)
                assert "alice" not in listed.text, (path, dialect)


def test_a_cursor_on_alices_task_is_refused_like_an_unknown_id(gateway: RunningGateway, alices: AliceTask) -> None:
    """`after=` with alice's id answers bob exactly as an id that names no task does."""
    unknown = lookalike(alices.platform_id)
    with gateway.client("alice") as alice, gateway.client("bob") as bob:
        assert alice.get("/v1/videos", params={"after": alices.platform_id}).status_code == 200
        for reference in alices.ids().values():
            refused = bob.get("/v1/videos", params={"after": reference})
            assert refused.status_code == 400, refused.text
            never = bob.get("/v1/videos", params={"after": unknown})
            assert normalized(refused, reference) == normalized(never, unknown)
            assert not any(other in refused.text for other in set(alices.ids().values()) - {reference})


def test_reusing_alices_external_task_id_makes_bobs_own_task(gateway: RunningGateway, alices: AliceTask) -> None:
    """Bob may use the external_task_id alice used: with her body or another, he gets a task of his own."""
    with gateway.client("bob") as bob, gateway.client("alice") as alice:
        same_body = bob.post(T2V, json={"prompt": "alice's fox", "external_task_id": alices.external_task_id})
        assert same_body.status_code == 200, same_body.text
        bobs = same_body.json()["data"]
        assert bobs["platform_id"] != alices.platform_id
        assert bobs["task_id"] != alices.task_id
        assert bob.get(f"{T2V}/{alices.external_task_id}").json()["data"]["platform_id"] == bobs["platform_id"]
        again = bob.post(T2V, json={"prompt": "alice's fox", "external_task_id": alices.external_task_id})
        assert again.json()["data"]["platform_id"] == bobs["platform_id"]  # his own idempotent retry
        other_body = bob.post(T2V, json={"prompt": "a dog", "external_task_id": alices.external_task_id})
        assert other_body.status_code == 409, other_body.text  # conflicts with his own task only
        assert alices.platform_id not in other_body.text
        assert alices.task_id not in other_body.text
        hers = alice.get(f"{T2V}/{alices.external_task_id}").json()["data"]
    assert (hers["platform_id"], hers["task_status"]) == (alices.platform_id, "succeed")


def test_bob_reusing_an_external_task_id_with_another_body_gets_no_conflict(
    gateway: RunningGateway, alices: AliceTask
) -> None:
    """A different body under alice's external_task_id is no 409 for bob: that would tell him she used it."""
    with gateway.client("bob") as bob:
        answer = bob.post(T2V, json={"prompt": "a dog", "external_task_id": alices.external_task_id})
        assert answer.status_code == 200, answer.text
        assert answer.json()["data"]["platform_id"] != alices.platform_id
