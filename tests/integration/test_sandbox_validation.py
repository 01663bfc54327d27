"""Every body rule holds over HTTP: each refused case of the schema tests is a 400 / 1201 that stores nothing.

The cases are the tables of tests/unit/schemas/, so the sandbox is held to exactly the rules the schemas
state, endpoint by endpoint and rule family by rule family.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest

from kling_gateway.kling.schemas import ACTIONS, Family
from kling_gateway.sandbox import Account, SandboxConfig, create_app
from tests.helpers import error_of, sign_jwt
from tests.inprocess import Apps, Network
from tests.unit.schemas import INVALID, SYNC_BAD, VALID

# These actions refer to objects the sandbox must hold first (a video, a session), so a body that is valid by
# itself is refused for naming an unknown one; tests/integration/test_sandbox_sessions.py covers them.
NEEDS_EARLIER_OBJECTS = {"video-extend", "lip-sync", "multi-elements", "advanced-lip-sync"}


@pytest.fixture(scope="module")
def client(network: Network) -> Iterator[httpx.Client]:
    """One roomy sandbox for the whole table, and a client of its only account."""
    account = Account.generate()
    config = SandboxConfig(accounts=(account,), video_concurrency=10_000, image_concurrency=100_000)
    sandboxes = Apps(network)
    url = sandboxes.start(create_app(config), "sandbox")
    try:
        headers = {"Authorization": f"Bearer {sign_jwt(account)}"}
        with network.client(base_url=url, headers=headers, timeout=10) as opened:
            yield opened
            for family, action in ACTIONS:
                assert opened.get(f"/v1/{family}/{action}", params={"pageSize": 500}).status_code == 200
    finally:
        sandboxes.stop()


@pytest.mark.parametrize(("family", "action", "body", "fragments"), INVALID)
def test_a_bad_body_is_refused_with_1201(
    client: httpx.Client, family: Family, action: str, body: object, fragments: tuple[str, ...]
) -> None:
    answer = client.post(f"/v1/{family}/{action}", content=orjson.dumps(body))
    status, code, message = error_of(answer)
    assert (status, code) == (400, 1201), answer.text
    for fragment in fragments:
        assert fragment in message
    assert client.get(f"/v1/{family}/{action}").json()["data"] == []  # nothing was stored


@pytest.mark.parametrize(
    ("family", "action", "body"), [case for case in VALID if case.values[1] not in NEEDS_EARLIER_OBJECTS]
)
def test_a_good_body_is_accepted(client: httpx.Client, family: Family, action: str, body: dict[str, Any]) -> None:
    if "external_task_id" in body:  # the examples share one, and it must be unique in the account
        body = body | {"external_task_id": str(uuid.uuid4())}
    answer = client.post(f"/v1/{family}/{action}", json=body)
    if family is Family.VIDEOS and body.get("model_name") in SandboxConfig().retired_models:
        # kling-v1 features (camera control, the motion brush) remain valid bodies, but the model is retired.
        assert error_of(answer) == (
            400,
            1201,
            f"The model '{body['model_name']}' has been discontinued and is no longer available.",
        )
        return
    assert answer.status_code == 200, answer.text


@pytest.mark.parametrize(("call", "body", "expected"), SYNC_BAD)
def test_a_bad_synchronous_call_is_refused_with_1201(
    client: httpx.Client, call: str, body: dict[str, Any], expected: str
) -> None:
    status, code, message = error_of(client.post(f"/v1/videos/{call}", json=body))
    assert (status, code) == (400, 1201)
    assert expected in message


@pytest.mark.parametrize("raw", [b"{not json", b"", b"[1, 2]", b'"text"'])
def test_a_body_that_is_not_a_json_object_is_refused(client: httpx.Client, raw: bytes) -> None:
    status, code, message = error_of(client.post("/v1/videos/text2video", content=raw))
    assert (status, code) == (400, 1201)
    assert "JSON" in message
