"""Refuse a client's `callback_url` that points inside the network the gateway runs in.

The gateway, not the upstream, will call a client's URL, so a URL on loopback, a private or link-local range, or
a cloud metadata address would let any key holder make the gateway reach what only it can reach. A host name is
resolved at submit and refused if any of its addresses is such an address. An operator whose clients really
listen on a private network allows it with `KLING_GATEWAY_ALLOW_PRIVATE_CALLBACKS=true`.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

from kling_gateway.errors import InvalidRequest

METADATA_HOSTS = frozenset({"metadata.google.internal", "metadata.goog", "metadata"})
PARAM = "callback_url"
TARGET_CHARS = 255  # the width of client_callbacks.target; a DNS name is at most 253


def callback_target(url: str) -> str:
    """Name the receiver a callback URL points at, its host: what deliveries under way at once are bounded by."""
    try:
        host = urlsplit(url).hostname or ""
    except ValueError:  # checked at submit, so not expected; the move that queues the callback must not fail on it
        host = ""
    return host.rstrip(".")[:TARGET_CHARS]


async def check_callback_target(url: str, *, allow_private: bool) -> None:
    """Raise InvalidRequest if the URL's host is, or resolves to, an address the gateway must not call."""
    if allow_private:
        return
    parts = urlsplit(url)
    host = (parts.hostname or "").rstrip(".").lower()
    if host in METADATA_HOSTS:
        raise _refused(url, f"{host} is a cloud metadata service")
    for address in await _addresses(host, parts.port or (443 if parts.scheme == "https" else 80)):
        if not address.is_global or address.is_multicast:
            where = host if host == str(address) else f"{host} resolves to {address}, which"
            raise _refused(url, f"{where} is a {_kind(address)} address")


async def _addresses(host: str, port: int) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    try:
        found = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError:
        raise InvalidRequest(
            f"{PARAM}: the host {host!r} does not resolve; give a URL the gateway can reach", param=PARAM
        ) from None
    return [ipaddress.ip_address(str(info[4][0]).partition("%")[0]) for info in found]


def _kind(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    if address.is_unspecified:
        return "unspecified (this host)"
    if address.is_loopback:
        return "loopback"
    if address.is_link_local:
        return "link-local (cloud metadata lives here)"
    if address.is_private:
        return "private"
    return "non-public"


def _refused(url: str, why: str) -> InvalidRequest:
    return InvalidRequest(
        f"{PARAM}: {url!r} is refused because {why}; callbacks go only to public addresses "
        "(an operator can allow private ones with KLING_GATEWAY_ALLOW_PRIVATE_CALLBACKS=true)",
        param=PARAM,
    )
