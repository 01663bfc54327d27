"""The HTTP client of requests made on a user's behalf, a pool of its own with its own bounds.

It takes no proxy from the environment (`HTTP(S)_PROXY`): a proxy would resolve and connect by itself, past
the address check; only a proxy the operator names for it is used. It keeps no idle connections: a pinned
connection is keyed by the address, and one opened (and verified over TLS) for one name must not carry a request
for another name on the same address.
"""

from __future__ import annotations

import httpx

from kling_gateway.settings import SyncConfig


def callbacks_http(config: SyncConfig, *, transport: httpx.AsyncBaseTransport | None = None) -> httpx.AsyncClient:
    """Open the pool client callbacks are delivered through, each delivery within the callback timeout."""
    limits = httpx.Limits(max_keepalive_connections=0)
    proxy = None if config.callback_proxy is None else str(config.callback_proxy)
    return httpx.AsyncClient(
        timeout=config.callback_timeout_s, limits=limits, proxy=proxy, transport=transport, trust_env=False
    )
