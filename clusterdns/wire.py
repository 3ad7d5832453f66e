"""DNS messages as bytes: reading queries, packing replies, EDNS0 and truncation.

dnslib does the encoding. Two things it does not do the way clients need are done here:
answers echo the question's spelling (so names compress to the question and dig shows
what was asked), and truncation keeps the question and as many whole records as fit
(dnslib's `truncate()` drops the question, which some stub resolvers reject).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from dnslib import AAAA as RD_AAAA
from dnslib import CNAME as RD_CNAME
from dnslib import EDNS0, RD, RR, DNSError, DNSHeader, DNSQuestion, DNSRecord
from dnslib import NS as RD_NS
from dnslib import PTR as RD_PTR
from dnslib import SOA as RD_SOA
from dnslib import SRV as RD_SRV
from dnslib import TXT as RD_TXT
from dnslib import A as RD_A

from . import records as rr
from .answer import Reply
from .records import Record

HEADER = struct.Struct("!HHHHHH")
CLASS_IN = 1
OPCODE_QUERY = 0
PLAIN_UDP_LIMIT = 512
# The EDNS buffer size we advertise and the most we send over UDP whatever the client
# says: 1232 avoids IP fragmentation on every path (DNS flag day 2020).
EDNS_UDP_LIMIT = 1232
TCP_LIMIT = 65535
DO_BIT = 0x8000


class MalformedQuery(ValueError):
    """The bytes are not a DNS query we can read."""


@dataclass(frozen=True)
class Edns:
    udp_size: int
    version: int
    do: bool


@dataclass(frozen=True)
class Query:
    """What the server needs from a query, in the client's own spelling."""

    id: int
    opcode: int
    rd: bool
    cd: bool
    qname: str
    qtype: int
    qclass: int
    questions: int
    edns: Edns | None

    def udp_limit(self) -> int:
        """The largest UDP reply this client accepts (RFC 6891, capped at 1232)."""
        if self.edns is None:
            return PLAIN_UDP_LIMIT
        return max(PLAIN_UDP_LIMIT, min(self.edns.udp_size, EDNS_UDP_LIMIT))


def parse_query(data: bytes) -> Query:
    """Read a query; raise `MalformedQuery` when the bytes are not one."""
    if len(data) < HEADER.size:
        raise MalformedQuery("shorter than a DNS header")
    try:
        message = DNSRecord.parse(data)
    except (DNSError, ValueError, IndexError, struct.error) as exc:
        raise MalformedQuery(str(exc)) from None
    header = message.header
    if header.qr:
        raise MalformedQuery("a response, not a query")
    edns = None
    for record in message.ar:
        if record.rtype == rr.OPT:
            edns = Edns(record.rclass, (record.ttl >> 16) & 0xFF, bool(record.ttl & DO_BIT))
    question = message.questions[0] if message.questions else None
    return Query(
        id=header.id,
        opcode=header.opcode,
        rd=bool(header.rd),
        cd=bool(header.cd),
        qname=str(question.qname) if question else ".",
        qtype=question.qtype if question else 0,
        qclass=question.qclass if question else 0,
        questions=len(message.questions),
        edns=edns,
    )


def error_for_bytes(data: bytes, rcode: int) -> bytes | None:
    """A bare error reply (header, question if readable) for bytes we could not parse.

    None when there is nothing to reply to: too short for a header, or itself a reply
    (answering those would let two servers bounce packets at each other).
    """
    if len(data) < HEADER.size:
        return None
    ident, flags, qdcount, *_ = HEADER.unpack_from(data)
    if flags & 0x8000:
        return None
    question = b""
    if qdcount == 1:
        end = _question_end(data)
        question = data[HEADER.size:end] if end else b""
    reply_flags = 0x8000 | (flags & 0x7900) | rcode  # keep opcode and RD
    return HEADER.pack(ident, reply_flags, 1 if question else 0, 0, 0, 0) + question


