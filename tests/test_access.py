"""Who may recurse, and the start-up warning when clusterdns listens beyond loopback."""

from __future__ import annotations

import pytest

from clusterdns.serve.access import DEFAULT_RECURSION_CLIENTS, ClientRanges, exposure_warning

DEFAULT = ClientRanges.parse(DEFAULT_RECURSION_CLIENTS)


@pytest.mark.parametrize("address", [
    "127.0.0.1", "127.1.2.3", "::1", "10.1.2.3", "172.17.0.2", "192.168.1.10", "100.100.0.1",
    "fd00::5", "fe80::1%eth0", "::ffff:10.0.0.1",
])
def test_default_ranges_allow_loopback_and_private_clients(address: str) -> None:
    assert DEFAULT.allows(address)


@pytest.mark.parametrize("address", ["8.8.8.8", "172.32.0.1", "2001:db8::1", "not-an-ip"])
def test_default_ranges_refuse_public_clients(address: str) -> None:
    assert not DEFAULT.allows(address)


def test_given_ranges_replace_the_default() -> None:
    ranges = ClientRanges.parse(["127.0.0.1/32", "203.0.113.0/24"])
    assert ranges.allows("127.0.0.1") and ranges.allows("203.0.113.9")
    assert not ranges.allows("127.0.0.2") and not ranges.allows("10.0.0.1")


def test_a_bad_range_is_named() -> None:
    with pytest.raises(ValueError, match=r"'10\.0\.0\.0/33' is not an address range"):
        ClientRanges.parse(["10.0.0.0/33"])


def test_loopback_listen_needs_no_warning() -> None:
    assert exposure_warning([("127.0.0.1", 53), ("::1", 53)], DEFAULT, True) is None


def test_non_loopback_listen_warns_and_says_who_may_recurse() -> None:
    warning = exposure_warning([("127.0.0.1", 53), ("0.0.0.0", 53)],
                               ClientRanges.parse(["10.0.0.0/8"]), True)
    assert warning is not None
    assert "non-loopback address 0.0.0.0" in warning
    assert "only for 10.0.0.0/8" in warning and "REFUSED" in warning


def test_warning_without_forwarding_says_outside_names_are_refused() -> None:
    warning = exposure_warning([("172.17.0.1", 53)], DEFAULT, False)
    assert warning is not None and "forwarding is off" in warning
