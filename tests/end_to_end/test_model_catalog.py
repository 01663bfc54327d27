"""The operator's model catalog: `models list / disable / enable / add` on the database, and what a submit naming
a retired, disabled or added model does at the gateway."""

from __future__ import annotations

import json
from typing import Any

import httpx
from sqlalchemy import select

from kling_gateway.catalog.service import RETIRED_MESSAGE
from kling_gateway.store.models import LEDGER
from tests.end_to_end.test_admin_cli import admin, admin_json
from tests.gateway import GatewayFactory, RunningGateway, UpstreamFault
from tests.helpers import error_of

T2V = "/v1/videos/text2video"
YUAN = 1_000_000


class Recorder(UpstreamFault):
    """Pass every request on, keeping the bodies of the creates."""

    def __init__(self) -> None:
        self.creates: list[dict[str, Any]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST" and request.url.path.startswith("/v1/"):
            self.creates.append(json.loads(request.content))
        return await self.network.handle_async_request(request)


def by_name(url: str) -> dict[str, Any]:
    return {model["name"]: model for model in admin_json(url, "models", "list")["models"]}


def test_models_are_listed_disabled_enabled_and_added(database_url: str) -> None:
    url = database_url
    models = by_name(url)
    assert models["kling-v1"]["state"] == "available"  # it still makes images
    assert models["kling-v1"]["retired_on"] == ["videos"]
    assert "/v1/videos/text2video" in models["kling-v2-6"]["endpoints"]
    assert models["kling-v2-6"]["state"] == "available"
    assert admin_json(url, "models", "disable", "kling-v2-6", "--note", "upstream outage")["model"]["state"] == (
        "disabled"
    )
    assert by_name(url)["kling-v2-6"] | {"endpoints": []} == {
        "name": "kling-v2-6",
        "state": "disabled",
        "endpoints": [],
        "retired_on": [],
        "like": None,
        "added": False,
        "note": "upstream outage",
    }
    assert admin_json(url, "models", "enable", "kling-v2-6")["model"]["state"] == "available"
    added = admin_json(url, "models", "add", "kling-v2-7", "--like", "kling-v2-6", "--note", "announced")["model"]
    assert (added["like"], added["added"], added["state"]) == ("kling-v2-6", True, "available")
    assert added["endpoints"] == models["kling-v2-6"]["endpoints"]
    assert "kling-v2-7" in admin(url, "models", "list").stdout


def test_unknown_names_and_bad_likes_are_refused_with_what_is_allowed(database_url: str) -> None:
    url = database_url
    refused = admin(url, "models", "disable", "kling-v9", exit_code=1).stderr
    assert "'kling-v9' is not a model the gateway knows" in refused
    assert "kling-v2-6" in refused
    assert (
        "is not a model this release knows"
        in admin(url, "models", "add", "new-one", "--like", "nope", exit_code=1).stderr
    )
    assert "already known" in admin(url, "models", "add", "kling-v3", "--like", "kling-v2-6", exit_code=1).stderr
    assert "is not a model name" in admin(url, "models", "add", "Bad Name", "--like", "kling-v3", exit_code=1).stderr
    assert not {"new-one", "Bad Name"} & by_name(url).keys()


def _refused_before_anything(gateway: RunningGateway, body: dict[str, Any]) -> str:
    """Submit a body the gateway must refuse; check nothing was held, sent or stored; return the message."""
    assert gateway.runtime is not None
    before = (gateway.admin.money("alice"), gateway.runtime.client.requests_sent, gateway.admin.task_count())
    with gateway.client() as client:
        answer = client.post(T2V, json=body)
    assert answer.status_code == 400, answer.text
    after = (gateway.admin.money("alice"), gateway.runtime.client.requests_sent, gateway.admin.task_count())
    assert after == before, "nothing is held, sent upstream or stored"
    status, code, message = error_of(answer)
    assert (status, code) == (400, 1201)
    return message


def test_a_retired_model_is_refused_in_klings_words_before_anything_is_held_or_sent(
    gateway_factory: GatewayFactory,
) -> None:
    gateway = gateway_factory(worker=False)
    error = _refused_before_anything(gateway, {"prompt": "a fox", "model_name": "kling-v1"})
    assert error == RETIRED_MESSAGE.format(model="kling-v1")
    assert error == "The model 'kling-v1' has been discontinued and is no longer available."


def test_a_disabled_model_is_refused_and_an_enabled_one_taken_again(gateway_factory: GatewayFactory) -> None:
    gateway = gateway_factory(worker=False, model_cache_ttl_s=0)
    url = gateway.admin.database_url
    admin(url, "models", "disable", "kling-v2-6", "--note", "upstream outage")
    error = _refused_before_anything(gateway, {"prompt": "a fox", "model_name": "kling-v2-6"})
    assert "the model 'kling-v2-6' is disabled on this gateway by its operator (upstream outage)" in error
    admin(url, "models", "enable", "kling-v2-6")
    with gateway.client() as client:
        assert client.post(T2V, json={"prompt": "a fox", "model_name": "kling-v2-6"}).status_code == 200


def test_an_added_model_is_validated_and_held_as_the_one_it_is_like_and_sent_under_its_own_name(
    gateway_factory: GatewayFactory,
) -> None:
    recorder = Recorder()
    gateway = gateway_factory(worker=False, model_cache_ttl_s=0, upstream=recorder.around)
    admin(gateway.admin.database_url, "models", "add", "kling-v2-7", "--like", "kling-v2-6")
    body = {"prompt": "a fox", "model_name": "kling-v2-7", "mode": "pro", "duration": "10"}
    with gateway.client() as client:
        # A rule of kling-v2-6 applies to it: its sound needs pro mode.
        invalid = client.post(T2V, json=body | {"mode": "std", "sound": "on"})
        assert invalid.status_code == 400, invalid.text
        assert recorder.creates == []
        answer = client.post(T2V, json=body)
    # The sandbox knows no kling-v2-7 and refuses it: but it was asked under that name, and held kling-v2-6's price.
    assert recorder.creates[0]["model_name"] == "kling-v2-7"
    assert "kling-v2-7" in answer.text
    assert gateway.admin.entry_kinds("alice")[-2:] == ["hold", "release"]
    assert gateway.admin.money("alice") == (1000 * YUAN, 0)
    held = _last_hold(gateway)
    assert held == 5 * YUAN  # kling-v2-6 pro silent: 2.5 per 5 s, 10 s


def _last_hold(gateway: RunningGateway) -> int:
    async def work(session: Any) -> int:
        query = select(LEDGER.c.amount_micros).where(LEDGER.c.kind == "hold").order_by(LEDGER.c.id.desc()).limit(1)
        return int((await session.execute(query)).scalar_one())

    return gateway.admin._run(work)
