"""Refuse a client's `callback_url` that points inside the network the gateway runs in.

The gateway, not the upstream, will call a client's URL, so a URL on loopback, a private or link-local range, or
a cloud metadata address (an IPv6 address carrying such an IPv4 one included) would let any key holder make the
gateway reach what only it can reach. A host name is resolved at submit and refused if any of its addresses is
such an address; at each delivery it is checked again, and the delivery connects to the address just checked. An
operator whose clients really listen on a private network allows it with `KLING_GATEWAY_ALLOW_PRIVATE_CALLBACKS=true`.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx

from kling_gateway.egress.addresses import Resolver, system_resolver
from kling_gateway.egress.destinations import Destination, Refused, checked
from kling_gateway.errors import InvalidRequest

PARAM = "callback_url"
TARGET_CHARS = 255  # the width of client_callbacks.target; a DNS name is at most 253


def callback_target(url: str) -> str:
    """Name the receiver a callback URL points at, its host: what deliveries under way at once are bounded by."""
    try:
        host = urlsplit(url).hostname or ""
    except ValueError:  # checked at submit, so not expected; the move that queues the callback must not fail on it
        host = ""
    return host.rstrip(".")[:TARGET_CHARS]


async def check_callback_target(
    url: str, *, allow_private: bool, pin: bool = True, resolver: Resolver = system_resolver
) -> Destination:
    """Return where to deliver a callback (the address checked, unless `pin` is off); raise InvalidRequest if the
    URL's host is, or resolves to, an address the gateway must not call."""
    if allow_private:
        return Destination(httpx.URL(url))
    try:
        return await checked(url, pin=pin, resolver=resolver)
    except Refused as refused:
        raise InvalidRequest(
            f"{PARAM}: {url!r} is refused because {refused}; callbacks go only to public addresses "
            "(an operator can allow private ones with KLING_GATEWAY_ALLOW_PRIVATE_CALLBACKS=true)",
            param=PARAM,
        ) from None
