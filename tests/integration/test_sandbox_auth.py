"""The sandbox authenticates like the official API: HS256 JWTs per account, static keys, codes 1000-1004."""

from __future__ import annotations

import time

import jwt
import pytest

from tests.conftest import RunningSandbox, SandboxFactory
from tests.helpers import TEXT2VIDEO, SteppedClock, error_of, sign_jwt


def _now() -> int:
    """Read the clock when a token is made: a suite can run longer than a token lives."""
    return int(time.time())


def _token(sandbox: RunningSandbox, **claims: object) -> str:
    payload = {"iss": sandbox.account.access_key, "exp": _now() + 1800, "nbf": _now() - 5} | claims
    return jwt.encode({k: v for k, v in payload.items() if v is not None}, sandbox.account.secret_key, "HS256")


def test_a_signed_jwt_is_accepted(sandbox: RunningSandbox) -> None:
    with sandbox.client() as client:
        assert client.get(TEXT2VIDEO).status_code == 200


def test_a_static_api_key_is_accepted(sandbox: RunningSandbox) -> None:
    with sandbox.client(token=sandbox.account.api_key) as client:
        answer = client.get(TEXT2VIDEO)
    assert answer.status_code == 200
    assert answer.json()["data"] == []


def test_a_missing_header_is_1001(sandbox: RunningSandbox) -> None:
    with sandbox.client() as client:
        del client.headers["Authorization"]
        assert error_of(client.get(TEXT2VIDEO))[:2] == (401, 1001)


@pytest.mark.parametrize(
    "header",
    [
        pytest.param("Token abc", id="wrong-scheme"),
        pytest.param("bearer {token}", id="lowercase-scheme"),
        pytest.param("Bearer  {token}", id="two-spaces"),
        pytest.param("Bearer", id="no-token"),
        pytest.param("Bearer not.a.jwt", id="undecodable"),
        pytest.param("Bearer abc", id="one-segment"),
    ],
)
def test_a_malformed_header_is_1002(sandbox: RunningSandbox, header: str) -> None:
    with sandbox.client() as client:
        client.headers["Authorization"] = header.format(token=sign_jwt(sandbox.account))
        status, code, message = error_of(client.get(TEXT2VIDEO))
    assert (status, code) == (401, 1002)
    assert "Authorization is invalid" in message


def test_an_unknown_issuer_is_1000(sandbox: RunningSandbox) -> None:
    token = _token(sandbox, iss="ak_nobody")
    with sandbox.client(token=token) as client:
        status, code, message = error_of(client.get(TEXT2VIDEO))
    assert (status, code) == (401, 1000)
    assert "iss" in message


def test_a_wrong_signature_is_1000(sandbox: RunningSandbox) -> None:
    claims = {"iss": sandbox.account.access_key, "exp": _now() + 60, "nbf": _now() - 5}
    token = jwt.encode(claims, "not-the-secret-key-but-long-enough-for-hs256", "HS256")
    with sandbox.client(token=token) as client:
        status, code, message = error_of(client.get(TEXT2VIDEO))
    assert (status, code) == (401, 1000)
    assert "signature" in message


def test_another_accounts_secret_does_not_sign_for_this_one(sandbox: RunningSandbox) -> None:
    other = sandbox.config.accounts[1]
    claims = {"iss": sandbox.account.access_key, "exp": _now() + 60, "nbf": _now() - 5}
    with sandbox.client(token=jwt.encode(claims, other.secret_key, "HS256")) as client:
        assert error_of(client.get(TEXT2VIDEO))[:2] == (401, 1000)


def test_a_token_not_yet_valid_is_1003(sandbox: RunningSandbox) -> None:
    with sandbox.client(token=_token(sandbox, nbf=_now() + 600)) as client:
        assert error_of(client.get(TEXT2VIDEO))[:2] == (401, 1003)


def test_an_expired_token_is_1004(sandbox: RunningSandbox) -> None:
    with sandbox.client(token=_token(sandbox, exp=_now() - 60, nbf=_now() - 1900)) as client:
        status, code, message = error_of(client.get(TEXT2VIDEO))
    assert (status, code) == (401, 1004)
    assert "expired" in message


@pytest.mark.parametrize("missing", ["iss", "exp", "nbf"])
def test_a_token_without_iss_exp_or_nbf_is_1002(sandbox: RunningSandbox, missing: str) -> None:
    with sandbox.client(token=_token(sandbox, **{missing: None})) as client:
        status, code, message = error_of(client.get(TEXT2VIDEO))
    assert (status, code) == (401, 1002)
    assert missing in message


def test_a_token_signed_with_another_algorithm_is_1002(sandbox: RunningSandbox) -> None:
    claims = {"iss": sandbox.account.access_key, "exp": _now() + 60, "nbf": _now() - 5}
    token = jwt.encode(claims, sandbox.account.secret_key, "HS512")
    with sandbox.client(token=token) as client:
        assert error_of(client.get(TEXT2VIDEO))[:2] == (401, 1002)


def test_auth_is_checked_on_creates_and_costs_too(sandbox: RunningSandbox) -> None:
    with sandbox.client(token="wrong") as client:
        assert error_of(client.post(TEXT2VIDEO, json={"prompt": "x"}))[:2] == (401, 1002)
        assert error_of(client.get("/account/costs?start_time=0&end_time=1"))[:2] == (401, 1002)


def test_a_token_that_worked_is_refused_once_it_expires(sandbox_factory: SandboxFactory) -> None:
    clock = SteppedClock()
    sandbox = sandbox_factory(clock=clock)
    now = clock() // 1000
    token = _token(sandbox, exp=now + 2, nbf=now - 5)
    with sandbox.client(token=token) as client:
        assert client.get(TEXT2VIDEO).status_code == 200
        clock.advance(1)
        assert client.get(TEXT2VIDEO).status_code == 200  # remembered as verified, and not yet expired
        clock.move_to((now + 2) * 1000)
        assert error_of(client.get(TEXT2VIDEO))[:2] == (401, 1004)


def test_a_token_is_judged_by_the_sandboxs_clock(sandbox_factory: SandboxFactory) -> None:
    clock = SteppedClock()
    sandbox = sandbox_factory(clock=clock)
    now = clock() // 1000
    early = _token(sandbox, exp=now + 600, nbf=now + 60)
    with sandbox.client(token=early) as client:
        assert error_of(client.get(TEXT2VIDEO))[:2] == (401, 1003)
        clock.advance(60)
        assert client.get(TEXT2VIDEO).status_code == 200
    with sandbox.client(token=_token(sandbox, exp=now + 60, nbf=now - 5)) as client:  # never seen: checked in full
        assert error_of(client.get(TEXT2VIDEO))[:2] == (401, 1004)
