"""Upstream answers made ours: scrubbed to the answer chain, capped, packed once, rendered."""

from __future__ import annotations

import socket
import struct
from dataclasses import replace

import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
import pytest
from dnslib import RCODE

from clusterdns.serve import message, wire
from clusterdns.serve.forwarded import MAX_CHAIN, scrub
from clusterdns.serve.message import WireRecord
from clusterdns.serve.names import from_text
from tests.replies import SOA, forwarded, upstream_reply
from tests.test_wire import query_bytes


def many(name: str, count: int, ttl: int = 300) -> list[str]:
    return [f"{name} {ttl} IN A 192.0.2.{i + 1}" for i in range(count)]


def render(answer, name: str, now: float = 1000.0, tcp: bool = False,
           use_edns: int | bool = False, rdtype: str = "A") -> dns.message.Message:
    query = wire.parse_query(query_bytes(name, rdtype, use_edns=use_edns))
    limit = wire.TCP_LIMIT if tcp else query.udp_limit()
    return dns.message.from_wire(answer.render(query, limit, now))


def test_reply_is_the_clients_own() -> None:
    answer = forwarded("github.io.", upstream_reply("github.io.", *many("github.io.", 2)))
    query = wire.parse_query(query_bytes("GitHub.IO", use_edns=0))
    data = answer.render(query, query.udp_limit(), 1000.0)
    assert data[12:12 + len(query.question)] == query.question
    out = dns.message.from_wire(data)
    assert out.id == 4242
    assert out.flags & dns.flags.RA and out.flags & dns.flags.RD
    assert not out.flags & dns.flags.AA
    assert out.answer[0].name.to_text() == "GitHub.IO."  # points at the client's question
    assert out.payload == wire.EDNS_UDP_LIMIT  # ours, not the upstream's 4096


def test_rcode_is_kept_and_no_opt_goes_to_a_client_without_edns() -> None:
    reply = upstream_reply("nope.example.", rcode=RCODE.NXDOMAIN,
                           authority=(SOA.format(ttl=3600, minimum=30),))
    out = render(forwarded("nope.example.", reply), "nope.example")
    assert out.rcode() == dns.rcode.NXDOMAIN and out.edns < 0
    assert out.authority[0].ttl == 30  # the first reply shows the cached lifetime already


def test_reply_is_cut_to_the_clients_limit_at_a_record_boundary() -> None:
    answer = forwarded("many.example.", upstream_reply("many.example.",
                                                       *many("many.example.", 60)))
    query = wire.parse_query(query_bytes("many.example"))
    data = answer.render(query, query.udp_limit(), 1000.0)
    out = dns.message.from_wire(data)
    assert len(data) <= 512 and out.flags & dns.flags.TC
    assert 0 < len(out.answer[0]) < 60
    whole = render(answer, "many.example", tcp=True)
    assert len(whole.answer[0]) == 60 and not whole.flags & dns.flags.TC


def test_ttls_are_capped_at_once_and_count_down_with_age() -> None:
    reply = upstream_reply("a.example.", "a.example. 86400 IN A 192.0.2.1",
                           "a.example. 30 IN A 192.0.2.2")
    answer = forwarded("a.example.", reply, now=1000.0, max_ttl=3600)
    assert sorted(r.ttl for r in render(answer, "a.example").answer[0:1]) == [30]
    assert {r.ttl for r in render(answer, "a.example", now=1020.5).answer} == {10}
    assert [r.ttl for r in answer.aged_answer(1020.5)] == [3580, 10]
    assert answer.lifetime == 30
    assert render(answer, "a.example", now=1000.0).answer[0].ttl == 30  # the template is intact


