"""A create whose answer is lost is found upstream by its external id, never created twice."""

from __future__ import annotations

import httpx
import pytest

from tests.gateway import GatewayFactory, UpstreamFault
from tests.helpers import wait_until

pytestmark = pytest.mark.both_backends  # the worker settles an unknown outcome: the store matters

T2V = "/kling/v1/videos/text2video"


class LosesTheFirstCreateAnswer(UpstreamFault):
    """Deliver every request, but lose the answer to the first create; optionally refuse the lookup after it."""

    def __init__(self, *, refuse_lookup: bool) -> None:
        self._refuse_lookup = refuse_lookup
        self.creates = 0
        self.lookups_refused = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            self.creates += 1
            await self.network.handle_async_request(request)  # the upstream stores the task...
            if self.creates == 1:
                raise httpx.ReadTimeout("the answer was lost", request=request)  # ...but we never hear back
        elif self._refuse_lookup and self.creates == 1 and self.lookups_refused == 0:
            self.lookups_refused += 1
            raise httpx.ConnectError("the lookup could not connect", request=request)
        return await self.network.handle_async_request(request)


def test_a_lost_create_answer_is_found_by_its_external_id(gateway_factory: GatewayFactory) -> None:
    upstream = LosesTheFirstCreateAnswer(refuse_lookup=False)
    gateway = gateway_factory(channels=2, upstream=upstream.around)
    with gateway.client() as client:
        answer = client.post(T2V, json={"prompt": "a fox"})
        assert answer.status_code == 200, answer.text
        created = answer.json()["data"]
        assert created["task_id"] is not None
        done = wait_until(client, f"{T2V}/{created['platform_id']}")
    assert done["task_status"] == "succeed"
    assert upstream.creates == 1  # no second channel was tried
    [task] = gateway.sandbox.state.tasks.all_tasks()
    assert task.task_id == created["task_id"]
    assert gateway.admin.ledger(created["platform_id"]).keys() == {"hold", "release", "charge"}


def test_an_unknown_outcome_is_settled_by_the_worker(gateway_factory: GatewayFactory) -> None:
    upstream = LosesTheFirstCreateAnswer(refuse_lookup=True)
    gateway = gateway_factory(channels=2, upstream=upstream.around)
    with gateway.client() as client:
        answer = client.post(T2V, json={"prompt": "a fox", "external_task_id": "lost-1"})
        assert answer.status_code == 200, answer.text
        created = answer.json()["data"]
        # Accepted, not yet confirmed; unless the worker, polling every 20 ms, settled it before the answer left.
        if created["task_id"] is None:
            assert created["task_status"] == "submitted"
        done = wait_until(client, f"{T2V}/lost-1")
    assert done["task_status"] == "succeed"
    assert upstream.creates == 1
    [task] = gateway.sandbox.state.tasks.all_tasks()
    assert done["task_id"] == task.task_id
    assert gateway.admin.ledger(created["platform_id"]).keys() == {"hold", "release", "charge"}
