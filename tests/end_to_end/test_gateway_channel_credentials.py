"""Channels with an API key, a key pair or both, against the sandbox: which credential each request carries, a
channel whose credentials the upstream refuses is set aside while its task goes elsewhere, and callbacks reach a
channel that has no secret key."""

from __future__ import annotations

import httpx
import pytest

from kling_gateway.sandbox import Account
from tests.gateway import KLING_T2V, GatewayFactory, UpstreamFault
from tests.helpers import create, wait_until


class Recorded(UpstreamFault):
    """Pass every upstream request through, keeping its Authorization header and the status of its answer."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, int]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.network.handle_async_request(request)
        self.seen.append((request.headers.get("authorization", ""), response.status_code))
        return response


@pytest.mark.parametrize(("pair", "api_key"), [(False, True), (True, False), (True, True)], ids=["key", "pair", "both"])
def test_legacy_tasks_run_on_a_channel_with_either_credential_the_key_when_it_has_one(
    gateway_factory: GatewayFactory, pair: bool, api_key: bool
) -> None:
    recorded = Recorded()
    gw = gateway_factory(channels=0, upstream=recorded.around)
    account = gw.sandbox.account
    gw.admin.channel("only", gw.sandbox.url, account, pair=pair, api_key=api_key)
    with gw.client() as client:
        done = wait_until(client, f"{KLING_T2V}/{create(client, KLING_T2V, {'prompt': 'a fox'})['platform_id']}")
    assert done["task_status"] == "succeed"
    bearers = {authorization.removeprefix("Bearer ") for authorization, _ in recorded.seen}
    if api_key:  # it never expires and needs no signing, so it is preferred wherever it is accepted
        assert bearers == {account.api_key}
    else:
        assert all(bearer.count(".") == 2 for bearer in bearers)  # signed JWTs


def test_a_channel_whose_credentials_are_refused_is_set_aside_until_they_are_updated(
    gateway_factory: GatewayFactory,
) -> None:
    recorded = Recorded()
    gw = gateway_factory(channels=0, upstream=recorded.around)
    account = gw.sandbox.account
    unknown = Account(access_key="ak_nobody", secret_key="sk_" + "n" * 32)
    gw.admin.channel("broken", gw.sandbox.url, unknown, priority=1)  # tried first
    gw.admin.channel("good", gw.sandbox.url, account)
    with gw.client() as client:
        first = create(client, KLING_T2V, {"prompt": "a fox"})
        assert wait_until(client, f"{KLING_T2V}/{first['platform_id']}")["task_status"] == "succeed"
        reason = gw.admin.channel_state("broken").misconfigured
        assert reason is not None
        assert reason.startswith("the upstream refused the key pair's JWT: upstream answered 1000")
        refusals = [status for _, status in recorded.seen].count(401)
        assert refusals == 1
        # Skipped from now on: the next task goes straight to the good channel, with no second refusal.
        second = create(client, KLING_T2V, {"prompt": "a second fox"})
        assert wait_until(client, f"{KLING_T2V}/{second['platform_id']}")["task_status"] == "succeed"
        assert [status for _, status in recorded.seen].count(401) == refusals
        assert gw.admin.channel_state("broken").misconfigured == reason

        gw.admin.update_channel_credentials("broken", key_pair=(account.access_key, account.secret_key))
        assert gw.admin.channel_state("broken").misconfigured is None
        third = create(client, KLING_T2V, {"prompt": "a third fox"})
        assert wait_until(client, f"{KLING_T2V}/{third['platform_id']}")["task_status"] == "succeed"
    assert [status for _, status in recorded.seen].count(401) == refusals
    assert gw.admin.task_channels() == {
        first["platform_id"]: "good",
        second["platform_id"]: "good",
        third["platform_id"]: "broken",
    }


def test_callbacks_reach_a_channel_with_only_an_api_key(gateway_factory: GatewayFactory) -> None:
    gw = gateway_factory(channels=0, worker=False, callbacks=True)  # no poller: only callbacks move the task
    gw.admin.channel("keyed", gw.sandbox.url, gw.sandbox.account, pair=False, api_key=True)
    with gw.client() as client:
        platform_id = create(client, KLING_T2V, {"prompt": "a fox"})["platform_id"]
        done = wait_until(client, f"{KLING_T2V}/{platform_id}")
    assert done["task_status"] == "succeed"
    assert gw.admin.ledger(platform_id)["charge"] == -1_000_000  # 1 credit at ¥1


def test_a_synchronous_call_refused_for_its_credentials_goes_elsewhere_and_sets_the_channel_aside(
    gateway_factory: GatewayFactory,
) -> None:
    recorded = Recorded()
    gw = gateway_factory(channels=0, upstream=recorded.around)
    unknown = Account(access_key="ak_nobody", secret_key="sk_" + "n" * 32)
    gw.admin.channel("broken", gw.sandbox.url, unknown, priority=1)  # tried first
    gw.admin.channel("good", gw.sandbox.url, gw.sandbox.account)
    speech = {"text": "hello there", "voice_id": "oversea_male1", "voice_language": "en"}
    with gw.client() as client:
        for _ in range(2):
            answer = client.post("/v1/audio/tts", json=speech)
            assert answer.status_code == 200, answer.text
    reason = gw.admin.channel_state("broken").misconfigured
    assert reason is not None
    assert reason.startswith("the upstream refused the key pair's JWT")
    assert [status for _, status in recorded.seen].count(401) == 1  # the second call skipped the broken channel
