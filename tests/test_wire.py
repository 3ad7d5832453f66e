"""Packing replies: EDNS0, truncation that keeps the question, error replies."""

from __future__ import annotations

import struct

import dns.edns
import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
import pytest

from clusterdns.serve import wire
from clusterdns.serve.message import PROHIBITED, ExtendedError
from clusterdns.zone.answer import Reply
from clusterdns.zone.records import CNAME, NOERROR, NXDOMAIN, REFUSED, A, Record
from tests.replies import upstream_reply


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


def test_chased_records_follow_the_cname() -> None:
    query = wire.parse_query(query_bytes("ext.default.svc.cluster.local"))
    cname = Record("ext.default.svc.cluster.local.", CNAME, 5, "github.io.")
    chased = upstream_reply("github.io.", "github.io. 300 IN A 192.0.2.1").answer
    out = dns.message.from_wire(wire.pack(query, Reply(NOERROR, (cname,), chase="github.io."),
                                          recursion_available=True, chased=chased))
    assert [rrset.rdtype for rrset in out.answer] == [dns.rdatatype.CNAME, dns.rdatatype.A]
    assert out.flags & dns.flags.RA and out.flags & dns.flags.AA


OPT = b"\x00\x00\x29\x04\xd0\x00\x00\x00\x00\x00\x00"


def with_records(question_name: bytes, *records: bytes, counts: tuple[int, int, int] = (0, 0, 0),
                 qdcount: int = 1) -> bytes:
    header = struct.pack("!HHHHHH", 9, 0x0100, qdcount, *counts)
    return header + question_name + b"\x00\x01\x00\x01" + b"".join(records)


NAME = b"\x03web\x04shop\x03svc\x07cluster\x05local\x00"


@pytest.mark.parametrize(("label", "data"), [
    ("two OPT records", with_records(NAME, OPT, OPT, counts=(0, 0, 2))),
    ("OPT in the answer section", with_records(NAME, OPT, counts=(1, 0, 0))),
    ("OPT not owned by the root", with_records(NAME, b"\x01x" + OPT, counts=(0, 0, 1))),
    ("OPT option longer than its RDATA",
     with_records(NAME, OPT[:-2] + b"\x00\x05\x00\x0a\x00\x09abcde", counts=(0, 0, 1))),
    ("pointer in the question", with_records(b"\x03web\xc0\x0c")),
    ("pointer into the header", with_records(b"\x03web\xc0\x02")),
    ("label of reserved type", with_records(b"\x43" + b"x" * 67 + b"\x00")),
    ("name over 255 octets", with_records(b"\x3f" + b"x" * 63 + b"\x3f" + b"x" * 63
                                          + b"\x3f" + b"x" * 63 + b"\x3f" + b"x" * 63 + b"\x00")),
    ("counts promise more", with_records(NAME, counts=(1, 0, 0))),
    ("trailing bytes", with_records(NAME) + b"\x00"),
])
def test_malformed_queries(label: str, data: bytes) -> None:
    with pytest.raises(wire.MalformedQuery):
        wire.parse_query(data)
    reply = wire.error_for_bytes(data, 1)
    assert reply is not None and len(reply) <= 12 + 255 + 4, label


def test_question_is_echoed_byte_for_byte_whatever_its_labels_hold() -> None:
    name = b"\x03a.b\x04\\065\x02\xc3\xa9\x02\xff\xfe\x07cluster\x05local\x00"
    query = wire.parse_query(with_records(name, OPT, counts=(0, 0, 1)))
    assert query.qname == "a\\046b.\\092065.\\195\\169.\\255\\254.cluster.local."
    assert query.edns is not None and query.question == name + b"\x00\x01\x00\x01"
    soa = Record("cluster.local.", 6, 5, ("ns.dns.cluster.local.", "hostmaster.cluster.local.",
                                          1, 2, 3, 4, 5))
    data = wire.pack(query, Reply(NXDOMAIN, authority=(soa,)), 512)
    assert data[12:12 + len(query.question)] == query.question
    out = dns.message.from_wire(data)
    assert out.rcode() == NXDOMAIN and out.authority[0].name.to_text() == "cluster.local."


def test_answer_records_point_at_the_question() -> None:
    query = wire.parse_query(query_bytes("Big.Default.svc.cluster.local"))
    data = wire.pack(query, many(2))
    end = 12 + len(query.question)
    assert data[end:end + 2] == b"\xc0\x0c"  # first answer's owner: offset 12


def test_build_only_what_fits() -> None:
    query = wire.parse_query(query_bytes())
    data = wire.pack(query, many(100_000), wire.TCP_LIMIT)
    out = dns.message.from_wire(data)
    assert len(data) <= wire.TCP_LIMIT and out.flags & dns.flags.TC
    assert 4000 < len(out.answer[0]) < 4100


def test_an_extended_error_rides_in_the_opt_record_of_an_edns_query_only() -> None:
    error = ExtendedError(PROHIBITED, "recursion is not allowed for this client")
    with_edns = dns.message.make_query("pypi.org", "A", use_edns=0)
    reply = dns.message.from_wire(wire.pack_rcode(wire.parse_query(with_edns.to_wire()),
                                                  REFUSED, error=error))
    assert reply.rcode() == dns.rcode.REFUSED
    [option] = reply.options
    assert isinstance(option, dns.edns.EDEOption)
    assert (option.code, option.text) == (dns.edns.EDECode.PROHIBITED, error.text)
    plain = dns.message.make_query("pypi.org", "A", use_edns=False)
    bare = dns.message.from_wire(wire.pack_rcode(wire.parse_query(plain.to_wire()), REFUSED,
                                                 error=error))
    assert bare.edns == -1 and bare.rcode() == dns.rcode.REFUSED
