"""Which addresses the shop's events may be sent to, as checked at connect time."""

from __future__ import annotations

from ipaddress import ip_address

import pytest

from payments.merchant_events.transport import allowed

ALWAYS_REFUSED = [
    "169.254.169.254",  # cloud metadata (link-local)
    "169.254.1.1",
    "fe80::1",
    "fd00:ec2::254",  # AWS's metadata over IPv6
    "::ffff:169.254.169.254",  # IPv4-mapped
    "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
    "224.0.0.1",  # multicast (Python counts it as global)
    "ff02::1",
    "0.0.0.0",  # noqa: S104 (an address refused, not one bound to)
    "::",
    "240.0.0.1",  # reserved
    "255.255.255.255",
    "100.100.100.200",  # shared address space (a cloud's metadata too)
]
PRIVATE = ["127.0.0.1", "::1", "::ffff:127.0.0.1", "10.1.2.3", "192.168.1.10", "fd12::1"]
PUBLIC = ["8.8.8.8", "2606:4700:4700::1111", "64:ff9b::808:808"]


@pytest.mark.parametrize("address", ALWAYS_REFUSED)
@pytest.mark.parametrize("allow_private", [False, True])
def test_never_allowed(address: str, allow_private: bool) -> None:
    """Link-local, metadata, multicast, unspecified and reserved: refused whatever the setting."""
    assert not allowed(ip_address(address), allow_private=allow_private)


@pytest.mark.parametrize("address", PRIVATE)
def test_private_and_loopback_only_when_allowed(address: str) -> None:
    """Private and loopback addresses only with MERCHANT_WEBHOOKS_ALLOW_PRIVATE."""
    assert not allowed(ip_address(address), allow_private=False)
    assert allowed(ip_address(address), allow_private=True)


@pytest.mark.parametrize("address", PUBLIC)
def test_public_always_allowed(address: str) -> None:
    """A globally reachable address is allowed with or without the setting."""
    assert allowed(ip_address(address), allow_private=False)
    assert allowed(ip_address(address), allow_private=True)
