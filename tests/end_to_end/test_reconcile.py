"""`kling-gateway reconcile` over a real sandbox's deduction exports: clean after a mix of tasks, and every planted
difference reported, with the exit code saying which."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import delete, update
from typer.testing import CliRunner

from kling_gateway.cli import app
from kling_gateway.store.models import CHANNELS, LEDGER, TASKS
from tests.gateway import GatewayFactory, RunningGateway
from tests.helpers import create, wait_for, wait_until

runner = CliRunner()
MIX: list[tuple[str, dict[str, Any]]] = [
    ("/v1/videos/text2video", {"prompt": "a fox", "model_name": "kling-v1-6"}),
    ("/v1/videos/text2video", {"prompt": "a fox", "model_name": "kling-v2-6", "mode": "pro", "duration": "10"}),
    ("/v1/images/generations", {"prompt": "a red bicycle", "model_name": "kling-v2-1", "n": 2}),
]


def reconciled(gateway: RunningGateway, *arguments: str, exit_code: int) -> dict[str, Any]:
    result = runner.invoke(app, ["reconcile", *arguments, "--json", "--database-url", gateway.admin.database_url])
    assert result.exit_code == exit_code, result.output
    report: dict[str, Any] = json.loads(result.stdout)
    return report


def finished(gateway: RunningGateway) -> list[str]:
    with gateway.client() as client:
        ids = [(path, create(client, path, body)["platform_id"]) for path, body in MIX]
        for path, platform_id in ids:
            assert wait_until(client, f"{path}/{platform_id}")["task_status"] == "succeed"
    return [platform_id for _, platform_id in ids]


def test_a_mix_of_tasks_reconciles_clean_and_each_planted_difference_is_reported(
    gateway_factory: GatewayFactory,
) -> None:
    gateway = gateway_factory(sandbox={"listen": True})  # the command line reaches the upstream over a socket
    fox, pro, images = finished(gateway)
    clean = reconciled(gateway, exit_code=0)
    assert clean["clean"] is True
    [channel] = clean["channels"]
    assert (channel["channel"], channel["rows"], channel["tasks"], channel["differences"]) == ("sandbox-1", 3, 3, [])

    def plant(session: Any) -> Any:
        return session.execute(
            update(LEDGER)
            .where(LEDGER.c.task_platform_id == fox, LEDGER.c.kind == "charge")
            .values(amount_micros=LEDGER.c.amount_micros - 1)
        )

    gateway.admin._run(plant)
    gateway.admin._run(
        lambda session: session.execute(
            delete(LEDGER).where(LEDGER.c.task_platform_id == pro, LEDGER.c.kind == "charge")
        )
    )
    gateway.admin._run(
        lambda session: session.execute(
            update(TASKS)
            .where(TASKS.c.platform_id == images)
            .values(
                final_unit_deduction="7",  # a success keeps its deductions as billing entries too
                billing_json='[{"charge_type": "unit", "amount": "7", "package_type": "image"}]',
            )
        )
    )
    dirty = reconciled(gateway, "--channel", "sandbox-1", "--since", "2020-01-01", exit_code=1)
    kinds = {(difference["task"], difference["kind"]) for difference in dirty["channels"][0]["differences"]}
    assert kinds == {(fox, "charge_differs"), (pro, "not_charged"), (images, "units_differ")}

    # A task the gateway forgot: the upstream's deduction names a task it does not know.
    gateway.admin._run(lambda session: session.execute(delete(LEDGER).where(LEDGER.c.task_platform_id == images)))
    gateway.admin._run(lambda session: session.execute(delete(TASKS).where(TASKS.c.platform_id == images)))
    unknown = reconciled(gateway, exit_code=1)["channels"][0]["differences"]
    assert [d["kind"] for d in unknown if d["task"] is None] == ["unknown_task"]
    text = runner.invoke(app, ["reconcile", "--database-url", gateway.admin.database_url])
    assert text.exit_code == 1
    assert "sandbox-1: 3 differences (3 deductions, 2 tasks)" in text.stdout


def test_a_channel_that_cannot_be_read_is_named_with_the_reason(gateway_factory: GatewayFactory) -> None:
    gateway = gateway_factory(sandbox={"listen": True})

    def unreachable(session: Any) -> Any:
        return session.execute(update(CHANNELS).values(base_url="http://127.0.0.1:9"))

    gateway.admin._run(unreachable)
    result = runner.invoke(app, ["reconcile", "--json", "--database-url", gateway.admin.database_url])
    assert result.exit_code == 2, result.output
    [channel] = json.loads(result.stdout)["channels"]
    assert "could not reach the upstream" in channel["unreadable"]
    assert "channel sandbox-1 could not be read" in result.stderr
    refused = runner.invoke(app, ["reconcile", "--channel", "nope", "--database-url", gateway.admin.database_url])
    assert refused.exit_code == 1
    assert "no channel is named 'nope'" in refused.stderr
    bad = runner.invoke(app, ["reconcile", "--since", "last week", "--database-url", gateway.admin.database_url])
    assert bad.exit_code == 2
    assert "not an ISO date" in bad.output


def test_both_generations_and_the_billed_calls_reconcile_clean(gateway_factory: GatewayFactory) -> None:
    gateway = gateway_factory(sandbox={"listen": True}, channels=0)
    gateway.admin.channel("keyed", gateway.sandbox.url, gateway.sandbox.account, api_key=True)
    with gateway.client() as client:
        legacy = create(client, "/v1/audio/text-to-audio", {"prompt": "rain on a tin roof", "duration": 4.0})
        turbo = client.post(
            "/kling/text-to-video/kling-3.0-turbo", json={"prompt": "a fox", "settings": {"duration": 3}}
        )
        assert turbo.status_code == 200, turbo.text
        for path, body in (
            ("/v1/audio/tts", {"text": "hello there", "voice_id": "oversea_male1", "voice_language": "en"}),
            ("/v1/videos/image-recognize", {"image": "https://cdn.example.com/in/cat.png"}),
        ):
            answer = client.post(path, json=body)
            assert answer.status_code == 200, answer.text
        assert wait_until(client, f"/v1/audio/text-to-audio/{legacy['platform_id']}")["task_status"] == "succeed"
        turbo_id = turbo.json()["data"]["platform_id"]

        def turbo_done() -> bool:
            [record] = client.get("/kling/tasks", params={"task_ids": turbo_id}).json()["data"]
            return bool(record["status"] == "succeeded")

        wait_for(turbo_done, "the Kling 3.0 Turbo task to succeed", every_s=0.02)
    clean = reconciled(gateway, exit_code=0)
    [channel] = clean["channels"]
    # text-to-audio, the Turbo video, TTS and the recognition: four deductions, four tasks, no difference
    assert (channel["rows"], channel["tasks"], channel["differences"]) == (4, 4, [])
