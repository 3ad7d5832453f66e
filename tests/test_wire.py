"""Packing replies: EDNS0, truncation that keeps the question, error replies."""

from __future__ import annotations

import struct

import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
import dnslib
import pytest
from dnslib import EDNS0, QTYPE, RR, DNSRecord

from clusterdns.serve import wire
from clusterdns.zone.answer import Reply
from clusterdns.zone.records import CNAME, NOERROR, A, Record


def query_bytes(name: str = "big.default.svc.cluster.local", rdtype: str = "A",
                use_edns: int | bool = False, payload: int = 1232) -> bytes:
    message = dns.message.make_query(name, rdtype, use_edns=use_edns, payload=payload)
    message.id = 4242
    return message.to_wire()


def many(n: int, name: str = "big.default.svc.cluster.local.") -> Reply:
    records = tuple(Record(name, A, 5, f"10.0.{i // 256}.{i % 256}") for i in range(n))
    extra = (Record("x.default.svc.cluster.local.", A, 5, "10.9.9.9"),)
    return Reply(NOERROR, records, additional=extra)


def test_small_answer_is_not_truncated() -> None:
    query = wire.parse_query(query_bytes())
    out = dns.message.from_wire(wire.pack(query, many(3), query.udp_limit()))
    assert out.id == 4242 and not out.flags & dns.flags.TC
    assert len(out.answer[0]) == 3 and out.flags & dns.flags.AA


@pytest.mark.parametrize(("use_edns", "payload", "limit"),
                         [(False, 0, 512), (0, 4096, 1232), (0, 800, 800), (0, 100, 512)])
def test_udp_limit(use_edns: int | bool, payload: int, limit: int) -> None:
    assert wire.parse_query(query_bytes(use_edns=use_edns, payload=payload)).udp_limit() == limit


@pytest.mark.parametrize("use_edns", [False, 0])
def test_truncation_keeps_question_and_whole_records(use_edns: int | bool) -> None:
    query = wire.parse_query(query_bytes(use_edns=use_edns))
    data = wire.pack(query, many(300), query.udp_limit())
    assert len(data) <= query.udp_limit()
    out = dns.message.from_wire(data)
    assert out.flags & dns.flags.TC
    assert out.question[0].name.to_text() == "big.default.svc.cluster.local."
    assert 10 < len(out.answer[0]) < 300
    assert (out.edns >= 0) == (use_edns is not False)


def test_dropping_only_additional_does_not_set_tc() -> None:
    query = wire.parse_query(query_bytes())
    full = wire.pack(query, many(29))
    assert len(full) > 512
    out = dns.message.from_wire(wire.pack(query, many(29), 512))
    assert not out.flags & dns.flags.TC and len(out.answer[0]) == 29 and not out.additional


def test_tcp_limit_carries_everything() -> None:
    query = wire.parse_query(query_bytes())
    out = dns.message.from_wire(wire.pack(query, many(300), wire.TCP_LIMIT))
    assert len(out.answer[0]) == 300 and not out.flags & dns.flags.TC


def test_answer_echoes_question_spelling() -> None:
    query = wire.parse_query(query_bytes("BiG.Default.svc.cluster.local"))
    out = dns.message.from_wire(wire.pack(query, many(1)))
    assert out.answer[0].name.to_text() == "BiG.Default.svc.cluster.local."
    assert out.question[0].name.to_text() == "BiG.Default.svc.cluster.local."


def test_no_opt_in_reply_to_query_without_edns() -> None:
    query = wire.parse_query(query_bytes(use_edns=False))
    assert dns.message.from_wire(wire.pack(query, many(1))).edns == -1


def test_opt_in_reply_advertises_1232() -> None:
    query = wire.parse_query(query_bytes(use_edns=0, payload=4096))
    out = dns.message.from_wire(wire.pack(query, many(1)))
    assert out.edns == 0 and out.payload == 1232


