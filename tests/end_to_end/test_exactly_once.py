"""A sender that dies in the middle of a create loses nothing and creates nothing twice: after its claim runs out,
a worker asks the upstream for the task by its external id, adopts it if it is there, and sends it if not."""

from __future__ import annotations

import asyncio
import contextlib

import httpx
import pytest

from kling_gateway.settings import SyncConfig
from tests.gateway import GatewayFactory, UpstreamFault
from tests.helpers import wait_until

pytestmark = pytest.mark.both_backends  # claims, adoption and billing across a crash: the store matters

T2V = "/kling/v1/videos/text2video"
# A short upstream timeout makes the claim on a task being sent short too (twice the timeout, plus a poll).
SHORT_CLAIMS = SyncConfig(poll_interval_s=0.05, idle_sleep_s=0.02, upstream_timeout_s=0.5)


class SenderDies(RuntimeError):
    """Stands for the process that was sending a create being killed: nothing after the call runs."""


class DiesDuringTheFirstCreate(UpstreamFault):
    """Let every request through, but end the sender during its first create, after or before it reached the
    upstream."""

    def __init__(self, *, reached_upstream: bool) -> None:
        self._reached_upstream = reached_upstream
        self.creates = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            self.creates += 1
            if self.creates == 1:
                if self._reached_upstream:
                    await self.network.handle_async_request(request)
                raise SenderDies("killed mid-call")
        return await self.network.handle_async_request(request)


@pytest.mark.parametrize("reached_upstream", [True, False], ids=["created-upstream", "never-arrived"])
def test_a_task_whose_sender_died_mid_create_ends_with_exactly_one_upstream_task(
    gateway_factory: GatewayFactory, reached_upstream: bool
) -> None:
    upstream = DiesDuringTheFirstCreate(reached_upstream=reached_upstream)
    gw = gateway_factory(upstream=upstream.around, sync=SHORT_CLAIMS)
    body = {"prompt": "a fox", "external_task_id": "fox-1"}
    # The client gets no answer: a 500, or the connection just drops.
    with gw.client() as client, contextlib.suppress(httpx.TransportError):
        assert client.post(T2V, json=body).status_code == 500
    with gw.client() as client:  # a new connection: the server closed the one it failed on
        again = client.post(T2V, json=body)  # so it resends, with the same external id
        assert again.status_code == 200, again.text
        assert again.json()["data"]["task_id"] is None  # claimed by the dead sender: nobody may send it yet
        done = wait_until(client, f"{T2V}/fox-1")
    assert done["task_status"] == "succeed"
    [task] = gw.sandbox.state.tasks.all_tasks()
    assert task.task_id == done["task_id"]
    assert task.body.external_task_id == done["platform_id"]
    assert upstream.creates == (1 if reached_upstream else 2)  # adopted as it was, or sent once more
    assert gw.admin.ledger(done["platform_id"]).keys() == {"hold", "release", "charge"}
    assert gw.admin.money("alice")[1] == 0


class CreateLandsLate(UpstreamFault):
    """Time out the first create at once, while the request reaches the upstream only a moment later: a lookup
    made right after the timeout does not find the task yet."""

    def __init__(self, delay_s: float) -> None:
        self._delay_s = delay_s
        self.creates = 0
        self._late: set[asyncio.Task[httpx.Response]] = set()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            self.creates += 1
            if self.creates == 1:
                await request.aread()
                late = asyncio.create_task(self._deliver_later(request))
                self._late.add(late)
                raise httpx.ReadTimeout("no answer in time", request=request)
        return await self.network.handle_async_request(request)

    async def _deliver_later(self, request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(self._delay_s)
        return await self.network.handle_async_request(request)


def test_a_create_that_lands_after_its_timeout_is_adopted_not_sent_to_another_channel(
    gateway_factory: GatewayFactory,
) -> None:
    upstream = CreateLandsLate(delay_s=0.3)
    gw = gateway_factory(channels=2, upstream=upstream.around, sync=SHORT_CLAIMS)
    with gw.client() as client:
        answer = client.post(T2V, json={"prompt": "a fox", "external_task_id": "late-1"})
        assert answer.status_code == 200, answer.text
        assert answer.json()["data"]["task_id"] is None  # not found yet, and not given up on
        done = wait_until(client, f"{T2V}/late-1")
    assert done["task_status"] == "succeed"
    [task] = gw.sandbox.state.tasks.all_tasks()  # one upstream task: the late one, adopted
    assert task.task_id == done["task_id"]
    assert upstream.creates == 1
