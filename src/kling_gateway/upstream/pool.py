"""The one connection pool every upstream call of a process goes through."""

from __future__ import annotations

import httpx

from kling_gateway.settings import SyncConfig

MAX_CONNECTIONS = 200
MAX_KEEPALIVE = 50
CONNECT_TIMEOUT_S = 5.0


def upstream_http(config: SyncConfig) -> httpx.AsyncClient:
    """Open a pool with the configured timeout for a whole request and a short one for connecting."""
    timeout = httpx.Timeout(config.upstream_timeout_s, connect=min(CONNECT_TIMEOUT_S, config.upstream_timeout_s))
    limits = httpx.Limits(max_connections=MAX_CONNECTIONS, max_keepalive_connections=MAX_KEEPALIVE)
    return httpx.AsyncClient(timeout=timeout, limits=limits)
