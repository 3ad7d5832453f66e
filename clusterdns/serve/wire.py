"""DNS messages as bytes: reading queries, packing replies, EDNS0 and truncation.

dnslib does the encoding. Two things it does not do the way clients need are done here:
answers echo the question's spelling (so names compress to the question and dig shows
what was asked), and truncation keeps the question and as many whole records as fit
(dnslib's `truncate()` drops the question, which some stub resolvers reject).
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
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

from ..zone import records as rr
from ..zone.answer import Reply
from ..zone.records import Record

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


# Header counts (QD, AN, NS, AR) of an ordinary query: one question, at most an OPT.
_PLAIN_COUNTS = b"\x00\x01\x00\x00\x00\x00\x00\x00"
_EDNS_COUNTS = b"\x00\x01\x00\x00\x00\x00\x00\x01"
_QTYPE_QCLASS = 4
_BARE_OPT = 11  # root owner, type, class (UDP size), TTL (ext-rcode, version, flags), RDLENGTH 0
# The request bits a reply depends on, folded into one key byte: RD (0x0100), CD (0x0010).
_FLAG_BYTES = tuple(bytes((i,)) for i in range(0x20))
_QR_OPCODE = 0xF8


def answer_key(data: bytes) -> tuple[bytes, int] | None:
    """The key a reply to `data` can be looked up by, and where the question name ends.

    Only an ordinary query qualifies: QR clear, opcode QUERY, one question, no answer or
    authority records, and either nothing or exactly one bare 11-byte record (an OPT
    without options) in additional. Everything the reply depends on is in the key: the
    lowercased name, the type and class, the whole OPT record as sent, and the RD and CD
    bits; the ID and the name's spelling are spliced back by `splice`. Anything else
    returns None and goes the slow way. A name with a zero byte inside a label cannot
    pass the length check, since its real terminator comes later.
    """
    if len(data) < 17 or data[2] & _QR_OPCODE:
        return None
    end = data.find(0, 12) + 1
    rest = len(data) - end
    if rest == _QTYPE_QCLASS:
        if data[4:12] != _PLAIN_COUNTS:
            return None
    elif rest != _QTYPE_QCLASS + _BARE_OPT or data[4:12] != _EDNS_COUNTS:
        return None
    flags = _FLAG_BYTES[(data[2] & 0x01) | (data[3] & 0x10)]
    return data[12:end].lower() + data[end:] + flags, end


def splice(data: bytes, end: int, header: bytes, tail: bytes) -> bytes:
    """A stored reply made the client's: its ID, then its question name as spelled.

    `header` is the stored reply's bytes 2-12 (flags and counts) and `tail` everything
    after the question name; the name itself is the client's, so 0x20-randomised case
    and dig's spelling come back exactly as asked.
    """
    return data[:2] + header + data[12:end] + tail


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
    chased: Sequence[RR] = (),
) -> bytes:
    """Pack `reply` for `query`, truncating to `limit` bytes as RFC 2181/1035 ask.

    `chased` are the records an upstream gave for `reply.chase` (an ExternalName's target):
    they follow the CNAME chain in the answer section, so the client needs no second query.
    """
    return _fit(query, reply.rcode, reply.authoritative, recursion_available,
                [*_to_rrs(query, reply.answer), *chased], _to_rrs(query, reply.authority),
                _to_rrs(query, reply.additional), limit)


def pack_forwarded(query: Query, upstream: DNSRecord, limit: int = TCP_LIMIT) -> bytes:
    """An upstream's reply made the client's: its ID, flags and spelling; RA set, AA never.

    The upstream's OPT record stays behind: EDNS0 is between us and the client, and the
    client gets ours exactly when its query had one, as for every other reply.
    """
    lowered = rr.fqdn(query.qname)

    def respelled(records: list[RR]) -> list[RR]:
        return [RR(query.qname, r.rtype, r.rclass, r.ttl, r.rdata)
                if str(r.rname).lower() == lowered else r
                for r in records if r.rtype != rr.OPT]

    return _fit(query, upstream.header.rcode, False, True, respelled(upstream.rr),
                respelled(upstream.auth), respelled(upstream.ar), limit)


def pack_rcode(query: Query, rcode: int, recursion_available: bool = False) -> bytes:
    """An empty reply with `rcode` (REFUSED, NOTIMP, FORMERR, BADVERS, SERVFAIL)."""
    return pack(query, Reply(rcode, authoritative=False), TCP_LIMIT, recursion_available)


def _to_rrs(query: Query, records: tuple[Record, ...]) -> list[RR]:
    """Our records as dnslib RRs, the question's own name spelled as the client spelled it."""
    lowered = rr.fqdn(query.qname)
    return [to_dnslib(r, query.qname if r.name == lowered else r.name) for r in records]


def _fit(query: Query, rcode: int, authoritative: bool, recursion_available: bool,
         answer: list[RR], authority: list[RR], additional: list[RR], limit: int) -> bytes:
    """The packed reply within `limit` bytes.

    Dropping additional records alone does not set TC; dropping answers does, and the
    answer section then keeps as many whole records as fit.
    """
    flags = (rcode, authoritative, recursion_available)
    data = bytes(_message(query, *flags, answer, authority, additional).pack())
    if len(data) <= limit:
        return data
    data = bytes(_message(query, *flags, answer, authority, []).pack())
    if len(data) <= limit:
        return data
    low, high = 0, len(answer)
    best = _message(query, *flags, [], [], [], truncated=True).pack()
    while low < high:
        middle = (low + high + 1) // 2
        attempt = _message(query, *flags, answer[:middle], [], [], truncated=True).pack()
        if len(attempt) <= limit:
            low, best = middle, attempt
        else:
            high = middle - 1
    return bytes(best)


def _message(
    query: Query,
    rcode: int,
    authoritative: bool,
    recursion_available: bool,
    answer: list[RR],
    authority: list[RR],
    additional: list[RR],
    truncated: bool = False,
) -> DNSRecord:
    header = DNSHeader(
        id=query.id, qr=1, opcode=query.opcode, aa=int(authoritative), tc=int(truncated),
        rd=int(query.rd), ra=int(recursion_available), cd=int(query.cd), rcode=rcode & 0xF,
    )
    message = DNSRecord(header, rr=list(answer), auth=list(authority), ar=list(additional))
    if query.questions:
        message.add_question(DNSQuestion(query.qname, query.qtype, query.qclass))
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