def test_badvers_uses_extended_rcode() -> None:
    message = dns.message.make_query("a.cluster.local", "A", use_edns=1)
    query = wire.parse_query(message.to_wire())
    out = dns.message.from_wire(wire.pack_rcode(query, 16))
    assert out.rcode() == dns.rcode.BADVERS


@pytest.mark.parametrize("data", [b"", b"\x00" * 11, b"\x12\x34\x01\x00\x00\x01"])
def test_short_packets(data: bytes) -> None:
    with pytest.raises(wire.MalformedQuery):
        wire.parse_query(data)
    assert wire.error_for_bytes(data, 1) is None


def test_garbage_after_a_header_gets_formerr_with_its_id() -> None:
    data = struct.pack("!HHHHHH", 777, 0x0100, 1, 0, 0, 0) + b"\x40garbage"
    with pytest.raises(wire.MalformedQuery):
        wire.parse_query(data)
    reply = wire.error_for_bytes(data, 1)
    assert reply is not None
    ident, flags, qd, *_ = struct.unpack("!HHHHHH", reply[:12])
    assert ident == 777 and flags & 0x8000 and flags & 0xF == 1 and qd == 0


def test_responses_are_never_answered() -> None:
    data = struct.pack("!HHHHHH", 1, 0x8180, 0, 0, 0, 0)
    assert wire.error_for_bytes(data, 1) is None
    with pytest.raises(wire.MalformedQuery):
        wire.parse_query(data)


def upstream_reply(name: str, count: int, rcode: int = NOERROR) -> DNSRecord:
    """What an upstream might send for `name`: `count` A records and its own OPT."""
    reply = DNSRecord.question(name).reply()
    reply.header.id = 1
    reply.header.rcode = rcode
    for i in range(count):
        reply.add_answer(RR(name, QTYPE.A, ttl=300, rdata=dnslib.A(f"192.0.2.{i + 1}")))
    reply.add_ar(EDNS0(udp_len=4096))
    return reply


def test_forwarded_reply_is_the_clients_own() -> None:
    query = wire.parse_query(query_bytes("GitHub.IO", use_edns=0))
    out = dns.message.from_wire(wire.pack_forwarded(query, upstream_reply("github.io.", 2)))
    assert out.id == 4242
    assert out.flags & dns.flags.RA and out.flags & dns.flags.RD
    assert not out.flags & dns.flags.AA
    assert out.answer[0].name.to_text() == "GitHub.IO."
    assert out.payload == wire.EDNS_UDP_LIMIT  # ours, not the upstream's 4096


def test_forwarded_reply_keeps_the_upstream_rcode() -> None:
    query = wire.parse_query(query_bytes("nope.example"))
    out = dns.message.from_wire(
        wire.pack_forwarded(query, upstream_reply("nope.example.", 0, rcode=3)))
    assert out.rcode() == dns.rcode.NXDOMAIN and out.edns < 0


def test_forwarded_reply_is_truncated_to_the_clients_limit() -> None:
    query = wire.parse_query(query_bytes("many.example"))
    data = wire.pack_forwarded(query, upstream_reply("many.example.", 60), query.udp_limit())
    out = dns.message.from_wire(data)
    assert len(data) <= 512 and out.flags & dns.flags.TC
    assert 0 < len(out.answer[0]) < 60


def test_chased_records_follow_the_cname() -> None:
    query = wire.parse_query(query_bytes("ext.default.svc.cluster.local"))
    cname = Record("ext.default.svc.cluster.local.", CNAME, 5, "github.io.")
    chased = upstream_reply("github.io.", 1).rr
    out = dns.message.from_wire(wire.pack(query, Reply(NOERROR, (cname,), chase="github.io."),
                                          recursion_available=True, chased=chased))
    assert [rrset.rdtype for rrset in out.answer] == [dns.rdatatype.CNAME, dns.rdatatype.A]
    assert out.flags & dns.flags.RA and out.flags & dns.flags.AA
