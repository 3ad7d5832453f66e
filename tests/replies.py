"""Upstream replies for unit tests: written with dnslib, read back with our own reader."""

from __future__ import annotations

from dnslib import EDNS0, QTYPE, RCODE, RR, DNSRecord

from clusterdns.serve import message
from clusterdns.serve.forwarded import Forwarded, prepare

SOA = "example. {ttl} IN SOA ns.example. admin.example. 1 7200 900 86400 {minimum}"


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def upstream_reply(name: str, *answer: str, rcode: int = RCODE.NOERROR,
                   authority: tuple[str, ...] = (), additional: tuple[str, ...] = (),
                   qtype: str = "A") -> message.Message:
    """What an upstream sends for `name`: records from zone lines, and its own OPT."""
    reply = DNSRecord.question(name, qtype).reply()
    reply.header.rcode = rcode
    for section, lines in ((reply.add_answer, answer), (reply.add_auth, authority),
                           (reply.add_ar, additional)):
        for line in lines:
            section(*RR.fromZone(line))
    reply.add_ar(EDNS0(udp_len=4096))
    return message.read(bytes(reply.pack()))


def forwarded(name: str, reply: message.Message, now: float = 1000.0, qtype: str = "A",
              max_ttl: int = 3600, max_negative_ttl: int = 1800) -> Forwarded:
    """`reply` prepared as the forwarder prepares what it caches."""
    return prepare(name, getattr(QTYPE, qtype), reply, max_ttl, max_negative_ttl, now)
