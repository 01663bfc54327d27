"""The token checks the sandbox and the gateway share: the header, the claims, the signature, the 401 codes."""

from __future__ import annotations

import json
import time
from typing import Any

import jwt
import pytest

from kling_gateway.kling import signing
from kling_gateway.kling.codes import KlingCode

ACCESS_KEY = "ak-unit"
SECRET_KEY = "a-secret-key-of-forty-three-characters-abcd"
# Fixed instants, so parameters made when the module is imported stay in the future / past however long a run is.
FAR_FUTURE = 2**33  # the year 2242
LONG_AGO = 1_000_000_000  # 2001


def token(*, secret: str = SECRET_KEY, algorithm: str = "HS256", **changes: Any) -> str:
    """Sign like the official SDKs, with claims changed or (None) left out."""
    now = int(time.time())
    claims = {"iss": ACCESS_KEY, "exp": now + 1800, "nbf": now - 5} | changes
    return jwt.encode({name: value for name, value in claims.items() if value is not None}, secret, algorithm)


def refusal(check: Any, *arguments: Any) -> tuple[KlingCode, str]:
    with pytest.raises(signing.TokenRefused) as refused:
        check(*arguments)
    assert refused.value.message == f"{refused.value.code.message}: {refused.value.detail}"
    return refused.value.code, refused.value.detail


def test_an_official_token_names_its_access_key_and_verifies() -> None:
    signed = token()
    assert signing.bearer_token(f"Bearer {signed}") == signed
    assert signing.read_issuer(signed) == ACCESS_KEY
    assert signing.verify(signed, SECRET_KEY)["iss"] == ACCESS_KEY


@pytest.mark.parametrize(
    ("header", "code"),
    [
        (None, KlingCode.AUTH_EMPTY),
        ("", KlingCode.AUTH_EMPTY),
        ("Token abc", KlingCode.AUTH_INVALID),
        ("bearer abc", KlingCode.AUTH_INVALID),
        ("Bearer", KlingCode.AUTH_INVALID),
        ("Bearer  abc", KlingCode.AUTH_INVALID),
        ("Bearer abc ", KlingCode.AUTH_INVALID),
        ("Bearer a b", KlingCode.AUTH_INVALID),
    ],
)
def test_a_header_that_is_not_bearer_and_one_token_is_refused(header: str | None, code: KlingCode) -> None:
    assert refusal(signing.bearer_token, header)[0] is code


@pytest.mark.parametrize(
    ("signed", "named"),
    [
        pytest.param("not.a.jwt", "decodable JWT", id="garbage"),
        pytest.param(jwt.encode({"iss": ACCESS_KEY, "exp": 1, "nbf": 1}, "", "none"), "'none'", id="alg-none"),
        pytest.param(token(algorithm="HS512", secret=SECRET_KEY * 2), "'HS512'", id="hs512"),
        pytest.param(token(iss=None), "no iss", id="no-iss"),
        pytest.param(token(exp=None), "no exp", id="no-exp"),
        pytest.param(token(nbf=None, exp=None), "no exp and no nbf", id="no-exp-nor-nbf"),
        pytest.param(
            jwt.PyJWS().encode(json.dumps({"iss": 42, "exp": 2**40, "nbf": 0}).encode(), SECRET_KEY, "HS256"),
            "iss claim must be the access key",
            id="iss-not-a-string",
        ),
    ],
)
def test_a_malformed_token_is_1002_and_says_what_is_wrong(signed: str, named: str) -> None:
    code, detail = refusal(signing.read_issuer, signed)
    assert code is KlingCode.AUTH_INVALID
    assert named in detail


@pytest.mark.parametrize(
    ("signed", "code", "named"),
    [
        pytest.param(token(secret="x" * 43), KlingCode.AUTH_FAILED, "signature", id="wrong-secret"),
        pytest.param(token(nbf=FAR_FUTURE), KlingCode.AUTH_NOT_YET_VALID, "nbf", id="not-yet-valid"),
        pytest.param(token(exp=LONG_AGO), KlingCode.AUTH_EXPIRED, "expired at", id="expired"),
        pytest.param(token(exp="soon"), KlingCode.AUTH_INVALID, "exp", id="exp-not-a-number"),
    ],
)
def test_a_token_that_does_not_verify_gets_its_code(signed: str, code: KlingCode, named: str) -> None:
    assert signing.read_issuer(signed) == ACCESS_KEY
    refused_code, detail = refusal(signing.verify, signed, SECRET_KEY)
    assert refused_code is code
    assert named in detail


@pytest.mark.parametrize(
    "signed",
    [
        pytest.param(token(secret="x" * 43), id="wrong-secret"),
        pytest.param(token(nbf=FAR_FUTURE), id="not-yet-valid"),
        pytest.param(token(exp=LONG_AGO), id="expired"),
        pytest.param(token(exp="soon"), id="exp-not-a-number"),
        pytest.param(token(nbf=[1]), id="nbf-not-a-number"),
    ],
)
def test_a_verifier_with_a_clock_of_its_own_refuses_alike(signed: str) -> None:
    at_its_time = refusal(lambda: signing.verify(signed, SECRET_KEY, now_s=time.time()))
    assert at_its_time == refusal(signing.verify, signed, SECRET_KEY)


