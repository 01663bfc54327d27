"""The TLS settings every outgoing HTTPS connection of a process is verified with."""

from __future__ import annotations

import functools
import ssl

import httpx


@functools.cache
def verified_context() -> ssl.SSLContext:
    """Build the process's one verifying TLS context (certifi's roots, or `SSL_CERT_FILE`/`SSL_CERT_DIR`).

    Loading the roots takes tens of milliseconds; each HTTP client built its own, so a gateway paid it once per
    pool. A context is safe to share between clients and threads.
    """
    return httpx.create_ssl_context()
