"""Audio tasks through the gateway: created on Kling's audio routes, kept under `audio_…` ids, finished by the sync
worker and shown in every dialect with their audio file as the result."""

from __future__ import annotations

from typing import Any

import pytest

from tests.gateway import RunningGateway
from tests.helpers import create, wait_until

pytestmark = pytest.mark.both_backends  # the worker finishes and bills them: the store matters

TEXT_TO_AUDIO = "/kling/v1/audio/text-to-audio"
VIDEO_TO_AUDIO = "/v1/audio/video-to-audio"
BODIES: dict[str, dict[str, Any]] = {
    TEXT_TO_AUDIO: {"prompt": "rain on a tin roof", "duration": 5.0},
    VIDEO_TO_AUDIO: {"video_url": "https://cdn.example.com/in/street.mp4", "bgm_prompt": "soft piano"},
}


@pytest.mark.parametrize("path", list(BODIES))
def test_an_audio_task_finishes_and_every_dialect_shows_its_audio(gateway: RunningGateway, path: str) -> None:
    with gateway.client() as alice:
        created = create(alice, path, BODIES[path] | {"external_task_id": "my-sound"})
        platform_id = created["platform_id"]
        assert platform_id.startswith("audio_")
        done = wait_until(alice, f"{path}/my-sound")
        assert done["task_status"] == "succeed", done
        [audio] = done["task_result"]["audios"]
        flat = alice.get(f"{path}/{platform_id}", headers={"X-Response-Format": "video"}).json()
        assert (flat["status"], flat["url"], flat["format"]) == ("completed", audio["url_mp3"], "mp3")
        wrapped = alice.get(f"{path}/{done['task_id']}", headers={"X-Response-Format": "task"}).json()
        assert wrapped["data"]["status"] == "SUCCESS"
        [record] = alice.get("/tasks", params={"external_task_ids": "my-sound"}).json()["data"]
        assert record["status"] == "succeeded"
        assert {"type": "audio", "id": audio["id"], "mp3_url": audio["url_mp3"]}.items() <= record["outputs"][
            -1
        ].items()
        assert record["billing"] == [
            {"charge_type": "unit", "amount": done["final_unit_deduction"], "package_type": "audio"}
        ]
        assert [item["platform_id"] for item in alice.post("/tasks", json={}).json()["data"]["result"]] == [platform_id]
