"""The HTTP clients of requests made on a user's behalf, each a pool of its own with its own bounds.

Neither takes a proxy from the environment (`HTTP(S)_PROXY`): a proxy would resolve and connect by itself, past
the address check; only a proxy the operator names for it is used. Neither keeps idle connections: a pinned
connection is keyed by the address, and one opened (and verified over TLS) for one name must not carry a request
for another name on the same address.
"""

from __future__ import annotations

import httpx

from kling_gateway.settings import DownloadConfig, SyncConfig
from kling_gateway.tls import verified_context


def downloads_http(config: DownloadConfig, *, transport: httpx.AsyncBaseTransport | None = None) -> httpx.AsyncClient:
    """Open the pool result files are fetched through: `at_once` connections, connect and read timeouts and no
    bound on a whole file (the stream bounds that)."""
    # The downloads gate admits at most `at_once` downloads, so a connection is always free: no wait for one.
    timeout = httpx.Timeout(
        connect=config.connect_timeout_s,
        read=config.read_timeout_s,
        write=config.read_timeout_s,
        pool=config.connect_timeout_s,
    )
    limits = httpx.Limits(max_connections=config.at_once, max_keepalive_connections=0)
    proxy = None if config.proxy is None else str(config.proxy)
    return httpx.AsyncClient(
        timeout=timeout, limits=limits, proxy=proxy, transport=transport, trust_env=False, verify=verified_context()
    )


def callbacks_http(config: SyncConfig, *, transport: httpx.AsyncBaseTransport | None = None) -> httpx.AsyncClient:
    """Open the pool client callbacks are delivered through, each delivery within the callback timeout, with a
    connection for each delivery the worker has under way."""
    limits = httpx.Limits(max_connections=config.callback_concurrency, max_keepalive_connections=0)
    proxy = None if config.callback_proxy is None else str(config.callback_proxy)
    return httpx.AsyncClient(
        timeout=config.callback_timeout_s,
        limits=limits,
        proxy=proxy,
        transport=transport,
        trust_env=False,
        verify=verified_context(),
    )
