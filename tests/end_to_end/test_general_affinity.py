"""Elements and voices exist only on the upstream account that made them: a later task or delete naming one goes
there, another user's is refused before anything is held, and Kling's presets go anywhere.

Two sandbox accounts serve as two channels of equal weight, so without affinity about half of these would reach
the account that does not have the object.
"""

from __future__ import annotations

from typing import Any

import httpx

from kling_gateway.sandbox import Account
from kling_gateway.sandbox.library import preset_voice_ids
from kling_gateway.sandbox.store import SandboxTask
from tests.end_to_end.test_affinity_routing import account_of_task
from tests.gateway import GatewayFactory, RunningGateway
from tests.helpers import create, error_of, wait_for, wait_until

GENERAL = "/v1/general"
PICTURE = "https://cdn.example.com/in/cat.png"
ELEMENT = {
    "element_name": "Mimi",
    "element_description": "a grey tabby cat",
    "reference_type": "image_refer",
    "element_image_list": {"frontal_image": PICTURE, "refer_images": [{"image_url": PICTURE}]},
}
VOICE = {"voice_name": "Narrator", "voice_url": "https://cdn.example.com/in/voice.mp3"}
ROUNDS = 3  # follow-up tasks per kind: all must land on the owning account


def two_channels(gateway_factory: GatewayFactory) -> RunningGateway:
    """A gateway with two channels, each with an API key so that new-style tasks can go to either."""
    gateway = gateway_factory(channels=0)
    for number, account in enumerate(gateway.sandbox.config.accounts[:2], start=1):
        gateway.admin.channel(f"sandbox-{number}", gateway.sandbox.url, account, api_key=True)
    return gateway


def finished(client: httpx.Client, path: str, body: dict[str, Any]) -> dict[str, Any]:
    """Create a task through the gateway and wait until it succeeded; return its `data`."""
    done = wait_until(client, f"{path}/{create(client, path, body)['platform_id']}")
    assert done["task_status"] == "succeed", done
    return done


def made_on(gateway: RunningGateway, task: dict[str, Any]) -> Account:
    """The sandbox account an upstream task (of either generation) was created on."""
    return account_of_task(gateway, task.get("task_id") or task["id"])


def new_style(client: httpx.Client, path: str, body: dict[str, Any]) -> dict[str, Any]:
    """Create a new-style task and wait until `/tasks` says it succeeded; return its record."""
    platform_id = create(client, path, body)["platform_id"]
    seen: list[dict[str, Any]] = []

    def ended() -> bool:
        seen[:] = client.get("/tasks", params={"task_ids": platform_id}).json()["data"]
        return seen[0]["status"] in ("succeeded", "failed")

    wait_for(ended, f"{platform_id} to end")
    assert seen[0]["status"] == "succeeded", seen
    return seen[0]


def upstream_tasks(gateway: RunningGateway, tasks: list[dict[str, Any]]) -> list[SandboxTask]:
    """The sandbox's own records of tasks the gateway created."""
    found = [gateway.sandbox.state.tasks.task_by_id(task["task_id"]) for task in tasks]
    assert None not in found
    return [task for task in found if task is not None]


def test_tasks_naming_an_element_or_a_voice_go_to_the_account_that_made_it(gateway_factory: GatewayFactory) -> None:
    gateway = two_channels(gateway_factory)
    with gateway.client() as alice:
        voice = finished(alice, f"{GENERAL}/custom-voices", VOICE)
        voice_id = voice["task_result"]["voices"][0]["voice_id"]
        owner = made_on(gateway, voice)
        # An element bound to the voice must be made where the voice is (the sandbox refuses it elsewhere).
        bound = ELEMENT | {"element_voice_id": voice_id}
        elements = [finished(alice, f"{GENERAL}/advanced-custom-elements", bound) for _ in range(ROUNDS)]
        element_id = elements[0]["task_result"]["elements"][0]["element_id"]
        legacy = [
            finished(
                alice,
                "/v1/images/generations",
                {"prompt": "the cat on a sofa", "model_name": "kling-v3", "element_list": [{"element_id": element_id}]},
            )
            for _ in range(ROUNDS)
        ]
        frame = {"type": "first_frame", "url": PICTURE}
        with_element = {"contents": [frame, {"type": "element", "element_id": str(element_id), "id": "cat"}]}
        with_voice = {
            "contents": [
                {"type": "prompt", "text": "@1 says hello"},
                frame,
                {"type": "voice", "voice_id": voice_id, "id": "1"},
            ],
            "settings": {"audio": "native", "resolution": "1080p"},
        }
        new = [new_style(alice, "/image-to-video/kling-3.0", with_element) for _ in range(ROUNDS)]
        new += [new_style(alice, "/image-to-video/kling-2.6", with_voice) for _ in range(ROUNDS)]
    assert {made_on(gateway, task) for task in elements + legacy + new} == {owner}