def test_a_verifier_with_a_clock_of_its_own_judges_nbf_and_exp_by_it() -> None:
    start = LONG_AGO
    signed = token(nbf=start + 60, exp=start + 120)
    assert refusal(lambda: signing.verify(signed, SECRET_KEY, now_s=start + 59))[0] is KlingCode.AUTH_NOT_YET_VALID
    assert signing.verify(signed, SECRET_KEY, now_s=start + 60)["iss"] == ACCESS_KEY
    assert signing.verify(signed, SECRET_KEY, now_s=start + 119.9)["exp"] == start + 120
    assert refusal(lambda: signing.verify(signed, SECRET_KEY, now_s=start + 120))[0] is KlingCode.AUTH_EXPIRED


@pytest.mark.parametrize(
    "claims",
    [
        pytest.param({"exp": str(int(time.time()) + 600)}, id="exp-a-numeric-string"),
        pytest.param({"nbf": str(int(time.time()) - 5)}, id="nbf-a-numeric-string"),
        pytest.param({"exp": True}, id="exp-true"),
        pytest.param({"exp": 10**400}, id="exp-past-any-float"),
    ],
)
def test_a_time_that_is_not_a_json_number_of_seconds_is_refused(claims: dict[str, Any]) -> None:
    code, detail = refusal(signing.verify, token(**claims), SECRET_KEY)
    assert code is KlingCode.AUTH_INVALID
    assert "must be a number of seconds since 1970" in detail


@pytest.mark.parametrize(
    "exp", [pytest.param(10**300, id="1e300"), pytest.param(253_402_300_799, id="year-9999"), FAR_FUTURE]
)
def test_a_token_valid_for_longer_than_the_verifier_takes_is_refused(exp: int) -> None:
    now = time.time()
    code, detail = refusal(lambda: signing.verify(token(exp=exp), SECRET_KEY, now_s=now, max_lifetime_s=86_400))
    assert code is KlingCode.AUTH_INVALID
    assert "tokens valid for at most 86400 s are taken; sign one with exp at most now + 86400" in detail
    # Without a bound (as Kling's own checks), such a token is as good as any.
    assert signing.verify(token(exp=exp), SECRET_KEY, now_s=now)["iss"] == ACCESS_KEY


def test_a_token_within_the_lifetime_and_leeway_is_taken_and_past_them_refused() -> None:
    start = LONG_AGO
    signed = token(nbf=start, exp=start + 1800)

    def verify_at(moment: float) -> dict[str, Any]:
        return signing.verify(signed, SECRET_KEY, now_s=moment, leeway_s=10, max_lifetime_s=1800)

    assert verify_at(start - 10)["iss"] == ACCESS_KEY  # the client's clock 10 s ahead of the verifier's
    assert verify_at(start + 1800 + 9.9)["iss"] == ACCESS_KEY  # …or behind it
    assert refusal(lambda: verify_at(start - 10.1))[0] is KlingCode.AUTH_NOT_YET_VALID
    assert refusal(lambda: verify_at(start + 1810))[0] is KlingCode.AUTH_EXPIRED
    longer = token(nbf=start, exp=start + 1811)  # 1 s past the lifetime and its leeway
    code, detail = refusal(lambda: signing.verify(longer, SECRET_KEY, now_s=start, leeway_s=10, max_lifetime_s=1800))
    assert (code, detail.split(",")[0]) == (
        KlingCode.AUTH_INVALID,
        "the token is not acceptable (its exp is 1811 s from now",
    )


def test_an_expired_token_with_a_wrong_signature_is_a_signature_failure() -> None:
    signed = token(secret="x" * 43, exp=LONG_AGO)
    assert refusal(signing.verify, signed, SECRET_KEY)[0] is KlingCode.AUTH_FAILED


def test_a_verified_token_is_remembered_until_it_expires() -> None:
    now = [1000.0]
    verified = signing.VerifiedTokens(max_tokens=2, clock=lambda: now[0])
    verified.remember("t1", {"iss": "ak-1", "exp": 1010, "nbf": 995})
    assert verified.issuer("t1") == "ak-1"
    assert verified.issuer("t2") is None
    now[0] = 1010.0
    assert verified.issuer("t1") is None  # expired: checked in full again, which says how it expired
    now[0] = 1000.0
    assert verified.issuer("t1") is None  # and forgotten


def test_the_verified_tokens_stay_within_their_bound() -> None:
    verified = signing.VerifiedTokens(max_tokens=2, clock=lambda: 0.0)
    for number in range(3):
        verified.remember(f"t{number}", {"iss": f"ak-{number}", "exp": 60})
    assert [verified.issuer(f"t{number}") for number in range(3)] == [None, "ak-1", "ak-2"]
