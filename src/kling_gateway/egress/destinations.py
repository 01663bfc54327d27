"""Check a URL the gateway is to call on a user's behalf, and connect to the address checked, not to a fresh
answer of the name server.

A host name is resolved once, every address it resolves to must be public, and the request then goes to the
first of them, with the name kept in the `Host` header and in TLS (SNI and the certificate check): a name that
resolves to a public address at the check and to a private one a moment later (DNS rebinding) reaches only the
public one. Origins the operator trusts (a channel's own base URL, which may well be private) are reached as they
are.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

import httpx

from kling_gateway.egress.addresses import METADATA_HOSTS, Address, Resolver, refusal, system_resolver

SCHEMES = {"http": 80, "https": 443}


class Refused(Exception):
    """The gateway will not call this URL; the message says why, naming the host and its address."""


@dataclass(frozen=True)
class Destination:
    """A URL to call and, when its host was checked, the address that was checked: the one to connect to."""

    url: httpx.URL
    address: Address | None = None

    def request(self, http: httpx.AsyncClient, method: str, **options: Any) -> httpx.Request:
        """Build a request to the destination that connects to the checked address, naming the host in its
        `Host` header and, over TLS, in SNI and the certificate check."""
        request = http.build_request(method, self.url, **options)  # Host is set here, from the name
        if self.address is not None:
            request.url = request.url.copy_with(host=str(self.address))
            if self.url.scheme == "https":
                request.extensions = {**request.extensions, "sni_hostname": self.url.raw_host.decode("ascii")}
        return request


def origin_of(url: str | httpx.URL) -> str:
    """Name a URL's origin as `scheme://host:port`, the port always written, in lower case."""
    parsed = httpx.URL(url)
    port = parsed.port or SCHEMES.get(parsed.scheme, 0)
    host = parsed.raw_host.decode("ascii").rstrip(".").lower()
    return f"{parsed.scheme}://{f'[{host}]' if ':' in host else host}:{port}"


async def checked(
    url: str,
    *,
    trusted: Collection[str] = (),
    pin: bool = True,
    resolver: Resolver = system_resolver,
) -> Destination:
    """Check that a URL's host is, and resolves only to, addresses the gateway may reach, and return where to
    connect (the address checked, unless `pin` is off because a proxy connects); an origin among `trusted`
    (`origin_of` form) is returned unchecked. Raise Refused saying why not."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as error:
        raise Refused(f"it is not a URL ({error})") from None
    if parsed.scheme not in SCHEMES or not parsed.raw_host:
        raise Refused("only http and https URLs with a host are called")
    if origin_of(parsed) in trusted:
        return Destination(parsed)
    host = parsed.raw_host.decode("ascii").rstrip(".").lower()
    if host in METADATA_HOSTS:
        raise Refused(f"{host} is a cloud metadata service")
    literal, addresses = await _addresses(host, parsed.port or SCHEMES[parsed.scheme], resolver)
    for address in addresses:
        why = refusal(address)
        if why is not None:
            where = host if literal else f"{host} resolves to {address}, which"
            raise Refused(f"{where} is {why}")
    return Destination(parsed, addresses[0] if pin else None)


async def _addresses(host: str, port: int, resolver: Resolver) -> tuple[bool, list[Address]]:
    """The addresses a host is or resolves to, and whether it was an address itself."""
    try:
        return True, [ipaddress.ip_address(host)]
    except ValueError:
        pass
    try:
        found = await resolver(host, port)
    except OSError:
        found = []
    if not found:
        raise Refused(f"the host {host!r} does not resolve")
    return False, found
