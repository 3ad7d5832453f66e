"""DNS messages as bytes: reading queries, packing replies, EDNS0 and truncation.

A reply starts with the query's own question bytes, whatever they hold, so the client
gets back exactly what it asked (resolvers drop replies whose question differs), and the
answers' names compress to it, so they show the client's spelling too. Replies are
written record by record only as far as they fit: the first answer that does not fit
sets TC, and the question always stays (some stub resolvers reject a reply without it).
The packet is read here too, with every pointer, length and count checked before
anything trusts it (`message.read`); no name is ever turned into text and back.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Sequence
from dataclasses import dataclass

from ..zone import records as rr
from ..zone.answer import Reply
from ..zone.records import Record
from . import message, names
from .message import (
    ADDITIONAL,
    ANSWER,
    AUTHORITY,
    BadMessage,
    ExtendedError,
    WireRecord,
    Writer,
)

HEADER = message.HEADER
CLASS_IN = 1
OPCODE_QUERY = 0
PLAIN_UDP_LIMIT = 512
# The EDNS buffer size we advertise and the most we send over UDP whatever the client
# says: 1232 avoids IP fragmentation on every path (DNS flag day 2020).
EDNS_UDP_LIMIT = 1232
TCP_LIMIT = 65535
DO_BIT = 0x8000
# The request bits every reply copies: opcode, RD and CD (RFC 1035 4.1.1, RFC 4035 3.2.2).
_ECHOED_FLAGS = message.OPCODE_MASK | message.RD | message.CD


class MalformedQuery(ValueError):
    """The bytes are not a DNS query we can read."""


@dataclass(frozen=True)
class Edns:
    udp_size: int
    version: int
    do: bool


@dataclass(frozen=True)
class Query:
    """What the server needs from a query, in the client's own spelling.

    `qname` is the presentation form (bytes outside letters, digits, `-`, `_` and `*`
    written `\\DDD`), `question` the first question's bytes exactly as sent (empty when
    there is none): every reply repeats those bytes.
    """

    id: int
    opcode: int
    rd: bool
    cd: bool
    qname: str
    qtype: int
    qclass: int
    questions: int
    edns: Edns | None
    question: bytes

    def udp_limit(self) -> int:
        """The largest UDP reply this client accepts (RFC 6891, capped at 1232)."""
        if self.edns is None:
            return PLAIN_UDP_LIMIT
        return max(PLAIN_UDP_LIMIT, min(self.edns.udp_size, EDNS_UDP_LIMIT))

    def reply_flags(self, rcode: int, authoritative: bool, recursion_available: bool) -> int:
        """The header flags of a reply to this query with `rcode` (its low four bits)."""
        flags = message.QR | (self.opcode << 11) | (rcode & 0xF)
        if self.rd:
            flags |= message.RD
        if self.cd:
            flags |= message.CD
        if authoritative:
            flags |= message.AA
        if recursion_available:
            flags |= message.RA
        return flags

    def opt(self, rcode: int, error: ExtendedError | None = None) -> bytes:
        """Our OPT record for the reply, or nothing when the query had none (RFC 6891 7).

        `error` rides in it as an Extended DNS Error, so it too goes only to clients that
        sent EDNS (RFC 8914 section 3).
        """
        if self.edns is None:
            return b""
        return message.opt_record(EDNS_UDP_LIMIT, rcode >> 4, self.edns.do,
                                  error.option() if error is not None else b"")


def parse_query(data: bytes) -> Query:
    """Read a query; raise `MalformedQuery` when the bytes are not one.

    Beyond a well-formed message (see `message.read`): no OPT record outside the
    additional section, at most one there (RFC 6891 6.1.1), owned by the root, and its
    options laid out as their lengths say.
    """
    if len(data) < HEADER.size:
        raise MalformedQuery("shorter than a DNS header")
    if data[2] & 0x80:
        raise MalformedQuery("a response, not a query")
    try:
        parsed = message.read(data)
    except BadMessage as exc:
        raise MalformedQuery(str(exc)) from None
    if any(r.rtype == rr.OPT for r in (*parsed.answer, *parsed.authority)):
        raise MalformedQuery("OPT record outside the additional section")
    edns = None
    for record in parsed.additional:
        if record.rtype != rr.OPT:
            continue
        if edns is not None:
            raise MalformedQuery("more than one OPT record")
        if record.name != names.ROOT or not _options_well_formed(record.rdata):
            raise MalformedQuery("malformed OPT record")
        edns = Edns(record.rclass, (record.ttl >> 16) & 0xFF, bool(record.ttl & DO_BIT))
    first = parsed.questions[0] if parsed.questions else None
    return Query(
        id=parsed.id,
        opcode=(parsed.flags & message.OPCODE_MASK) >> 11,
        rd=bool(parsed.flags & message.RD),
        cd=bool(parsed.flags & message.CD),
        qname=names.to_text(first.name) if first else ".",
        qtype=first.qtype if first else 0,
        qclass=first.qclass if first else 0,
        questions=len(parsed.questions),
        edns=edns,
        question=data[HEADER.size:parsed.question_end],
    )


def _options_well_formed(rdata: bytes) -> bool:
    offset = 0
    while offset + 4 <= len(rdata):
        offset += 4 + int.from_bytes(rdata[offset + 2:offset + 4], "big")
    return offset == len(rdata)


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
    (answering those would let two servers bounce packets at each other). The question
    comes back only if it is a legal one (at most 255 octets, no pointer), so the reply is
    never longer than 271 octets: within 512 for any client.
    """
    if len(data) < HEADER.size:
        return None
    ident, flags, qdcount = struct.unpack_from("!HHH", data)
    if flags & message.QR:
        return None
    question = b""
    if qdcount:
        try:
            end = names.read(data, HEADER.size)[1] + 4
        except names.BadName:
            end = 0
        if end <= len(data):
            question = data[HEADER.size:end]
    reply_flags = message.QR | (flags & _ECHOED_FLAGS) | rcode
    return HEADER.pack(ident, reply_flags, 1 if question else 0, 0, 0, 0) + question