def test_another_users_element_or_voice_is_refused_before_anything_is_held(gateway_factory: GatewayFactory) -> None:
    gateway = two_channels(gateway_factory)
    with gateway.client("alice") as alice:
        voice_id = finished(alice, f"{GENERAL}/custom-voices", VOICE)["task_result"]["voices"][0]["voice_id"]
        element = finished(alice, f"{GENERAL}/advanced-custom-elements", ELEMENT)
        element_id = element["task_result"]["elements"][0]["element_id"]
    tasks_before = gateway.admin.task_count()
    with gateway.client("bob") as bob:
        cases = [
            (f"{GENERAL}/advanced-custom-elements", ELEMENT | {"element_voice_id": voice_id}, "element_voice_id"),
            (
                "/v1/images/omni-image",
                {"prompt": "a cat", "element_list": [{"element_id": element_id}]},
                "element_list[0].element_id",
            ),
            (f"{GENERAL}/delete-advanced-elements", {"element_id": str(element_id)}, "element_id"),
            (f"{GENERAL}/delete-voices", {"voice_id": voice_id}, "voice_id"),
        ]
        for path, body, field in cases:
            status, code, message = error_of(bob.post(path, json=body))
            assert (status, code) == (400, 1201), (path, message)
            assert message.startswith(f"{field}: "), message
        # An official voice belongs to no account: bob may bind it, on whichever channel.
        preset = finished(
            bob, f"{GENERAL}/advanced-custom-elements", ELEMENT | {"element_voice_id": preset_voice_ids()[0]}
        )
        assert preset["task_result"]["elements"][0]["element_voice_info"]["owned_by"] == "kling"
    assert gateway.admin.task_count() == tasks_before + 1  # only the preset task was stored
    assert gateway.admin.entry_kinds("bob") == ["top_up", "hold"]  # held for it alone (its zero charge writes none)


def test_deletes_go_to_the_account_that_holds_the_object_and_presets_list_from_any(
    gateway_factory: GatewayFactory,
) -> None:
    gateway = two_channels(gateway_factory)
    with gateway.client() as alice:
        voices = [finished(alice, f"{GENERAL}/custom-voices", VOICE) for _ in range(ROUNDS)]
        elements = [finished(alice, f"{GENERAL}/advanced-custom-elements", ELEMENT) for _ in range(ROUNDS)]
        for voice in voices:
            answer = alice.post(
                f"{GENERAL}/delete-voices", json={"voice_id": voice["task_result"]["voices"][0]["voice_id"]}
            )
            assert answer.status_code == 200, answer.text
        for element in elements:
            element_id = str(element["task_result"]["elements"][0]["element_id"])
            answer = alice.post("/kling/v1/general/delete-advanced-elements", json={"element_id": element_id})
            assert answer.status_code == 200, answer.text
        preset_elements = alice.get(f"{GENERAL}/advanced-presets-elements", params={"pageSize": 2}).json()
        preset_voices = alice.get("/kling/v1/general/presets-voices").json()
        refused = alice.post(f"{GENERAL}/delete-voices", json={"voice_id": preset_voice_ids()[0]})
    # Each delete reached the account holding the object: the sandbox refuses an id another account made.
    assert {task.result["elements"][0]["status"] for task in upstream_tasks(gateway, elements)} == {"deleted"}
    assert preset_elements["code"] == 0
    assert len(preset_elements["data"]) == 2
    [first] = preset_elements["data"][0]["task_result"]["elements"]
    assert first["owned_by"] == "kling"
    assert [record["task_result"]["voices"][0]["voice_id"] for record in preset_voices["data"]] == preset_voice_ids()
    assert error_of(refused)[:2] == (400, 1201)  # official voices cannot be deleted, and are nobody's here
