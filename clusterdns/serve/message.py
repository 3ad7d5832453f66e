"""Whole DNS messages read and written record by record, with bounds on everything.

Reading checks what a hostile packet can get wrong (pointers, lengths, counts, trailing
bytes) and yields names uncompressed, so nothing read can fail to be written again.
Writing starts from the client's own question bytes, compresses every name against what
is already written (the question first, so answers point at offset 12 and show the
client's spelling), and stops at the first record that would pass the size limit: a
reply is only ever built as far as it fits, however many records the answer has.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from dataclasses import dataclass

from . import names

HEADER = struct.Struct("!HHHHHH")
_FIXED = struct.Struct("!HHIH")  # type, class, TTL, RDLENGTH
_RDLENGTH = struct.Struct("!H")

QR = 0x8000
AA = 0x0400
TC = 0x0200
RD = 0x0100
RA = 0x0080
CD = 0x0010
OPCODE_MASK = 0x7800

ANSWER, AUTHORITY, ADDITIONAL = 0, 1, 2
_MAX_POINTER_TARGET = 0x3FFF

# RDATA layouts of the types with names inside: a number is that many fixed octets, None
# a name. Names in these are decompressed when read (RFC 3597 section 4 lists the types a
# receiver must or should decompress).
_N = None
LAYOUTS: dict[int, tuple[int | None, ...]] = {
    2: (_N,), 3: (_N,), 4: (_N,), 5: (_N,), 6: (_N, _N, 20), 7: (_N,), 8: (_N,), 9: (_N,),
    12: (_N,), 14: (_N, _N), 15: (2, _N), 17: (_N, _N), 18: (2, _N), 21: (2, _N),
    26: (2, _N, _N), 33: (6, _N), 36: (2, _N), 39: (_N,),
}
# Only RFC 1035's own types may carry compressed names when written (RFC 3597 section 4).
COMPRESSIBLE = frozenset({2, 3, 4, 5, 6, 7, 8, 9, 12, 14, 15})


class BadMessage(ValueError):
    """The bytes are not a well-formed DNS message."""


@dataclass(frozen=True, slots=True)
class WireRecord:
    """One resource record; names (owner and inside RDATA) uncompressed, case as sent."""

    name: bytes
    rtype: int
    rclass: int
    ttl: int
    rdata: bytes


@dataclass(frozen=True, slots=True)
class Question:
    name: bytes
    qtype: int
    qclass: int


@dataclass(frozen=True)
class Message:
    """A message as read: header fields, questions, the three record sections.

    `question_end` is where the first question ends, so its bytes can be echoed as sent.
    """

    id: int
    flags: int
    questions: tuple[Question, ...]
    question_end: int
    answer: tuple[WireRecord, ...]
    authority: tuple[WireRecord, ...]
    additional: tuple[WireRecord, ...]

    @property
    def rcode(self) -> int:
        return self.flags & 0xF


def read(data: bytes) -> Message:
    """Read a whole message; raise `BadMessage` for anything malformed, trailing bytes too."""
    if len(data) < HEADER.size:
        raise BadMessage("shorter than a DNS header")
    ident, flags, qdcount, ancount, nscount, arcount = HEADER.unpack_from(data)
    offset = HEADER.size
    questions = []
    question_end = offset
    try:
        for _ in range(qdcount):
            name, offset = names.read(data, offset)
            if offset + 4 > len(data):
                raise BadMessage("question runs past the end of the message")
            qtype, qclass = struct.unpack_from("!HH", data, offset)
            offset += 4
            questions.append(Question(name, qtype, qclass))
            if len(questions) == 1:
                question_end = offset
        sections = []
        for count in (ancount, nscount, arcount):
            records = []
            for _ in range(count):
                record, offset = _read_record(data, offset)
                records.append(record)
            sections.append(tuple(records))
    except names.BadName as exc:
        raise BadMessage(str(exc)) from None
    if offset != len(data):
        raise BadMessage(f"{len(data) - offset} bytes after the last record")
    return Message(ident, flags, tuple(questions), question_end, *sections)


def _read_record(data: bytes, offset: int) -> tuple[WireRecord, int]:
    name, offset = names.read(data, offset)
    if offset + _FIXED.size > len(data):
        raise BadMessage("record runs past the end of the message")
    rtype, rclass, ttl, rdlength = _FIXED.unpack_from(data, offset)
    start = offset + _FIXED.size
    end = start + rdlength
    if end > len(data):
        raise BadMessage("RDATA runs past the end of the message")
    layout = LAYOUTS.get(rtype)
    rdata = data[start:end] if layout is None else _read_rdata(data, start, end, layout)
    return WireRecord(name, rtype, rclass, ttl, rdata), end


def _read_rdata(data: bytes, start: int, end: int, layout: tuple[int | None, ...]) -> bytes:
    parts = []
    offset = start
    for item in layout:
        if item is None:
            name, offset = names.read(data, offset)
            parts.append(name)
        else:
            parts.append(data[offset:offset + item])
            offset += item
        if offset > end:
            raise BadMessage("RDATA shorter than its type needs")
    if offset != end:
        raise BadMessage("RDATA longer than its type needs")
    return b"".join(parts)


def opt_record(udp_size: int, ext_rcode: int, do: bool, options: bytes = b"") -> bytes:
    """An OPT pseudo-record (RFC 6891 6.1.2) carrying `options` as written."""
    return (b"\x00" + _FIXED.pack(41, udp_size, (ext_rcode << 24) | (0x8000 if do else 0),
                                  len(options)) + options)


OPT_SIZE = 11  # an OPT record without options

# Extended DNS Errors (RFC 8914): the option code and the info codes clusterdns says.
EDE_OPTION = 15
OTHER_ERROR = 0
PROHIBITED = 18
NOT_AUTHORITATIVE = 20
NO_REACHABLE_AUTHORITY = 22
NETWORK_ERROR = 23
_EDE_TEXT_LIMIT = 200  # octets: an explanation, never a reason for TC


@dataclass(frozen=True, slots=True)
class ExtendedError:
    """Why a reply is what it is, for the client (RFC 8914): an info code and a short text.

    It travels in the reply's OPT record, so only a client that sent EDNS sees it.
    """

    code: int
    text: str = ""

    def option(self) -> bytes:
        """The EDNS option: code 15, length, the info code, then the text in UTF-8."""
        text = self.text.encode()[:_EDE_TEXT_LIMIT]
        return struct.pack("!HHH", EDE_OPTION, 2 + len(text), self.code) + text


class Writer:
    """One reply being written: header space, the question as given, then records.

    `limit` counts every byte but the OPT record the caller appends in `finish` (give
    `reserve`=11 for it). The first answer or authority record that does not fit sets TC
    and ends the reply; the first additional one that does not fit only ends it (RFC 2181
    section 9). Since nothing is written after a record that did not fit, the names it
    remembered for compression can stay. `ends` and `ttl_offsets` say where each record
    ends and where its TTL sits, so a kept reply can be cut shorter or aged later without
    being read again.
    """

    __slots__ = ("_limit", "_offsets", "counts", "ends", "full", "out", "truncated",
                 "ttl_offsets")

    def __init__(self, question: bytes, limit: int, reserve: int = 0) -> None:
        self.out = bytearray(HEADER.size)
        self.out += question
        self._limit = limit - reserve
        self._offsets: dict[bytes, int] = {}
        if question:
            name = question[:-4]
            lowered = name.lower()
            for start in names.suffixes(name):
                self._offsets.setdefault(lowered[start:], HEADER.size + start)
        self.counts = [0, 0, 0]
        self.ends: list[int] = []
        self.ttl_offsets: list[int] = []
        self.full = False
        self.truncated = False

    def add(self, section: int, record: WireRecord) -> bool:
        """Append `record` to `section` (in order: answer, authority, additional) if it fits."""
        if self.full:
            return False
        out = self.out
        start = len(out)
        self._name(record.name)
        ttl_offset = len(out) + 4
        out += _FIXED.pack(record.rtype, record.rclass, record.ttl, 0)
        rdata_start = len(out)
        if record.rtype in COMPRESSIBLE:
            self._compressed_rdata(record.rdata, LAYOUTS[record.rtype])
        else:
            out += record.rdata
        if len(out) > self._limit:
            del out[start:]
            self.full = True
            self.truncated = section != ADDITIONAL
            return False
        _RDLENGTH.pack_into(out, rdata_start - 2, len(out) - rdata_start)
        self.counts[section] += 1
        self.ends.append(len(out))
        self.ttl_offsets.append(ttl_offset)
        return True

    def add_all(self, section: int, records: Iterable[WireRecord]) -> None:
        """Append `records` in order until one does not fit."""
        for record in records:
            if not self.add(section, record):
                return

    def finish(self, ident: int, flags: int, qdcount: int, opt: bytes = b"") -> bytes:
        """The reply's bytes: header with counts and TC as written, records, then `opt`."""
        answer, authority, additional = self.counts
        if self.truncated:
            flags |= TC
        HEADER.pack_into(self.out, 0, ident, flags, qdcount, answer, authority,
                         additional + (1 if opt else 0))
        return bytes(self.out + opt) if opt else bytes(self.out)

    def _name(self, name: bytes) -> None:
        """Write `name`, ending in a pointer to the longest suffix already written."""
        lowered = name.lower()
        offsets = self._offsets
        out = self.out
        position = len(out)
        for start in names.suffixes(name):
            pointer = offsets.get(lowered[start:])
            if pointer is not None:
                out += name[:start]
                out += (0xC000 | pointer).to_bytes(2, "big")
                self._remember(lowered, position, start)
                return
        out += name
        self._remember(lowered, position, len(name) - 1)

    def _remember(self, lowered: bytes, position: int, upto: int) -> None:
        """Offer the suffixes just written in full (those before `upto`) to later names."""
        offsets = self._offsets
        for start in names.suffixes(lowered):
            if start >= upto or position + start > _MAX_POINTER_TARGET:
                return
            offsets.setdefault(lowered[start:], position + start)

    def _compressed_rdata(self, rdata: bytes, layout: tuple[int | None, ...]) -> None:
        offset = 0
        for item in layout:
            if item is None:
                end = _name_end(rdata, offset)
                self._name(rdata[offset:end])
                offset = end
            else:
                self.out += rdata[offset:offset + item]
                offset += item


def _name_end(data: bytes, offset: int) -> int:
    """The end of an uncompressed name (as `read` yields them) starting at `offset`."""
    while data[offset]:
        offset += 1 + data[offset]
    return offset + 1