def test_records_outside_the_chain_are_dropped() -> None:
    reply = upstream_reply(
        "www.example.org.",
        "www.example.org. 300 IN CNAME web.example.org.",
        "web.example.org. 300 IN A 192.0.2.80",
        "web.example.org. 300 IN AAAA 2001:db8::80",  # another type: not asked
        "www.victim.com. 300 IN A 6.6.6.6",
        authority=("com. 300 IN NS ns.evil.com.", "example.org. 300 IN NS ns.example.org.",
                   "victim.com. 300 IN SOA ns.victim.com. a.victim.com. 1 2 3 4 5"),
        additional=("ns.evil.com. 300 IN A 6.6.6.6", "ns.example.org. 300 IN A 192.0.2.53",
                    "www.victim.com. 300 IN A 6.6.6.6"),
    )
    answer, authority, additional = scrub(from_text("www.example.org."), 1, reply)
    assert [(r.name, r.rtype) for r in answer] == [
        (from_text("www.example.org."), 5), (from_text("web.example.org."), 1)]
    assert [r.name for r in authority] == [from_text("example.org.")]
    assert [r.name for r in additional] == [from_text("ns.example.org.")]


def test_dname_and_signatures_on_the_chain_are_kept() -> None:
    reply = upstream_reply(
        "a.old.example.",
        "a.old.example. 300 IN CNAME a.new.example.",
        "a.new.example. 300 IN A 192.0.2.9",
    )
    dname = WireRecord(from_text("old.example."), 39, 1, 300, from_text("new.example."))
    elsewhere = WireRecord(from_text("other.example."), 39, 1, 300, from_text("x.example."))
    reply = replace(reply, answer=(dname, *reply.answer, elsewhere))
    answer, _, _ = scrub(from_text("a.old.example."), 1, reply)
    assert [r.rtype for r in answer] == [39, 5, 1]


def test_a_looping_or_endless_chain_costs_one_pass() -> None:
    loop = [f"c{i}.example. 300 IN CNAME c{(i + 1) % 500}.example." for i in range(500)]
    answer, _, _ = scrub(from_text("c0.example."), 1, upstream_reply("c0.example.", *loop))
    assert len(answer) == MAX_CHAIN


@pytest.mark.parametrize(("cnames", "kept"), [(15, [5] * 15 + [1]), (16, [5] * 16)])
def test_a_chain_is_followed_through_16_names_as_bind_follows_it(cnames: int,
                                                                  kept: list[int]) -> None:
    chain = [f"c{i}.example. 300 IN CNAME c{i + 1}.example." for i in range(cnames)]
    reply = upstream_reply("c0.example.", *chain, f"c{cnames}.example. 300 IN A 192.0.2.1")
    answer, _, _ = scrub(from_text("c0.example."), 1, reply)
    assert [r.rtype for r in answer] == kept  # the 17th name and past it are not followed


def srv_reply_compressed_beyond_rfc(count: int) -> message.Message:
    """SRV targets compressed (RFC 2782 says not to, some servers do): small as sent,
    too big for 64 KiB once written the way the RFC asks."""
    question = from_text("big.example.") + struct.pack("!HH", 33, 1)
    suffix = from_text(f"{'y' * 60}.{'z' * 60}.example.")
    records = b""
    for i in range(count):
        target = bytes([len(f"t{i}")]) + f"t{i}".encode()
        if i == 0:
            target += suffix
        else:
            target += struct.pack("!H", 0xC000 | (12 + len(question) + 12 + 6 + 3))
        rdata = struct.pack("!HHH", 0, 0, 80) + target
        records += b"\xc0\x0c" + struct.pack("!HHIH", 33, 1, 300, len(rdata)) + rdata
    header = struct.pack("!HHHHHH", 1, 0x8180, 1, count, 0, 0)
    return message.read(header + question + records)


def test_answer_that_grows_past_64k_when_repacked_is_truncated_and_not_cached() -> None:
    answer = forwarded("big.example.", srv_reply_compressed_beyond_rfc(600), qtype="SRV")
    assert answer.truncated and answer.lifetime == 0
    out = render(answer, "big.example", tcp=True, rdtype="SRV")
    assert out.flags & dns.flags.TC and 300 < len(out.answer[0]) < 600


def test_chased_answer_records_keep_their_data() -> None:
    answer = forwarded("github.io.", upstream_reply("github.io.", *many("github.io.", 2)))
    assert [socket.inet_ntoa(r.rdata) for r in answer.aged_answer(1000.0)] == [
        "192.0.2.1", "192.0.2.2"]
    assert render(answer, "github.io").answer[0].rdtype == dns.rdatatype.A
