"""Log lines keep no secret a URL carries: an upstream callback's token, a URL's credentials, a secret parameter."""

from __future__ import annotations

import logging

from kling_gateway.redaction import RedactSecrets, redact
from kling_gateway.upstream.callbacks import callback_token, callback_url

PLATFORM_ID = "video_01JCHARGE0000000000000000"


def test_the_token_of_a_callback_url_is_redacted_and_the_task_still_named() -> None:
    token = callback_token("channel-secret", PLATFORM_ID)
    url = callback_url("https://gw.example.com", "channel-secret", PLATFORM_ID)
    line = f'127.0.0.1:5000 - "POST {url.removeprefix("https://gw.example.com")} HTTP/1.1" 401'
    assert redact(line) == f'127.0.0.1:5000 - "POST /upstream/callbacks/{PLATFORM_ID}/[redacted] HTTP/1.1" 401'
    assert token not in redact(url)


def test_credentials_and_secret_parameters_of_a_url_are_redacted() -> None:
    text = "POST https://bob:hunter2@hooks.example.com/k?order=7&access_token=abc123&X-Amz-Signature=f00 failed"
    assert redact(text) == (
        "POST https://[redacted]@hooks.example.com/k?order=7&access_token=[redacted]&X-Amz-Signature=[redacted] failed"
    )


def test_a_line_without_secrets_is_left_as_it_is() -> None:
    line = '127.0.0.1:5000 - "GET /kling/v1/videos/text2video?pageNum=1&pageSize=30 HTTP/1.1" 200'
    assert redact(line) == line


def test_the_filter_redacts_a_records_arguments_whatever_their_type() -> None:
    class Url:
        def __str__(self) -> str:
            return f"http://gw/upstream/callbacks/{PLATFORM_ID}/0123456789abcdef"

    record = logging.LogRecord("httpx", logging.INFO, __file__, 1, "HTTP Request: %s %s %d", ("POST", Url(), 200), None)
    assert RedactSecrets().filter(record)
    assert record.getMessage() == f"HTTP Request: POST http://gw/upstream/callbacks/{PLATFORM_ID}/[redacted] 200"
