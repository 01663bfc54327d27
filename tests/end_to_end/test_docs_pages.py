"""`/docs` and `/redoc` work with no internet: every script, style and icon they load is the gateway's own."""

from __future__ import annotations

import re

import pytest

from tests.gateway import RunningGateway

# Where a page says to load something from: attributes, and the document Swagger UI is told to read.
REFERENCES = re.compile(r"""(?:src|href|spec-url)="([^"]*)"|url: '([^']*)'""")
CONTENT_TYPES = {".js": "javascript", ".css": "text/css", ".png": "image/png", ".json": "application/json"}


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_a_docs_page_loads_only_the_gateways_own_urls_and_each_answers(gateway: RunningGateway, page: str) -> None:
    with gateway.http() as client:
        answer = client.get(page)
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("text/html")
        assert "://" not in answer.text  # no CDN, no fonts from elsewhere, no validator badge
        loaded = [first or second for first, second in REFERENCES.findall(answer.text)]
        assert {"/openapi.json"} < set(loaded)
        for url in loaded:
            assert url.startswith("/")
            assert not url.startswith("//")
            asset = client.get(url)
            assert asset.status_code == 200, url
            assert CONTENT_TYPES[url[url.rindex(".") :]] in asset.headers["content-type"]
            assert len(asset.content) > 1000
