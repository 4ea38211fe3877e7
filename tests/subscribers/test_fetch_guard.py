"""The SSRF guard decides an IPv6 address that carries an IPv4 one by that IPv4 address, and
never lets through IPv6 ranges that lead inside (site-local, local-use NAT64, Teredo)."""

import pytest

from subscribers.fetch import forbidden_address


@pytest.mark.parametrize(
    "address",
    [
        "10.0.0.1", "127.0.0.1", "169.254.169.254", "192.168.1.1", "::1", "fe80::1%eth0", "fc00::1",
        "::ffff:192.168.1.1",  # IPv4-mapped
        "::ffff:7f00:1",  # the same, written in hex: 127.0.0.1
        "::ffff:0:a00:1",  # IPv4-translated (RFC 2765): 10.0.0.1
        "::192.168.1.1",  # IPv4-compatible (deprecated)
        "2002:c0a8:0101::1",  # 6to4 of 192.168.1.1
        "2002:7f00:0001::1",  # 6to4 of 127.0.0.1
        "2002:a9fe:a9fe::1",  # 6to4 of 169.254.169.254 (cloud metadata)
        "64:ff9b::c0a8:101",  # NAT64 of 192.168.1.1
        "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
        "64:ff9b:1::808:808",  # local-use NAT64 (RFC 8215): inside by definition
        "fec0::1",  # site-local (deprecated)
        "2001:0:4136:e378:8000:63bf:3fff:fdd2",  # Teredo
    ],
)  # fmt: skip
def test_private_addresses_in_every_form_are_refused(address):
    assert forbidden_address(address)


@pytest.mark.parametrize(
    "address",
    [
        "8.8.8.8", "2606:4700:4700::1111",
        "::ffff:8.8.8.8",  # IPv4-mapped public
        "2002:0808:0808::1",  # 6to4 of 8.8.8.8
        "64:ff9b::808:808",  # NAT64 of 8.8.8.8
    ],
)  # fmt: skip
def test_public_addresses_in_every_form_are_allowed(address):
    assert not forbidden_address(address)
