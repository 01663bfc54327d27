"""A channel whose every create fails is taken down by its breaker while its tasks go to another, each sent upstream
once; `channels list`, `status` and `/metrics` say so; after the cool-down the worker's probe brings it back. A
channel whose secret is wrong shows as misconfigured. Time moves only when the test moves it."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import httpx
from typer.testing import CliRunner

from kling_gateway.cli import app
from kling_gateway.clock import ManualClock
from kling_gateway.sandbox import Account
from kling_gateway.sync.worker import Worker
from tests.gateway import KLING_T2V, GatewayFactory, RunningGateway, UpstreamFault
from tests.helpers import create

runner = CliRunner()
STEP_S = 2.0  # between submits: past the report interval and the cache, so each submit sees the last one's calls


class CreatesFail(UpstreamFault):
    """Answer every create sent with one API key 500/5000, as an upstream in trouble does; pass the rest through."""

    def __init__(self, api_key: str) -> None:
        self.api_key = api_key
        self.failing = True
        self.creates: Counter[str] = Counter()  # by bearer: creates that reached this transport

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        bearer = request.headers.get("authorization", "").removeprefix("Bearer ")
        if request.method == "POST":
            self.creates[bearer] += 1
            if self.failing and bearer == self.api_key:
                body = {"code": 5000, "message": "Internal server error", "request_id": "r-1"}
                return httpx.Response(500, json=body)
        return await self.network.handle_async_request(request)


def cli(gw: RunningGateway, *arguments: str) -> Any:
    result = runner.invoke(app, [*arguments, "--json", "--database-url", gw.admin.database_url])
    assert result.exit_code in (0, 1), result.output  # status exits 1 while not ready: no worker heartbeat here
    return json.loads(result.stdout)


def states(gw: RunningGateway) -> dict[str, str]:
    """Each channel's state, as `channels list` tells it, checked against `status` and `/metrics`."""
    listed = {channel["name"]: channel["health"]["state"] for channel in cli(gw, "channels", "list")["channels"]}
    told = {channel["name"]: channel["health"]["state"] for channel in cli(gw, "status")["channels"]}
    assert told == listed
    with gw.http() as operator:
        scraped = operator.get("/metrics").text
    for name, state in listed.items():
        assert f'kling_gateway_channel_state{{channel="{name}",state="{state}"}} 1.0' in scraped
    return listed


def test_a_failing_channel_goes_down_its_tasks_go_elsewhere_once_each_and_a_probe_brings_it_back(
    gateway_factory: GatewayFactory,
) -> None:
    clock = ManualClock()
    first, second = Account.generate(), Account.generate()
    failing = CreatesFail(first.api_key or "")
    gw = gateway_factory(
        channels=0, worker=False, clock=clock, sandbox={"accounts": (first, second)}, upstream=failing.around
    )
    assert gw.runtime is not None
    wrong = Account(access_key=first.access_key, secret_key="sk_" + "n" * 32)  # the secret does not match
    gw.admin.channel("wrong", gw.sandbox.url, wrong, priority=2)  # tried first, refused at once
    gw.admin.channel("a", gw.sandbox.url, first, pair=False, api_key=True, priority=1)  # tried next, fails
    gw.admin.channel("b", gw.sandbox.url, second, pair=False, api_key=True)
    worker = Worker(gw.runtime.db, gw.runtime.client, gw.runtime.settings, clock=clock)
    breaker_faults = gw.runtime.settings.channel_health.breaker_faults

    platform_ids = []
    with gw.client() as client:
        for _ in range(breaker_faults + 1):
            clock.advance(s=STEP_S)
            platform_ids.append(create(client, KLING_T2V, {"prompt": "a fox"})["platform_id"])
            gw.network.loop.run(gw.runtime.health.report())  # the submit reports in the background: done by now
        assert failing.creates[first.api_key or ""] == breaker_faults  # the last submit did not try a: it is down
        assert set(gw.admin.task_channels().values()) == {"b"}
        upstream = Counter(task.body.external_task_id for task in gw.sandbox.state.tasks.all_tasks())
        assert upstream == dict.fromkeys(platform_ids, 1)  # each task created upstream once, on b
        assert states(gw) == {"wrong": "misconfigured", "a": "down", "b": "healthy"}
        [a] = [channel for channel in cli(gw, "channels", "list")["channels"] if channel["name"] == "a"]
        # Its creates failed; the look-up by external id after each answered "no such task", no fault of it.
        assert (a["health"]["calls"], a["health"]["error_ratio"]) == (2 * breaker_faults, 0.5)
        assert a["health"]["last_error"] == "upstream answered 500/5000: Internal server error"
        assert a["health"]["p50_ms"] is not None

        gw.admin.enable_channel("b", False)  # now no channel can take a task: the submit is refused, nothing held
        balance, held = gw.admin.money("alice")
        refused = client.post(KLING_T2V, json={"prompt": "a fox with nowhere to go"})
        assert refused.status_code == 503, refused.text
        message = refused.json()["message"]
        assert (
            "every upstream channel is down or misconfigured: wrong: the upstream refused the key pair's JWT" in message
        )
        assert "a: 5 upstream faults in a row, cooling down for" in message
        assert gw.admin.money("alice") == (balance, held)
        assert failing.creates[first.api_key or ""] == breaker_faults
        gw.admin.enable_channel("b", True)

        assert gw.network.loop.run(worker.probes.run_once()) == 0  # still cooling down: no probe yet
        clock.advance(s=gw.runtime.settings.channel_health.cooldown_s)
        failing.failing = False
        assert gw.network.loop.run(worker.probes.run_once()) == 1  # the probe answers: a takes tasks again
        # Closed, though its window still holds the failed creates: degraded, tried first within its priority.
        assert states(gw) == {"wrong": "misconfigured", "a": "degraded", "b": "healthy"}
        clock.advance(s=STEP_S)
        again = create(client, KLING_T2V, {"prompt": "a fox again"})["platform_id"]
    assert gw.admin.task_channels()[again] == "a"
    gw.network.loop.run(worker.aclose())