def _question_end(data: bytes) -> int:
    """Offset just past the first question, or 0 if it does not parse."""
    pos = HEADER.size
    try:
        while True:
            length = data[pos]
            if length == 0:
                pos += 1
                break
            if length > 63:
                return 0
            pos += length + 1
    except IndexError:
        return 0
    return pos + 4 if pos + 4 <= len(data) else 0


def pack(
    query: Query,
    reply: Reply,
    limit: int = TCP_LIMIT,
    recursion_available: bool = False,
) -> bytes:
    """Pack `reply` for `query`, truncating to `limit` bytes as RFC 2181/1035 ask.

    Dropping additional records alone does not set TC; dropping answers does, and the
    answer section then keeps as many whole records as fit.
    """
    message = _message(query, reply, recursion_available, reply.answer, reply.authority,
                       reply.additional)
    data = bytes(message.pack())
    if len(data) <= limit:
        return data
    data = bytes(
        _message(query, reply, recursion_available, reply.answer, reply.authority, ()).pack()
    )
    if len(data) <= limit:
        return data
    low, high = 0, len(reply.answer)
    best = _message(query, reply, recursion_available, (), (), (), truncated=True).pack()
    while low < high:
        middle = (low + high + 1) // 2
        attempt = _message(query, reply, recursion_available, reply.answer[:middle], (), (),
                           truncated=True).pack()
        if len(attempt) <= limit:
            low, best = middle, attempt
        else:
            high = middle - 1
    return bytes(best)


def pack_rcode(query: Query, rcode: int, recursion_available: bool = False) -> bytes:
    """An empty reply with `rcode` (REFUSED, NOTIMP, FORMERR, BADVERS, SERVFAIL)."""
    return pack(query, Reply(rcode, authoritative=False), TCP_LIMIT, recursion_available)


def _message(
    query: Query,
    reply: Reply,
    recursion_available: bool,
    answer: tuple[Record, ...],
    authority: tuple[Record, ...],
    additional: tuple[Record, ...],
    truncated: bool = False,
) -> DNSRecord:
    rcode = reply.rcode
    header = DNSHeader(
        id=query.id, qr=1, opcode=query.opcode, aa=int(reply.authoritative), tc=int(truncated),
        rd=int(query.rd), ra=int(recursion_available), cd=int(query.cd), rcode=rcode & 0xF,
    )
    message = DNSRecord(header)
    if query.questions:
        message.add_question(DNSQuestion(query.qname, query.qtype, query.qclass))
    lowered = rr.fqdn(query.qname)
    for section, records in ((message.rr, answer), (message.auth, authority),
                             (message.ar, additional)):
        for record in records:
            owner = query.qname if record.name == lowered else record.name
            section.append(to_dnslib(record, owner))
    if query.edns is not None:
        message.ar.append(EDNS0(udp_len=EDNS_UDP_LIMIT, ext_rcode=rcode >> 4,
                                flags="do" if query.edns.do else ""))
    return message


def to_dnslib(record: Record, owner: str | None = None) -> RR:
    """One of our records as a dnslib RR, optionally under another spelling of its name."""
    data = record.data
    rtype = record.rtype
    rdata: object
    if rtype == rr.A:
        rdata = RD_A(data)
    elif rtype == rr.AAAA:
        rdata = RD_AAAA(data)
    elif rtype == rr.CNAME:
        rdata = RD_CNAME(data)
    elif rtype == rr.PTR:
        rdata = RD_PTR(data)
    elif rtype == rr.NS:
        rdata = RD_NS(data)
    elif rtype == rr.SRV:
        priority, weight, port, target = data  # type: ignore[misc]
        rdata = RD_SRV(priority, weight, port, target)
    elif rtype == rr.TXT:
        rdata = RD_TXT(str(data))
    elif rtype == rr.SOA:
        mname, rname, *times = data  # type: ignore[misc]
        rdata = RD_SOA(mname, rname, tuple(times))
    elif rtype == rr.HINFO:
        rdata = RD(b"".join(bytes([len(p)]) + p.encode() for p in data))  # type: ignore[union-attr]
    else:
        raise ValueError(f"cannot pack record type {rtype}")
    return RR(owner or record.name, rtype, CLASS_IN, record.ttl, rdata)
