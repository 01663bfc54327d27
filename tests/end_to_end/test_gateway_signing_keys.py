"""A client that signs JWTs as the official Kling SDKs do talks to the gateway with a key's access and secret keys."""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from typing import Any

import httpx
import jwt
import pytest

from kling_gateway.clock import ManualClock
from tests.gateway import GatewayFactory, IssuedKey, RunningGateway
from tests.helpers import TEXT2VIDEO, create, error_of, sign_jwt, wait_until

TokenFor = Callable[[IssuedKey], str | None]  # the Authorization header to send, or None for none


def signed_client(gateway: RunningGateway, key: IssuedKey) -> httpx.Client:
    """Open a client that sends a token signed with a key's pair, as the official SDKs do."""
    return bearer_client(gateway, f"Bearer {sign_jwt(key)}")


def bearer_client(gateway: RunningGateway, authorization: str | None) -> httpx.Client:
    return gateway.http({} if authorization is None else {"Authorization": authorization})


def token(key: IssuedKey, *, secret: str | None = None, algorithm: str = "HS256", **changes: Any) -> str:
    """`Bearer` and a token like the SDKs', with claims changed or (None) left out."""
    now = int(time.time())
    claims = {"iss": key.access_key, "exp": now + 1800, "nbf": now - 5} | changes
    kept = {name: value for name, value in claims.items() if value is not None}
    with warnings.catch_warnings():  # HS512 wants a longer key than an HS256 secret key: that is the point
        warnings.simplefilter("ignore", jwt.InsecureKeyLengthWarning)
        return "Bearer " + jwt.encode(kept, secret if secret is not None else key.secret_key, algorithm)


def test_a_signing_client_creates_reads_lists_and_downloads_like_the_api_key(gateway: RunningGateway) -> None:
    key = gateway.admin.key("alice")
    with signed_client(gateway, key) as client, gateway.client("alice") as by_api_key:
        created = create(client, TEXT2VIDEO, {"prompt": "a paper boat on a river", "external_task_id": "boat-1"})
        path = f"{TEXT2VIDEO}/{created['task_id']}"
        answer = client.get(path)
        assert answer.status_code == 200, answer.text
        assert answer.json()["data"]["task_id"] == created["task_id"]
        listed = client.get(TEXT2VIDEO)
        assert listed.status_code == 200, listed.text
        assert [task["task_id"] for task in listed.json()["data"]] == [created["task_id"]]
        done = wait_until(client, path, ("succeed",))
        assert wait_until(by_api_key, path, ("succeed",)) == done
        assert by_api_key.get(f"{TEXT2VIDEO}/boat-1").json()["data"]["task_id"] == created["task_id"]
    with gateway.http() as anyone:  # the result URL is the sandbox's, and needs no key
        video = anyone.get(done["task_result"]["videos"][0]["url"])
    assert video.status_code == 200
    assert video.headers["content-type"] == "video/mp4"
    assert len(video.content) > 1000


def test_a_token_is_reused_until_it_expires(gateway_factory: GatewayFactory) -> None:
    clock = ManualClock(start_ms=int(time.time()) * 1000)  # on a whole second, as exp is
    gateway = gateway_factory(clock=clock, worker=False)
    key = gateway.admin.key("alice")
    expires = clock.now_ms() // 1000 + 2
    with bearer_client(gateway, token(key, exp=expires)) as client:
        assert [client.get(TEXT2VIDEO).status_code for _ in range(3)] == [200, 200, 200]
        clock.advance(s=1.5)
        assert client.get(TEXT2VIDEO).status_code == 200  # remembered, and not expired yet
        clock.advance(s=0.5 + 9.9)
        assert client.get(TEXT2VIDEO).status_code == 200  # expired, but by less than the 10 s of skew allowed
        clock.advance(s=0.1)
        status, code, message = error_of(client.get(TEXT2VIDEO))
    assert (status, code) == (401, 1004)
    assert "expired" in message


def _unknown_issuer(key: IssuedKey) -> str:
    return token(key, iss="ak-nobody")


def _other_secret(key: IssuedKey) -> str:
    return token(key, secret="not-the-secret-key-of-this-access-key-0123456")


def _alg_none(key: IssuedKey) -> str:
    now = int(time.time())
    return "Bearer " + jwt.encode({"iss": key.access_key, "exp": now + 60, "nbf": now - 5}, "", "none")


