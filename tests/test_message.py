"""Whole messages: reading with every bound checked, writing only as far as it fits."""

from __future__ import annotations

import struct

import dns.flags
import dns.message
import pytest
from dnslib import RR, DNSRecord

from clusterdns.serve import message
from clusterdns.serve.message import ADDITIONAL, ANSWER, AUTHORITY, BadMessage, WireRecord, Writer
from clusterdns.serve.names import from_text


def packed(*answer: str, name: str = "example.", qtype: str = "A") -> bytes:
    reply = DNSRecord.question(name, qtype).reply()
    for line in answer:
        reply.add_answer(*RR.fromZone(line))
    return bytes(reply.pack())


def test_names_inside_rdata_come_back_uncompressed() -> None:
    data = packed("example. 60 IN CNAME www.example.",
                  "example. 60 IN MX 10 mail.example.",
                  "example. 60 IN SOA ns.example. admin.example. 1 2 3 4 5",
                  "example. 60 IN TXT hello", qtype="ANY")
    assert b"\xc0" in data  # dnslib did compress them
    read = message.read(data)
    cname, mx, soa, txt = read.answer
    assert cname.rdata == from_text("www.example.")
    assert mx.rdata == b"\x00\x0a" + from_text("mail.example.")
    assert soa.rdata == from_text("ns.example.") + from_text("admin.example.") + \
        struct.pack("!5I", 1, 2, 3, 4, 5)
    assert txt.rdata == b"\x05hello"  # a type without names: as sent
    assert read.question_end == 12 + len(from_text("example.")) + 4


@pytest.mark.parametrize(("label", "change"), [
    ("trailing bytes", lambda d: d + b"\x00"),
    ("count promises more", lambda d: d[:6] + b"\x00\x02" + d[8:]),
    ("rdata past the end", lambda d: d[:-1]),
    ("MX rdata too short", lambda d: d[:-len(from_text("mail.example.")) - 4]
     + b"\x00\x03\x00\x0a\x00"),
])
def test_malformed_messages(label: str, change) -> None:
    data = packed("example. 60 IN MX 10 mail.example.", qtype="MX")
    message.read(data)
    with pytest.raises(BadMessage):
        message.read(change(data))


def a_record(name: str, last: int) -> WireRecord:
    return WireRecord(from_text(name), 1, 1, 60, bytes([192, 0, 2, last]))


QUESTION = from_text("Www.Example.") + b"\x00\x01\x00\x01"


def test_names_compress_against_the_question_and_each_other() -> None:
    writer = Writer(QUESTION, 512)
    assert writer.add(ANSWER, a_record("www.example.", 1))
    assert writer.add(ANSWER, WireRecord(from_text("www.example."), 5, 1, 60,
                                         from_text("web.example.")))
    data = writer.finish(7, message.QR, 1)
    end = 12 + len(QUESTION)
    assert data[end:end + 2] == b"\xc0\x0c"
    out = dns.message.from_wire(data)
    assert out.answer[0].name.to_text() == "Www.Example."  # the question's spelling
    assert out.answer[1][0].target.to_text() == "web.Example."  # compressed to the question
    assert writer.ttl_offsets == [end + 6, end + 16 + 6] and writer.ends[-1] == len(data)


def test_the_first_answer_that_does_not_fit_sets_tc_and_ends_the_reply() -> None:
    writer = Writer(QUESTION, 100, reserve=message.OPT_SIZE)
    last = 0
    while writer.add(ANSWER, a_record("www.example.", last)):
        last += 1
    assert not writer.add(ADDITIONAL, a_record("ns.example.", 2))
    data = writer.finish(7, message.QR, 1, message.opt_record(1232, 0, False))
    out = dns.message.from_wire(data)
    assert len(data) <= 100 and out.flags & dns.flags.TC and out.edns == 0
    assert len(out.answer[0]) == writer.counts[ANSWER] == last == 3  # 12 + 17 + 3 * 16 + 11


def test_additional_records_that_do_not_fit_go_without_tc() -> None:
    writer = Writer(QUESTION, 80)
    assert writer.add(ANSWER, a_record("www.example.", 1))
    assert writer.add(AUTHORITY, a_record("example.", 2))
    assert not writer.add(ADDITIONAL, a_record("a-long-name-for-the-glue.example.", 3))
    out = dns.message.from_wire(writer.finish(7, message.QR, 1))
    assert not out.flags & dns.flags.TC and not out.additional and out.authority


# RDATA with names in it, as RFC 1035, 1183, 2163, 2230, 2672 and 2782 lay them out: N a
# name (compressed in what a server may receive), a number that many fixed octets.
NAMED_RDATA = {
    "NS": "N", "MD": "N", "MF": "N", "CNAME": "N", "SOA": "N N 20", "MB": "N", "MG": "N",
    "MR": "N", "PTR": "N", "MINFO": "N N", "MX": "2 N", "RP": "N N", "AFSDB": "2 N",
    "RT": "2 N", "PX": "2 N N", "SRV": "6 N", "KX": "2 N", "DNAME": "N",
}
RDATA_TYPES = {"NS": 2, "MD": 3, "MF": 4, "CNAME": 5, "SOA": 6, "MB": 7, "MG": 8, "MR": 9,
               "PTR": 12, "MINFO": 14, "MX": 15, "RP": 17, "AFSDB": 18, "RT": 21, "PX": 26,
               "SRV": 33, "KX": 36, "DNAME": 39}


def test_every_type_with_names_in_its_rdata_is_known() -> None:
    assert set(message.LAYOUTS) == set(RDATA_TYPES.values())


@pytest.mark.parametrize("kind", NAMED_RDATA)
def test_compressed_names_in_rdata_are_read_whole(kind: str) -> None:
    qname = from_text("x.example.")
    sent, expected = b"", b""
    for index, field in enumerate(NAMED_RDATA[kind].split()):
        if field == "N":  # a pointer to the question's name
            sent, expected = sent + b"\xc0\x0c", expected + qname
        else:
            octets = bytes(range(index + 1, index + 1 + int(field)))
            sent, expected = sent + octets, expected + octets
    header = struct.pack("!HHHHHH", 7, 0x8180, 1, 1, 0, 0)
    record = b"\xc0\x0c" + struct.pack("!HHIH", RDATA_TYPES[kind], 1, 300, len(sent)) + sent
    read = message.read(header + qname + b"\x00\x01\x00\x01" + record)
    assert read.answer == (WireRecord(qname, RDATA_TYPES[kind], 1, 300, expected),)
    short = record[:10] + struct.pack("!H", len(sent) - 1) + sent[:-1]
    with pytest.raises(BadMessage):
        message.read(header + qname + b"\x00\x01\x00\x01" + short)
