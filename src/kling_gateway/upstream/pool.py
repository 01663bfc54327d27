"""The connection pool every upstream API call of a process goes through (result downloads and client callbacks
have pools of their own, `egress.clients`)."""

from __future__ import annotations

import httpx

from kling_gateway.settings import SyncConfig
from kling_gateway.tls import verified_context

MAX_KEEPALIVE = 50
CONNECT_TIMEOUT_S = 5.0


def upstream_http(config: SyncConfig) -> httpx.AsyncClient:
    """Open a pool of the configured size, with the configured timeout for a whole request and a short one for
    connecting."""
    timeout = httpx.Timeout(config.upstream_timeout_s, connect=min(CONNECT_TIMEOUT_S, config.upstream_timeout_s))
    limits = httpx.Limits(
        max_connections=config.upstream_connections,
        max_keepalive_connections=min(MAX_KEEPALIVE, config.upstream_connections),
    )
    return httpx.AsyncClient(timeout=timeout, limits=limits, verify=verified_context())