def pack(
    query: Query,
    reply: Reply,
    limit: int = TCP_LIMIT,
    recursion_available: bool = False,
    chased: Sequence[WireRecord] = (),
    error: ExtendedError | None = None,
) -> bytes:
    """Pack `reply` for `query` within `limit` bytes, building only what fits.

    `chased` are the records an upstream gave for `reply.chase` (an ExternalName's target):
    they follow the CNAME chain in the answer section, so the client needs no second query.
    `error` says why, as an Extended DNS Error, to a client that sent EDNS.
    """
    opt = query.opt(reply.rcode, error)
    writer = Writer(query.question, limit, len(opt))
    writer.add_all(ANSWER, (encode(r) for r in reply.answer))
    writer.add_all(ANSWER, chased)
    writer.add_all(AUTHORITY, (encode(r) for r in reply.authority))
    writer.add_all(ADDITIONAL, (encode(r) for r in reply.additional))
    flags = query.reply_flags(reply.rcode, reply.authoritative, recursion_available)
    return writer.finish(query.id, flags, 1 if query.question else 0, opt)


def pack_rcode(query: Query, rcode: int, recursion_available: bool = False,
               error: ExtendedError | None = None) -> bytes:
    """An empty reply with `rcode` (REFUSED, NOTIMP, FORMERR, BADVERS, SERVFAIL), and why."""
    return pack(query, Reply(rcode, authoritative=False), TCP_LIMIT, recursion_available,
                error=error)


def encode(record: Record) -> WireRecord:
    """One of our records in wire form (names uncompressed: the writer compresses them)."""
    data = record.data
    rtype = record.rtype
    rdata: bytes
    if rtype == rr.A:
        rdata = socket.inet_aton(data)  # type: ignore[arg-type]
    elif rtype == rr.AAAA:
        rdata = socket.inet_pton(socket.AF_INET6, data)  # type: ignore[arg-type]
    elif rtype in (rr.CNAME, rr.PTR, rr.NS):
        rdata = names.from_text(data)  # type: ignore[arg-type]
    elif rtype == rr.SRV:
        priority, weight, port, target = data  # type: ignore[misc]
        rdata = struct.pack("!HHH", priority, weight, port) + names.from_text(target)
    elif rtype == rr.TXT:
        text = str(data).encode()
        rdata = _character_strings([text[i:i + 255] for i in range(0, len(text), 255)] or [b""])
    elif rtype == rr.SOA:
        mname, rname, *times = data  # type: ignore[misc]
        rdata = names.from_text(mname) + names.from_text(rname) + struct.pack("!5I", *times)
    elif rtype == rr.HINFO:
        rdata = _character_strings([part.encode() for part in data])  # type: ignore[union-attr]
    else:
        raise ValueError(f"cannot pack record type {rtype}")
    return WireRecord(names.from_text(record.name), rtype, CLASS_IN, record.ttl, rdata)


def _character_strings(parts: list[bytes]) -> bytes:
    return b"".join(bytes([len(part)]) + part for part in parts)
