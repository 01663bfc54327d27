"""Which addresses the gateway never reaches on a user's behalf: an IPv6 address that carries an IPv4 one (mapped,
compatible, 6to4, NAT64) is judged by that IPv4 address too."""

from __future__ import annotations

import ipaddress

import pytest

from kling_gateway.egress.addresses import refusal
from kling_gateway.egress.destinations import origin_of

REFUSED = {
    "127.0.0.1": "a loopback address",
    "10.1.2.3": "a private address",
    "169.254.169.254": "a link-local (cloud metadata lives here) address",
    "100.64.0.1": "a non-public address",
    "::1": "a loopback address",
    "fd00::1": "a private address",
    "64:ff9b::a00:1": "a private address: it carries 10.0.0.1 (NAT64)",
    "64:ff9b::7f00:1": "a loopback address: it carries 127.0.0.1 (NAT64)",
    "64:ff9b::a9fe:a9fe": "a link-local (cloud metadata lives here) address: it carries 169.254.169.254 (NAT64)",
    "64:ff9b:1::a00:1": "a non-public address",  # the local-use NAT64 prefix leads into a network of one's own
    "2002:c0a8:101::1": "a private address: it carries 192.168.1.1 (6to4)",
    "2002:7f00:1::": "a loopback address: it carries 127.0.0.1 (6to4)",
    "::ffff:127.0.0.1": "a loopback address: it carries 127.0.0.1 (IPv4-mapped)",
    "::a00:1": "a private address: it carries 10.0.0.1 (IPv4-compatible)",
}
PUBLIC = ("93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946", "64:ff9b::5db8:d822", "2002:5db8:d822::1")


@pytest.mark.parametrize(("address", "why"), REFUSED.items())
def test_addresses_inside_or_leading_inside_are_refused_saying_why(address: str, why: str) -> None:
    assert refusal(ipaddress.ip_address(address)) == why


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_pass_whatever_form_they_take(address: str) -> None:
    assert refusal(ipaddress.ip_address(address)) is None


def test_an_origin_is_named_with_its_port_in_lower_case() -> None:
    assert origin_of("https://Kling.Example.COM/v1/x?y=1") == "https://kling.example.com:443"
    assert origin_of("http://127.0.0.1:8001/") == "http://127.0.0.1:8001"
    assert origin_of("http://[::1]:9/cb") == "http://[::1]:9"
