"""The synchronous calls Kling bills, through the gateway: held at their price, charged their own deduction exactly
once, kept as a task final at once (matched to the upstream by its task_id or request_id) that `/tasks` never
lists; a bad body or a short balance is refused before anything is held or sent."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import select

from kling_gateway.store.models import TASKS
from tests.gateway import GatewayFactory, RunningGateway

pytestmark = pytest.mark.both_backends  # holds, charges and the call's row: the store matters

TTS = "/v1/audio/tts"
RECOGNIZE = "/kling/v1/videos/image-recognize"
FACE = "/v1/videos/identify-face"
PICTURE = "https://cdn.example.com/in/cat.png"
TTS_BODY = {"text": "hello there", "voice_id": "oversea_male1", "voice_language": "en"}


def sync_rows(gw: RunningGateway) -> list[Any]:
    async def work(session: Any) -> list[Any]:
        query = select(TASKS).where(TASKS.c.sync_call.is_(True)).order_by(TASKS.c.id)
        return list((await session.execute(query)).all())

    return gw.admin._run(work)


def post(client: httpx.Client, path: str, body: dict[str, Any]) -> dict[str, Any]:
    answer = client.post(path, json=body)
    assert answer.status_code == 200, answer.text
    data: dict[str, Any] = answer.json()["data"]
    return data


def test_identify_face_is_kept_as_a_finished_call_named_by_its_request_id(gateway: RunningGateway) -> None:
    with gateway.client() as alice:
        data = post(alice, FACE, {"video_url": "https://cdn.example.com/in/speech.mp4"})
        [row] = sync_rows(gateway)
        assert (row.family, row.action, row.status, row.generation) == ("videos", "identify-face", "succeed", "legacy")
        assert row.upstream_task_id  # the answer has no task_id: the envelope's request_id names the call
        assert row.final_unit_deduction == data["final_unit_deduction"]
        assert data["final_unit_deduction"] == "0.05"
        assert (row.hold_micros, row.charge_micros) == (50_000, 50_000)  # 0.05 credits at ¥1, held then charged
        assert gateway.admin.ledger(row.platform_id) == {"hold": 50_000, "release": -50_000, "charge": -50_000}
        assert gateway.admin.money("alice") == (1000_000_000 - 50_000, 0)
        # never one of the tasks /tasks or the OpenAI videos API show
        assert alice.get("/tasks", params={"task_ids": row.platform_id}).json()["data"] == []
        assert alice.post("/tasks", json={}).json()["data"]["result"] == []
        assert alice.get("/v1/videos").json()["data"] == []
        assert alice.get(f"/v1/videos/{row.platform_id}").status_code == 404
        assert alice.get(f"/v1/video/generations/{row.upstream_task_id}").status_code == 404


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        (TTS, {"voice_id": "oversea_male1"}, "text"),
        (TTS, TTS_BODY | {"voice_language": "fr"}, "voice_language"),
        (TTS, TTS_BODY | {"text": "x" * 1001}, "text"),
        (RECOGNIZE, {}, "image"),
        (RECOGNIZE, {"image": PICTURE, "n": 2}, "n"),
        (FACE, {}, ""),
    ],
)
def test_a_bad_call_is_refused_before_anything_is_held_or_sent(
    gateway: RunningGateway, path: str, body: dict[str, Any], field: str
) -> None:
    assert gateway.runtime is not None
    sent = gateway.runtime.client.requests_sent
    with gateway.client() as alice:
        answer = alice.post(path, json=body)
    assert answer.status_code == 400, answer.text
    assert answer.json()["code"] == 1201
    assert field in answer.json()["message"]
    assert gateway.runtime.client.requests_sent == sent
    assert gateway.admin.entry_kinds("alice") == ["top_up"]
    assert sync_rows(gateway) == []


def test_a_call_the_balance_cannot_cover_is_refused_before_it_is_sent(gateway_factory: GatewayFactory) -> None:
    gateway = gateway_factory()
    gateway.keys["poor"] = gateway.admin.user("poor", balance_yuan="0.01")
    assert gateway.runtime is not None
    sent = gateway.runtime.client.requests_sent
    with gateway.client("poor") as poor:
        answer = poor.post(RECOGNIZE, json={"image": PICTURE})
    assert answer.status_code == 429, answer.text
    assert answer.json()["code"] == 1102
    assert "image-recognize costs ¥0.1" in answer.json()["message"]
    assert gateway.runtime.client.requests_sent == sent
    assert gateway.admin.money("poor") == (10_000, 0)
    assert sync_rows(gateway) == []


@pytest.mark.parametrize(("path", "body"), [(TTS, TTS_BODY), (RECOGNIZE, {"image": PICTURE})])
def test_a_billed_call_is_charged_its_own_deduction_once(
    gateway: RunningGateway, path: str, body: dict[str, Any]
) -> None:
    with gateway.client() as alice:
        data = post(alice, path, body)
    [row] = sync_rows(gateway)
    units = data["final_unit_deduction"]
    charge = round(float(units) * 1_000_000)
    assert charge > 0
    assert (row.status, row.final_unit_deduction, row.charge_micros) == ("succeed", units, charge)
    assert row.upstream_task_id == (data.get("task_id") or row.upstream_task_id)
    assert gateway.admin.ledger(row.platform_id) == {
        "hold": row.hold_micros,
        "release": -row.hold_micros,
        "charge": -charge,
    }
    assert gateway.admin.money("alice") == (1000_000_000 - charge, 0)
