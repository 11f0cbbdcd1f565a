"""The key a limit counts a peer by: an IPv4 address, or an IPv6 /64."""

from __future__ import annotations

import pytest

from smartbook_tui.sip.source import source_key


@pytest.mark.parametrize(
    ("host", "key"),
    [
        ("192.0.2.7", "192.0.2.7"),
        ("::ffff:192.0.2.7", "192.0.2.7"),
        ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
        ("[2001:db8:1:2:ffff:ffff:ffff:ffff]", "2001:db8:1:2::/64"),
        ("fe80::1%eth0", "fe80::/64"),
        ("not an address", "not an address"),
    ],
)
def test_one_host_is_one_key_whatever_its_port_or_its_place_in_a_slash_64(host, key):
    assert source_key(host) == key


def test_two_networks_are_two_keys():
    assert source_key("2001:db8:1:2::1") != source_key("2001:db8:1:3::1")
    assert source_key("192.0.2.7") != source_key("192.0.2.8")