REFUSALS: list[Any] = [
    pytest.param(lambda key: None, 1001, "Authorization header is missing", id="1001-no-header"),
    pytest.param(lambda key: "", 1001, "Authorization header is missing", id="1001-empty-header"),
    pytest.param(lambda key: "Basic abc", 1002, "'Bearer <token>'", id="1002-not-bearer"),
    pytest.param(lambda key: "Bearer not.a.jwt", 1002, "decodable JWT", id="1002-garbage"),
    pytest.param(_alg_none, 1002, "signed with 'none'", id="1002-alg-none"),
    pytest.param(lambda key: token(key, algorithm="HS512"), 1002, "signed with 'HS512'", id="1002-hs512"),
    pytest.param(lambda key: token(key, exp=None), 1002, "no exp claim", id="1002-no-exp"),
    pytest.param(lambda key: token(key, nbf=None), 1002, "no nbf claim", id="1002-no-nbf"),
    pytest.param(lambda key: token(key, iss=None), 1002, "no iss claim", id="1002-no-iss"),
    pytest.param(_unknown_issuer, 1000, "iss is not a known access key", id="1000-unknown-iss"),
    pytest.param(_other_secret, 1000, "signature does not match", id="1000-wrong-secret"),
    pytest.param(lambda key: token(key, nbf=int(time.time()) + 600), 1003, "nbf is in the future", id="1003"),
    pytest.param(lambda key: token(key, exp=int(time.time()) - 60), 1004, "expired at", id="1004"),
    pytest.param(lambda key: token(key, exp=10**300), 1002, "valid for at most 86400 s", id="1002-exp-1e300"),
    pytest.param(lambda key: token(key, exp=253_402_300_799), 1002, "valid for at most", id="1002-exp-year-9999"),
    pytest.param(
        lambda key: token(key, exp=str(int(time.time()) + 60)), 1002, "a number of seconds", id="1002-exp-str"
    ),
]
OFFICIAL = {
    1000: "Authentication failed",
    1001: "Authorization is empty",
    1002: "Authorization is invalid",
    1003: "Authorization is not yet valid",
    1004: "Authorization has expired",
}


@pytest.mark.parametrize(("authorization", "code", "problem"), REFUSALS)
def test_a_bad_token_gets_401_with_its_kling_code_and_nothing_is_stored(
    gateway: RunningGateway, authorization: TokenFor, code: int, problem: str
) -> None:
    key = gateway.admin.key("alice")
    before = gateway.admin.money("alice")
    with bearer_client(gateway, authorization(key)) as client:
        for answer in (client.post(TEXT2VIDEO, json={"prompt": "a fox"}), client.get(TEXT2VIDEO)):
            status, got, message = error_of(answer)
            assert (status, got) == (401, code), message
            assert message.startswith(OFFICIAL[code] + ": ")
            assert problem in message
    assert gateway.admin.task_count() == 0
    assert gateway.sandbox.state.tasks.all_tasks() == []
    assert gateway.admin.money("alice") == before


def test_revoking_a_key_stops_its_tokens_and_its_api_key(gateway_factory: GatewayFactory) -> None:
    gateway = gateway_factory(key_cache_ttl_s=0)
    key = gateway.admin.key("alice")
    by_api_key = bearer_client(gateway, f"Bearer {key.secret}")
    with signed_client(gateway, key) as client, by_api_key:
        assert client.get(TEXT2VIDEO).status_code == 200
        assert by_api_key.get(TEXT2VIDEO).status_code == 200
        gateway.admin.revoke_key(key.id)
        status, code, message = error_of(client.post(TEXT2VIDEO, json={"prompt": "a fox"}))
        assert (status, code) == (401, 1000)
        assert "revoked" in message
        with signed_client(gateway, key) as fresh:
            assert error_of(fresh.get(TEXT2VIDEO))[:2] == (401, 1000)
        assert error_of(by_api_key.get(TEXT2VIDEO))[:2] == (401, 1000)
    with gateway.client("alice") as others:  # alice's other key still works
        assert others.get(TEXT2VIDEO).status_code == 200
    assert gateway.admin.task_count() == 0


def test_a_signing_client_never_sees_another_users_tasks(gateway: RunningGateway) -> None:
    alice = gateway.admin.key("alice")
    with gateway.client("bob") as bob, signed_client(gateway, alice) as client:
        theirs = create(bob, TEXT2VIDEO, {"prompt": "a fox", "external_task_id": "bobs-fox"})
        for reference in (theirs["task_id"], "bobs-fox"):
            status, code, _ = error_of(client.get(f"{TEXT2VIDEO}/{reference}"))
            assert (status, code) == (404, 1203)
        assert client.get(TEXT2VIDEO).json()["data"] == []
        mine = create(client, TEXT2VIDEO, {"prompt": "a cat"})
        assert error_of(bob.get(f"{TEXT2VIDEO}/{mine['task_id']}"))[:2] == (404, 1203)
        assert [task["task_id"] for task in bob.get(TEXT2VIDEO).json()["data"]] == [theirs["task_id"]]
