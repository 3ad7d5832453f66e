"""Wire names: every compression rule, and text that maps back to the same bytes."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clusterdns.serve import names
from clusterdns.zone.records import fqdn

HEADER = bytes(12)


def test_plain_name_and_where_it_ends() -> None:
    data = HEADER + b"\x03www\x07example\x00rest"
    assert names.read(data, 12) == (b"\x03www\x07example\x00", 25)


def test_pointer_back_is_followed_and_the_name_ends_after_it() -> None:
    data = HEADER + b"\x07example\x00" + b"\x03www\xc0\x0c"
    assert names.read(data, 21) == (b"\x03www\x07example\x00", 27)


@pytest.mark.parametrize(("label", "data", "offset"), [
    ("pointer to itself", HEADER + b"\xc0\x0c", 12),
    ("pointer forwards", HEADER + b"\xc0\x0e\x00", 12),
    ("pointer into the header", HEADER + b"\x03www\xc0\x04", 12),
    ("pointer into its own labels", HEADER + b"\x03www\xc0\x0c", 12),
    ("reserved label type 01", HEADER + b"\x41", 12),
    ("reserved label type 10", HEADER + b"\x81", 12),
    ("no end", HEADER + b"\x03www", 12),
    ("label past the end", HEADER + b"\x09www", 12),
    ("half a pointer", HEADER + b"\xc0", 12),
    ("over 255 octets", HEADER + (b"\x3f" + b"x" * 63) * 4 + b"\x00", 12),
])
def test_bad_names(label: str, data: bytes, offset: int) -> None:
    with pytest.raises(names.BadName):
        names.read(data, offset)


def test_a_name_over_255_octets_made_of_pointers_is_refused() -> None:
    data = HEADER + b"\x3f" + b"x" * 63 + b"\x00"  # 65 octets at 12
    starts = [12]
    for _ in range(3):  # each: one more 63-octet label, then a pointer to the one before
        starts.append(len(data))
        data += b"\x3f" + b"y" * 63 + struct.pack("!H", 0xC000 | starts[-2])
    assert len(names.read(data, starts[2])[0]) == 193
    with pytest.raises(names.BadName, match="255"):
        names.read(data, starts[3])  # 257 octets


def test_a_long_chain_of_pointers_back_is_refused() -> None:
    data = HEADER + b"\x00"
    previous = 12
    for _ in range(200):  # each pointer points at the one before it
        here = len(data)
        data += struct.pack("!H", 0xC000 | previous)
        previous = here
    with pytest.raises(names.BadName, match="pointers"):
        names.read(data, previous)


labels = st.lists(st.binary(min_size=1, max_size=63), min_size=0, max_size=4)


@given(labels)
def test_text_maps_back_to_the_same_bytes(parts: list[bytes]) -> None:
    wire = b"".join(bytes([len(p)]) + p for p in parts) + b"\x00"
    text = names.to_text(wire)
    assert names.from_text(text) == wire
    assert names.from_text(fqdn(text)) == wire.lower()  # case folds as the wire does
    assert text.count(".") == len(parts) or (not parts and text == ".")


def test_a_dot_inside_a_label_never_reads_as_a_separator() -> None:
    wire = b"\x09x.cluster\x05local\x00"
    assert names.to_text(wire) == "x\\046cluster.local."
    assert not names.to_text(wire).endswith(".cluster.local.")


def test_from_text_reads_escapes_and_refuses_what_is_not_a_name() -> None:
    assert names.from_text("a\\.b.c.") == b"\x03a.b\x01c\x00"
    assert names.from_text("\\065.") == b"\x01A\x00"
    for bad in ("a..b.", "x" * 64 + ".", ("x" * 63 + ".") * 4 + "x.", "a\\"):
        with pytest.raises(names.BadName):
            names.from_text(bad)


def test_is_at_or_below_follows_label_boundaries() -> None:
    example = names.from_text("example.")
    assert names.is_at_or_below(names.from_text("www.example."), example)
    assert names.is_at_or_below(example, example)
    assert not names.is_at_or_below(names.from_text("badexample."), example)
    assert names.is_at_or_below(example, names.ROOT)
