"""Upstream callbacks signed the Standard Webhooks way: the official test vector, the time window, bad headers."""

from __future__ import annotations

import pytest

from kling_gateway.channels.admin import check_webhook_secret
from kling_gateway.errors import InvalidRequest, Unauthenticated
from kling_gateway.upstream.callbacks import SIGNATURE_TOLERANCE_S, callback_token, token_matches, verify_signature

# The official test vector of the callback protocol.
SECRET = "whsec_dGVzdHNlY3JldHRlc3RzZWNyZXR0ZXN0c2VjcmV0MTI="
BODY = b'{"id":"1234567890","status":"succeeded","message":"","create_time":1781080778802,"update_time":1781080794151}'
SIGNED_AT = 1781080794
SIGNATURE = "v1,UsKlJP00XoQyOn410NM9xv34sP+Gl0jnOO9Lcpr7NJ4="
HEADERS = {"webhook-id": "9876543210", "webhook-timestamp": str(SIGNED_AT), "webhook-signature": SIGNATURE}
OTHER_SECRET = "whsec_b3RoZXJzZWNyZXRvdGhlcnNlY3JldG90aGVyc2VjcmV0"


def refusal(headers: dict[str, str], *, body: bytes = BODY, secret: str = SECRET, now_s: float = SIGNED_AT) -> str:
    with pytest.raises(Unauthenticated) as refused:
        verify_signature(secret, body, headers, now_s=now_s)
    assert refused.value.http_status == 401
    return refused.value.message


@pytest.mark.parametrize("skew_s", [0, SIGNATURE_TOLERANCE_S, -SIGNATURE_TOLERANCE_S, 12.5])
def test_the_official_test_vector_verifies_within_five_minutes(skew_s: float) -> None:
    verify_signature(SECRET, BODY, HEADERS, now_s=SIGNED_AT + skew_s)


def test_one_matching_signature_among_several_is_enough_during_a_rotation() -> None:
    rotating = HEADERS | {"webhook-signature": f"v1,c3RhbGVzaWduYXR1cmU= {SIGNATURE} v2,bm90aGluZw=="}
    verify_signature(SECRET, BODY, rotating, now_s=SIGNED_AT)


@pytest.mark.parametrize("skew_s", [SIGNATURE_TOLERANCE_S + 1, -SIGNATURE_TOLERANCE_S - 1, -86_400])
def test_a_callback_signed_more_than_five_minutes_away_is_refused(skew_s: int) -> None:
    assert "is more than 5 minutes from the gateway's clock" in refusal(HEADERS, now_s=SIGNED_AT - skew_s)


@pytest.mark.parametrize("missing", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_a_callback_without_a_signature_header_is_refused_naming_it(missing: str) -> None:
    headers = {name: value for name, value in HEADERS.items() if name != missing}
    message = refusal(headers)
    assert "not signed" in message
    assert missing in message


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"webhook-signature": "v1,AAAAUsKlJP00XoQyOn410NM9xv34sP+Gl0jnOO9Lcpr7NJ4="}, "no v1 signature that matches"),
        ({"webhook-signature": SIGNATURE.replace("v1,", "v2,")}, "no v1 signature that matches"),
        ({"webhook-signature": "garbage"}, "no v1 signature that matches"),
        ({"webhook-id": "9876543211"}, "no v1 signature that matches"),
        ({"webhook-timestamp": "1781080795"}, "no v1 signature that matches"),
        ({"webhook-timestamp": "1781080794.0"}, "whole seconds"),
        ({"webhook-timestamp": "-1781080794"}, "whole seconds"),
        ({"webhook-timestamp": "9" * 30}, "more than 5 minutes"),
    ],
)
def test_a_signature_that_does_not_cover_this_message_is_refused(change: dict[str, str], reason: str) -> None:
    assert reason in refusal(HEADERS | change, now_s=SIGNED_AT)


def test_the_signature_covers_the_raw_body_and_the_secret() -> None:
    reformatted = BODY.replace(b'"message":""', b'"message": ""')
    assert "no v1 signature that matches" in refusal(HEADERS, body=reformatted)
    assert "no v1 signature that matches" in refusal(HEADERS, secret=OTHER_SECRET)
    assert "not UTF-8" in refusal(HEADERS, body=b"\xff" + BODY)


def test_a_refusal_never_repeats_the_secret() -> None:
    messages = [refusal(HEADERS, secret=OTHER_SECRET), refusal({}), refusal(HEADERS, now_s=0)]
    for message in messages:
        assert SECRET not in message
        assert OTHER_SECRET not in message
        assert SECRET.removeprefix("whsec_") not in message


@pytest.mark.parametrize(
    ("secret", "reason"),
    [
        ("dGVzdHNlY3JldA==", "does not start with whsec_"),
        ("whsec_not base64!", "is not Base64"),
        ("whsec_c2VjcmV0cw", "is not Base64"),  # unpadded
        ("whsec_", "is empty"),
        ("whsec_" + "A" * 252, "longer than 255"),
    ],
)
def test_a_webhook_secret_must_be_whsec_and_base64(secret: str, reason: str) -> None:
    with pytest.raises(InvalidRequest) as refused:
        check_webhook_secret(secret)
    assert reason in refused.value.message
    assert "whsec_ followed by Base64" in refused.value.message
    hidden = secret.removeprefix("whsec_")
    assert not hidden or hidden not in refused.value.message


def test_the_official_secret_is_a_valid_webhook_secret() -> None:
    check_webhook_secret(SECRET)


def test_a_path_token_matches_only_its_own_channel_and_task() -> None:
    token = callback_token("sk-channel", "video_1")
    assert token_matches("sk-channel", "video_1", token)
    assert not token_matches("sk-other", "video_1", token)
    assert not token_matches("sk-channel", "video_2", token)
    assert not token_matches("sk-channel", "video_1", token[:-1])
    assert not token_matches("sk-channel", "video_1", "é" * 32)  # not ASCII: refused, not a TypeError
