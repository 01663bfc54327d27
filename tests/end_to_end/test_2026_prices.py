"""The 2026 prices through the gateway: 4K, native audio, Kling 3.0 Turbo and text-to-audio are held at least what
the upstream then deducts, and charged exactly that at the user's rate of the deduction's package (every
model-in-path endpoint is checked so in `test_gateway_new_generation`)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx
import pytest

from tests.gateway import GatewayFactory, RunningGateway
from tests.helpers import create, wait_for, wait_until

pytestmark = pytest.mark.both_backends  # holds and charges: the ledger's store matters

YUAN = 1_000_000
AUDIO_YUAN = Decimal("0.5")  # a price per audio credit unlike the video one, so a wrong package shows


@pytest.fixture
def keyed(gateway_factory: GatewayFactory) -> RunningGateway:
    """A gateway whose one channel has the sandbox account's key pair and API key, audio credits at ¥0.50."""
    gateway = gateway_factory(channels=0, audio_credit_yuan=AUDIO_YUAN)
    gateway.admin.channel("keyed", gateway.sandbox.url, gateway.sandbox.account, api_key=True)
    return gateway


def legacy(gateway: RunningGateway, client: httpx.Client, path: str, body: dict[str, Any]) -> tuple[int, int, str]:
    """Run a legacy task to success; return its hold and charge in µ¥ and the upstream's deduction."""
    platform_id = create(client, path, body)["platform_id"]
    held = gateway.admin.ledger(platform_id)["hold"]
    done = wait_until(client, f"{path}/{platform_id}")
    assert done["task_status"] == "succeed", done
    return held, -gateway.admin.ledger(platform_id)["charge"], str(done["final_unit_deduction"])


def new_style(gateway: RunningGateway, client: httpx.Client, action: str, body: dict[str, Any]) -> tuple[int, int, Any]:
    """Run a model-in-path task to success; return its hold and charge in µ¥ and its billing entries."""
    answer = client.post(f"/kling/{action}", json=body)
    assert answer.status_code == 200, answer.text
    platform_id = answer.json()["data"]["platform_id"]
    held = gateway.admin.ledger(platform_id)["hold"]
    found: list[dict[str, Any]] = []

    def final() -> bool:
        found[:] = client.get("/kling/tasks", params={"task_ids": platform_id}).json()["data"]
        return bool(found) and found[0]["status"] in ("succeeded", "failed")

    wait_for(final, f"{platform_id} to finish", every_s=0.02)
    assert found[0]["status"] == "succeeded", found[0]
    return held, -gateway.admin.ledger(platform_id)["charge"], found[0]["billing"]


def test_4k_audio_and_voice_are_held_and_charged_by_the_2026_table(keyed: RunningGateway) -> None:
    with keyed.client() as alice:
        four_k = legacy(
            keyed, alice, "/v1/videos/text2video", {"prompt": "a fox", "model_name": "kling-v3", "mode": "4k"}
        )
        assert four_k == (15 * YUAN, 15 * YUAN, "15")  # 4K is 3.0 a second, whatever the sound: 5 s
        sound = legacy(
            keyed,
            alice,
            "/v1/videos/text2video",
            {"prompt": "a fox barks", "model_name": "kling-v2-6", "mode": "pro", "sound": "on"},
        )
        assert sound == (5 * YUAN, 5 * YUAN, "5")  # kling-v2-6 pro with native audio: 1.0 a second
        speech = legacy(keyed, alice, "/v1/audio/text-to-audio", {"prompt": "rain on a tin roof", "duration": 5.0})
        assert speech == (125_000, 125_000, "0.25")  # 0.25 audio credits a call, at ¥0.50 an audio credit
        native = new_style(
            keyed,
            alice,
            "text-to-video/kling-3.0",
            {"prompt": "a fox barks", "settings": {"resolution": "1080p", "audio": "native", "duration": 5}},
        )
        assert native[:2] == (6 * YUAN, 6 * YUAN)  # 3.0 with native audio at 1080p: 1.2 a second
        assert native[2] == [{"charge_type": "unit", "amount": "6", "package_type": "video"}]
        uhd = new_style(
            keyed,
            alice,
            "text-to-video/kling-3.0",
            {"prompt": "a fox", "settings": {"resolution": "4k", "duration": 3}},
        )
        assert uhd[:2] == (9 * YUAN, 9 * YUAN)
        turbo = new_style(
            keyed, alice, "text-to-video/kling-3.0-turbo", {"prompt": "a fox", "settings": {"duration": 3}}
        )
        assert turbo[:2] == (int(2.4 * YUAN), int(2.4 * YUAN))  # the figure Kling was observed to deduct (§8.4)
