"""Kling's `/v1/general/…` family through the gateway: elements, voices and angle completion kept as `general_…`
tasks, billed from the upstream's deduction at the rate of the pack each draws on, shown in every dialect."""

from __future__ import annotations

from typing import Any

import pytest

from tests.gateway import RunningGateway
from tests.helpers import create, wait_until

pytestmark = pytest.mark.both_backends  # the worker finishes and bills them: the store matters

PICTURE = "https://cdn.example.com/in/cat.png"
ELEMENT = {
    "element_name": "Mimi",
    "element_description": "a grey tabby cat",
    "reference_type": "image_refer",
    "element_image_list": {"frontal_image": PICTURE, "refer_images": [{"image_url": PICTURE}]},
}
VOICE = {"voice_name": "Narrator", "voice_url": "https://cdn.example.com/in/voice.mp3"}
IMAGE_CREDIT_MICROS, VIDEO_CREDIT_MICROS = 25_000, 1_000_000  # the default rates
# action, body, prefix, the pack it draws on, the units the sandbox deducts
TASKS = [
    ("advanced-custom-elements", ELEMENT, "/v1", "video", "0"),
    ("custom-voices", VOICE, "/kling/v1", "video", "0.05"),
    ("ai-multi-shot", {"element_frontal_image": PICTURE}, "/v1", "image", "20"),
]


@pytest.mark.parametrize(("action", "body", "prefix", "package", "units"), TASKS, ids=[task[0] for task in TASKS])
def test_a_general_task_finishes_bills_its_pack_and_renders_in_every_dialect(
    gateway: RunningGateway, action: str, body: dict[str, Any], prefix: str, package: str, units: str
) -> None:
    path = f"{prefix}/general/{action}"
    with gateway.client() as alice:
        platform_id = create(alice, path, body)["platform_id"]
        assert platform_id.startswith("general_")
        done = wait_until(alice, f"{path}/{platform_id}")
        assert (done["task_status"], done["final_unit_deduction"]) == ("succeed", units), done
        [listed] = alice.get(path).json()["data"]
        assert listed["platform_id"] == platform_id
        wrapped = alice.get(f"{path}/{done['task_id']}", headers={"X-Response-Format": "task"}).json()
        assert wrapped["data"]["status"] == "SUCCESS"
        assert wrapped["data"]["data"]["data"]["task_result"] == done["task_result"]
        flat = alice.get(f"{path}/{platform_id}", headers={"X-Response-Format": "video"}).json()
        [record] = alice.get("/tasks", params={"task_ids": platform_id}).json()["data"]
    assert flat["status"] == "completed"
    assert record["billing"] == [{"charge_type": "unit", "amount": units, "package_type": package}]
    rate = IMAGE_CREDIT_MICROS if package == "image" else VIDEO_CREDIT_MICROS
    assert gateway.admin.ledger(platform_id).get("charge", 0) == -round(float(units) * rate)
    result = done["task_result"]
    if action == "advanced-custom-elements":
        [element] = result["elements"]
        assert record["outputs"][0] | {"type": "element", "id": str(element["element_id"])} == record["outputs"][0]
        assert "url" not in flat  # an element is a set of references, no file of its own
    elif action == "custom-voices":
        [voice] = result["voices"]
        assert (flat["url"], flat["format"]) == (voice["trial_url"], "mp3")
        assert record["outputs"][0]["id"] == voice["voice_id"]
    else:
        assert [len(views) for views in result["images"]] == [4, 4, 4]  # index and three angle views each
        assert flat["url"] == result["images"][0]["url_1"]
        assert len(record["outputs"]) == 9
