"""Transfer messages as bytes, read back by dnspython (serve/transfer_messages.py), and the
transfer questions the server reads (serve/transfer.py)."""

from __future__ import annotations

import dns.message
import dns.name
import dns.query
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import pytest

from clusterdns.serve import transfer
from clusterdns.serve.notify import notify_message
from clusterdns.serve.transfer_messages import MAX_MESSAGE, Message, labels
from clusterdns.zone.records import AAAA, AXFR, CNAME, IXFR, NS, PTR, SOA, SRV, TXT, A, Record

ORIGIN = "cluster.local."
RECORDS = [
    Record(ORIGIN, SOA, 5, ("ns.dns.cluster.local.", "hostmaster.cluster.local.", 42, 7200,
                            1800, 86400, 5)),
    Record(ORIGIN, NS, 5, "ns.dns.cluster.local."),
    Record("ns.dns.cluster.local.", A, 5, "127.0.0.1"),
    Record("api.shop.svc.cluster.local.", AAAA, 5, "fd00:10:96::20"),
    Record("_http._tcp.web.shop.svc.cluster.local.", SRV, 5,
           (0, 50, 80, "web.shop.svc.cluster.local.")),
    Record("blog.shop.svc.cluster.local.", CNAME, 5, "blog.example.org."),
    Record("10.10.96.10.in-addr.arpa.", PTR, 5, "web.shop.svc.cluster.local."),
    Record("dns-version.cluster.local.", TXT, 28800, "1.1.0"),
    Record("long.cluster.local.", TXT, 5, "x" * 300),
]


def question(name: str, qtype: int) -> bytes:
    """The wire question (name, type, class IN) a query for `name` carries."""
    return dns.message.make_query(name, qtype).to_wire()[12:]


def as_text(record: Record) -> str:
    rtype = dns.rdatatype.to_text(record.rtype)
    data = record.data
    if record.rtype == TXT:
        text = str(data)
        rdata = " ".join(f'"{text[i:i + 255]}"' for i in range(0, len(text), 255))
    else:
        rdata = " ".join(map(str, data)) if isinstance(data, tuple) else str(data)
    return f"{record.name} {record.ttl} IN {rtype} {rdata}"


def read(wire: bytes) -> dns.message.Message:
    return dns.message.from_wire(wire, one_rr_per_rrset=True)


def test_every_record_type_reads_back_as_written() -> None:
    message = Message(77, 0x8400, question(ORIGIN, AXFR), ORIGIN)
    assert all(message.add(r) for r in RECORDS)
    parsed = read(message.bytes())
    assert parsed.id == 77 and parsed.flags & 0x8400 == 0x8400
    assert parsed.question[0].rdtype == AXFR
    got = [rrset.to_text() for rrset in parsed.answer]
    expected = [dns.rrset.from_text(*as_text(r).split(" ", 4)).to_text() for r in RECORDS]
    assert got == expected


def test_names_point_back_and_a_full_message_starts_the_next() -> None:
    message = Message(1, 0x8400, question(ORIGIN, AXFR), ORIGIN)
    record = Record("web.shop.svc.cluster.local.", A, 5, "10.96.0.1")
    assert message.add(record)
    size = len(message.bytes())
    assert message.add(Record("web.shop.svc.cluster.local.", A, 5, "10.96.0.2"))
    assert len(message.bytes()) - size == 2 + 10 + 4  # the owner is one pointer
    count = 2
    while count < 10_000 and message.add(
            Record(f"s{count}.shop.svc.cluster.local.", A, 5, "10.96.0.3")):
        count += 1
    assert MAX_MESSAGE - 40 < len(message.bytes()) <= MAX_MESSAGE
    parsed = read(message.bytes())
    assert len(parsed.answer) == count == message.count
    following = message.next()
    assert following.add(record) and read(following.bytes()).answer[0].name.to_text() == (
        "web.shop.svc.cluster.local.")


def test_a_name_no_message_can_hold_is_refused_and_leaves_the_message_whole() -> None:
    message = Message(1, 0x8400, question(ORIGIN, AXFR), ORIGIN)
    with pytest.raises(ValueError, match="1 to 63 bytes"):
        message.add(Record("svc.cluster.local.", CNAME, 5, "x" * 64 + ".example.org."))
    assert message.add(RECORDS[1]) and len(read(message.bytes()).answer) == 1
    assert labels("a.b.") == (("a.b.", b"\x01a"), ("b.", b"\x01b"))


def test_a_notify_is_what_secondaries_expect() -> None:
    parsed = read(notify_message(4321, RECORDS[0]))
    assert parsed.opcode() == dns.opcode.NOTIFY and parsed.flags & dns.flags.AA
    assert parsed.question[0].to_text() == "cluster.local. IN SOA"
    assert parsed.answer[0][0].serial == 42


def ixfr_query(serial: int) -> bytes:
    query = dns.message.make_query("Cluster.Local", "IXFR")
    soa = dns.rrset.from_text("cluster.local.", 0, "IN", "SOA",
                              f"ns.dns.cluster.local. hostmaster.cluster.local. {serial} 1 1 1 1")
    query.authority.append(soa)
    return query.to_wire()


def test_transfer_questions_are_told_from_others_and_read() -> None:
    axfr = dns.message.make_query("cluster.local", "AXFR", use_edns=0).to_wire()
    assert transfer.transfer_type(axfr) == AXFR
    assert transfer.transfer_type(ixfr_query(9)) == IXFR
    assert transfer.transfer_type(dns.message.make_query("cluster.local", "A").to_wire()) is None
    assert transfer.transfer_type(axfr[:20]) is None
    read_back = transfer.read_question(ixfr_query(1796000000))
    assert read_back is not None
    assert (read_back.qname, read_back.qtype, read_back.serial) == (ORIGIN, IXFR, 1796000000)
    assert read_back.question.startswith(b"\x07Cluster\x05Local\x00")  # as the client spelled
    no_soa = transfer.read_question(dns.message.make_query("cluster.local", "IXFR").to_wire())
    assert no_soa is not None and no_soa.serial is None
    cut = transfer.read_question(ixfr_query(5)[:-6])  # the SOA cut short: FORMERR follows
    assert cut is not None and cut.serial is None
