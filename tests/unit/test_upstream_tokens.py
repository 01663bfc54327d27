"""The token cache signs tokens as the official samples do and reuses each until shortly before it expires."""

from __future__ import annotations

from typing import Any

import jwt
import pytest

from kling_gateway.upstream import TokenCache

START = 1_700_000_000.0
AK, SK = "ak_test", "sk_" + "s" * 32  # 32 bytes and more, as HS256 keys should be
ROTATED = "sk_" + "r" * 32


class FakeClock:
    """A clock that moves only when told to."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now


def claims(token: str, secret_key: str = SK) -> dict[str, Any]:
    """Check the signature and return the claims, whatever the real time is."""
    decoded: dict[str, Any] = jwt.decode(
        token, secret_key, algorithms=["HS256"], options={"verify_exp": False, "verify_nbf": False}
    )
    return decoded


def test_a_token_carries_the_official_claims_and_header() -> None:
    token = TokenCache(clock=FakeClock()).token(AK, SK)
    assert claims(token) == {"iss": AK, "exp": int(START) + 1800, "nbf": int(START) - 5}
    assert jwt.get_unverified_header(token) == {"alg": "HS256", "typ": "JWT"}


def test_a_token_is_reused_until_fewer_than_the_margin_remain() -> None:
    clock = FakeClock()
    tokens = TokenCache(ttl_s=1800, refresh_margin_s=300, clock=clock)
    first = tokens.token(AK, SK)
    clock.now = START + 1500  # exactly 300 s left: still good enough
    assert tokens.token(AK, SK) == first
    clock.now = START + 1500.5
    renewed = tokens.token(AK, SK)
    assert renewed != first
    assert claims(renewed)["exp"] == int(clock.now) + 1800
    assert tokens.token(AK, SK) == renewed


def test_each_key_pair_has_its_own_token() -> None:
    tokens = TokenCache(clock=FakeClock())
    mine = tokens.token(AK, SK)
    theirs = tokens.token("ak_other", SK)
    rotated = tokens.token(AK, ROTATED)
    assert len({mine, theirs, rotated}) == 3
    assert claims(theirs)["iss"] == "ak_other"
    assert claims(rotated, ROTATED)["iss"] == AK
    assert tokens.token(AK, SK) == mine


def test_a_forgotten_token_is_signed_again() -> None:
    clock = FakeClock()
    tokens = TokenCache(clock=clock)
    first = tokens.token(AK, SK)
    clock.now += 1  # a new token differs from the old one only by its times
    tokens.forget(AK, SK)
    tokens.forget("ak_never_seen", SK)
    assert tokens.token(AK, SK) != first


@pytest.mark.parametrize(("ttl_s", "refresh_margin_s"), [(0, 0), (300, 300), (1800, -1)])
def test_a_margin_that_would_re_sign_every_time_is_refused(ttl_s: int, refresh_margin_s: int) -> None:
    with pytest.raises(ValueError, match="refresh_margin_s"):
        TokenCache(ttl_s=ttl_s, refresh_margin_s=refresh_margin_s)
