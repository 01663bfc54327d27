"""Tell which addresses the gateway must never reach on a user's behalf, and why.

A user names URLs the gateway then calls (a `callback_url`) or has the upstream name them (a result file): one on
loopback, a private or link-local range, or a cloud metadata address would let any key holder make the gateway
reach what only it can reach. An IPv6 address that carries an IPv4 one (IPv4-mapped or -compatible, 6to4, NAT64)
reaches that IPv4 address, so it is judged by it too.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Awaitable[list[Address]]]  # host and port → the addresses a connection may use

METADATA_HOSTS = frozenset({"metadata.google.internal", "metadata.goog", "metadata"})
# RFC 6052's well-known NAT64 prefix: the last 32 bits are the IPv4 address a translator connects to.
NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
# RFC 8215's local-use NAT64 prefix: it translates into a network of the operator's own, never a public one.
LOCAL_NAT64 = ipaddress.IPv6Network("64:ff9b:1::/48")
# IPv4-compatible addresses (RFC 4291, deprecated): the last 32 bits are an IPv4 address some stacks still reach.
IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")


def refusal(address: Address) -> str | None:
    """Say what kind of address the gateway must not reach this is ("a loopback address"), or None for a
    public one."""
    if isinstance(address, ipaddress.IPv6Address) and (inner := embedded_ipv4(address)) is not None:
        kind = _kind(inner)
        if kind is not None:
            return f"a {kind} address: it carries {inner} ({_carrier(address)})"
    own = _kind(address)
    return None if own is None else f"a {own} address"


def embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one reaches through mapping, compatibility, 6to4 or NAT64; None if it carries
    none."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in NAT64 or (address in IPV4_COMPATIBLE and int(address) > 1):  # :: and ::1 carry none
        return ipaddress.IPv4Address(int(address) & 0xFFFF_FFFF)
    return None


async def system_resolver(host: str, port: int) -> list[Address]:
    """Resolve a host name as a connection would, to the address families this machine has configured."""
    found = await asyncio.get_running_loop().getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_ADDRCONFIG
    )
    return [ipaddress.ip_address(str(info[4][0]).partition("%")[0]) for info in found]


# The kinds of address never reached, first match named: each a test of the address and how it is called.
KINDS: tuple[tuple[Callable[[Address], bool], str], ...] = (
    (lambda address: address.is_unspecified, "unspecified (this host)"),
    (lambda address: address.is_loopback, "loopback"),
    (lambda address: address.is_link_local, "link-local (cloud metadata lives here)"),
    (lambda address: address.is_multicast, "multicast"),
    (lambda address: address.is_private, "private"),
    (lambda address: not address.is_global or address in LOCAL_NAT64, "non-public"),
)


def _kind(address: Address) -> str | None:
    return next((name for test, name in KINDS if test(address)), None)


def _carrier(address: ipaddress.IPv6Address) -> str:
    if address.ipv4_mapped is not None:
        return "IPv4-mapped"
    if address.sixtofour is not None:
        return "6to4"
    return "NAT64" if address in NAT64 else "IPv4-compatible"
