"""One document into model objects: the parts with a shortcut of their own."""

from __future__ import annotations

import ipaddress

from hypothesis import given
from hypothesis import strategies as st

from clusterdns.source.objects import Doc, _ip

octets = st.integers(0, 300).map(str) | st.sampled_from(["00", "01", "010", "-1", "", " 1",
                                                         "١", "1a"])


@given(parts=st.lists(octets, min_size=3, max_size=5), family=st.sampled_from([None, 4, 6]))
def test_an_address_reads_as_ipaddress_reads_it(parts: list[str], family: int | None) -> None:
    """Canonical dotted quads skip `ipaddress`; everything must come out as if they had not."""
    text = ".".join(parts)
    doc = Doc("f.yaml", 1, [], [], "default")
    try:
        address = ipaddress.ip_address(text)
        expected = str(address) if family in (None, address.version) else None
    except ValueError:
        expected = None
    assert _ip(doc, text, "spec.clusterIP", family) == expected
    assert bool(doc.errors) == (expected is None)
