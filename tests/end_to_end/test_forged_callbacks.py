"""An upstream callback forged with a leaked token can do no harm beyond the task it names: its deduction is
charged at most what the task can cost, and the result URL it reports is fetched only from a public address or the
channel's own, never from inside the gateway's network."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from kling_gateway.upstream.callbacks import callback_url
from tests.gateway import KLING_T2V, GatewayFactory, RunningGateway
from tests.helpers import create
from tests.inprocess import Apps


@pytest.fixture
def inside(apps: Apps) -> list[str]:
    """A service inside the gateway's network, on loopback; the list records every path it is asked for."""
    asked: list[str] = []

    async def answer(request: Request) -> Response:
        asked.append(request.url.path)
        return Response(b"internal secrets", media_type="video/mp4")

    url = apps.listen(Starlette(routes=[Route("/{path:path}", answer)]))
    asked.append(url)  # the first entry is where it listens
    return asked


def forge_success(gw: RunningGateway, platform_id: str, upstream_id: str, **report: Any) -> None:
    """Post a `succeed` callback about a task with its channel's real token, as one who read it in a log could."""
    body = {
        "task_id": upstream_id,
        "task_status": "succeed",
        "task_info": {},
        "created_at": 1,
        "updated_at": 2,
    } | report
    url = callback_url(gw.url, gw.sandbox.account.secret_key, platform_id)
    with gw.http() as anyone:
        answer = anyone.post(url, json=body)
    assert answer.status_code == 200, answer.text


def submitted_task(gw: RunningGateway) -> tuple[str, str]:
    """Submit a video task as alice; return its platform id and upstream id."""
    with gw.client() as client:
        created = create(client, KLING_T2V, {"prompt": "a fox", "duration": "5"})
    return created["platform_id"], created["task_id"]


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_a_forged_result_url_inside_the_network_is_never_fetched(
    gateway_factory: GatewayFactory, inside: list[str], host: str
) -> None:
    gw = gateway_factory(worker=False)  # nothing but the forged callback moves the task
    platform_id, upstream_id = submitted_task(gw)
    target = inside[0].replace("127.0.0.1", host) + "/admin/export.mp4"
    forge_success(gw, platform_id, upstream_id, task_result={"videos": [{"id": "v1", "url": target, "duration": "5"}]})
    with gw.client() as client:
        answer = client.get(f"/v1/videos/{platform_id}/content")
    assert answer.status_code == 503, answer.text
    message = answer.json()["error"]["message"]
    assert f"the upstream's URL of the video file of {platform_id} is not fetched" in message
    assert "is a loopback address" in message
    assert "KLING_GATEWAY_DOWNLOADS__PRIVATE_ORIGINS" in message
    assert inside[1:] == []  # the service inside was never asked


def test_a_forged_deduction_is_charged_no_more_than_the_task_can_cost(gateway_factory: GatewayFactory) -> None:
    gw = gateway_factory(worker=False)
    platform_id, upstream_id = submitted_task(gw)
    hold = gw.admin.ledger(platform_id)["hold"]
    forge_success(gw, platform_id, upstream_id, task_result={}, final_unit_deduction="50")  # ¥50 for a 5 s video
    assert gw.admin.ledger(platform_id) == {"hold": hold, "release": -hold, "charge": -hold}
    assert gw.admin.money("alice") == (1_000_000_000 - hold, 0)
    assert hold < 50_000_000
