"""Hostile and unusual packets over real UDP: each gets one reply or is dropped on purpose.

The reply's question must be the query's question byte for byte (resolvers that check it
drop anything else), and no packet may cost a traceback in the log.
"""

from __future__ import annotations

import socket
import struct
import time

import dns.message
import dns.rcode
import pytest

from tests.conftest import ServerProcess

HEADER = struct.Struct("!HHHHHH")
A_IN = b"\x00\x01\x00\x01"
ZONE = (b"cluster", b"local")


def wire_name(*labels: bytes) -> bytes:
    return b"".join(bytes([len(label)]) + label for label in labels) + b"\x00"


def query_packet(question: bytes, ident: int = 0x4242, arcount: int = 0,
                 tail: bytes = b"") -> bytes:
    return HEADER.pack(ident, 0x0100, 1, 0, 0, arcount) + question + tail


def exchange(server: ServerProcess, data: bytes, timeout: float = 1.0) -> list[bytes]:
    """Every datagram the server sends back for `data` within `timeout`."""
    replies = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        sock.sendto(data, (server.host, server.port))
        try:
            while True:
                replies.append(sock.recv(65535))
                sock.settimeout(0.1)  # a second reply would follow at once
        except TimeoutError:
            pass
    return replies


def rcode(reply: bytes) -> int:
    return reply[3] & 0xF


def assert_no_traceback(server: ServerProcess) -> None:
    assert "Traceback" not in server.log, server.log[-3000:]


def pointer_chain(hops: int) -> bytes:
    """A query with a record whose owner is a chain of `hops` pointers, each one back.

    The links sit in the RDATA of an earlier record, each pointing at the link before it;
    the first points at a zero byte of the header (the root). Every pointer points
    backwards, so a decoder that follows them one call deeper each time recurses `hops`
    levels before it finds the end.
    """
    question = wire_name(b"service1", b"default", b"svc", *ZONE) + A_IN
    start = 12 + len(question) + 11  # where the first record's RDATA begins
    links = [struct.pack("!H", 0xC000 | 4)]
    links += [struct.pack("!H", 0xC000 | (start + 2 * i)) for i in range(hops - 1)]
    rdata = b"".join(links)
    holder = b"\x00" + struct.pack("!HHIH", 65280, 1, 0, len(rdata)) + rdata
    chained = struct.pack("!H", 0xC000 | (start + 2 * (hops - 1))) + \
        struct.pack("!HHIH", 1, 1, 0, 4) + bytes(4)
    return query_packet(question, arcount=2, tail=holder + chained)


def test_pointer_chain_gets_formerr_at_once_without_a_traceback(
        example_server: ServerProcess) -> None:
    packet = pointer_chain(1000)
    assert len(packet) > 1900
    started = time.monotonic()
    replies = exchange(example_server, packet)
    assert len(replies) == 1 and rcode(replies[0]) == dns.rcode.FORMERR
    assert time.monotonic() - started < 0.5
    assert_no_traceback(example_server)


UNENCODABLE = {
    "label with a dot": (b"a.b", b"default", b"svc", *ZONE),
    "label with a backslash escape": (b"\\065", b"default", b"svc", *ZONE),
    "latin small e acute": ("é".encode(), b"default", b"svc", *ZONE),
    "invalid utf-8": (b"\xff\xfe", b"svc", *ZONE),
    "idna rejects": (b"xn--a", b"svc", *ZONE),
    "uppercase non-ascii": ("É".encode(), *ZONE),
    "254 octets": (b"a" * 63, b"b" * 63, b"c" * 63, b"d" * 42, b"svc", *ZONE),
    "255 octets": (b"a" * 63, b"b" * 63, b"c" * 63, b"d" * 43, b"svc", *ZONE),
    "outside the zone": ("é".encode(), b"example", b"org"),
    "dot label outside": (b"x.cluster", b"local"),
}


@pytest.mark.parametrize("labels", UNENCODABLE.values(), ids=UNENCODABLE.keys())
def test_names_dnslib_cannot_encode_get_one_reply_with_the_question_echoed(
        example_server: ServerProcess, labels: tuple[bytes, ...]) -> None:
    question = wire_name(*labels) + A_IN
    assert len(question) - 4 <= 255
    for arcount, tail in ((0, b""), (1, b"\x00\x00\x29\x04\xd0\x00\x00\x00\x00\x00\x00")):
        packet = query_packet(question, arcount=arcount, tail=tail)
        replies = exchange(example_server, packet)
        assert len(replies) == 1
        reply = replies[0]
        assert reply[:2] == packet[:2] and reply[4:6] == b"\x00\x01"
        assert reply[12:12 + len(question)] == question  # echoed byte for byte
        in_zone = labels[-2:] == ZONE
        # Not a name of the zone: NXDOMAIN inside it, and outside (forwarding is off)
        assert rcode(reply) == dns.rcode.NXDOMAIN
        parsed = dns.message.from_wire(reply)
        assert bool(parsed.authority) == in_zone and (parsed.edns >= 0) == bool(arcount)
    assert_no_traceback(example_server)


def test_reply_answers_echo_the_clients_exact_question(example_server: ServerProcess) -> None:
    question = wire_name(b"SeRvIcE1", b"default", b"svc", *ZONE) + A_IN
    reply = exchange(example_server, query_packet(question))[0]
    assert reply[12:12 + len(question)] == question
    parsed = dns.message.from_wire(reply)
    assert [r.to_text() for r in parsed.answer[0]] == ["10.101.105.246"]
    assert parsed.answer[0].name.to_wire() == wire_name(b"SeRvIcE1", b"default", b"svc", *ZONE)


OPT = b"\x00\x00\x29\x04\xd0\x00\x00\x00\x00\x00\x00"


def test_two_opt_records_are_formerr(example_server: ServerProcess) -> None:
    question = wire_name(b"service1", b"default", b"svc", *ZONE) + A_IN
    replies = exchange(example_server, query_packet(question, arcount=2, tail=OPT + OPT))
    assert len(replies) == 1 and rcode(replies[0]) == dns.rcode.FORMERR
    assert replies[0][12:12 + len(question)] in (question, b"")


@pytest.mark.parametrize("labels", [
    (b"x" * 60,) * 10,  # 611 octets: no legal name is longer than 255
    (b"x" * 63,) * 4,  # 257 octets
])
def test_formerr_for_a_name_too_long_fits_in_512_octets(
        example_server: ServerProcess, labels: tuple[bytes, ...]) -> None:
    packet = query_packet(wire_name(*labels) + A_IN)
    replies = exchange(example_server, packet)
    assert len(replies) == 1
    assert rcode(replies[0]) == dns.rcode.FORMERR and len(replies[0]) <= 512
    assert_no_traceback(example_server)
