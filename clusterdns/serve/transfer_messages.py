"""Zone-transfer messages as bytes: records packed one by one, names compressed.

A transfer of 10,000 services is 117,000 records; dnslib packs one in about 20
microseconds, 2.3 s for them all, more than the whole transfer may take (2 s). Our
records are a few types of plain values, so they are packed here directly, in about 3.5
microseconds: each message keeps the offsets of the names it already holds and points
back to them (RFC 1035 4.1.4), which makes most owner names two bytes, and a message
stops short of 64 KiB, the most a TCP length prefix can announce.
"""

from __future__ import annotations

import socket
import struct
from functools import lru_cache

from ..zone import records as rr
from ..zone.records import Record

MAX_MESSAGE = 65535  # the 16-bit length prefix of DNS over TCP (RFC 1035 4.2.2)
HEADER = struct.Struct("!HHHHHH")
FIXED = struct.Struct("!HHIH")  # type, class, TTL, RDLENGTH
SOA_TIMES = struct.Struct("!IIIII")
SRV_NUMBERS = struct.Struct("!HHH")
POINTER = struct.Struct("!H")
FURTHEST_POINTER = 0x3FFF  # a compression pointer has 14 bits of offset
QR_AA = 0x8400
CLASS_IN = 1
MAX_LABEL = 63

Labels = tuple[tuple[str, bytes], ...]


@lru_cache(maxsize=8192)  # a name's records come together, and targets repeat
def labels(name: str) -> Labels:
    """(suffix, wire label) for each label of an FQDN, the longest suffix first.

    Raises ValueError for a name that cannot go on the wire: a label over 63 bytes
    (Kubernetes lets one into an ExternalName) or an empty one.
    """
    out = []
    rest = name
    while rest not in (".", ""):
        label, _, after = rest.partition(".")
        encoded = label.encode()
        if not encoded or len(encoded) > MAX_LABEL:
            raise ValueError(f"{name!r}: a label must be 1 to {MAX_LABEL} bytes")
        out.append((rest, bytes((len(encoded),)) + encoded))
        rest = after
    return tuple(out)


def plain(name: str) -> bytes:
    """A name without compression, as SRV targets must be written (RFC 2782)."""
    return b"".join(label for _, label in labels(name)) + b"\0"


class Message:
    """One transfer message, filled record by record until the next would not fit.

    Every message repeats the question (RFC 5936 allows it and every client reads it).
    """

    def __init__(self, ident: int, flags: int, question: bytes, qname: str,
                 limit: int = MAX_MESSAGE) -> None:
        """`question` is the question as the client sent it (name, type, class) and
        `qname` its name lowercased: names in the records point into it."""
        self.ident, self.flags, self.question, self.qname = ident, flags, question, qname
        self.limit = limit
        self.count = 0
        self._parts = [question]
        self._size = HEADER.size + len(question)
        self._names: dict[str, int] = {}
        offset = HEADER.size
        for suffix, label in labels(qname):
            self._names[suffix] = offset
            offset += len(label)

    def add(self, record: Record) -> bool:
        """Append `record`; False, leaving the message as it was, when it does not fit."""
        start = self._size
        new: list[str] = []
        try:
            owner = self._name(record.name, start, new)
            rdata = self._rdata(record, start + len(owner) + FIXED.size, new)
        except ValueError:
            self._forget(new)
            raise
        size = len(owner) + FIXED.size + len(rdata)
        if start + size > self.limit:
            self._forget(new)
            return False
        self._parts += (owner, FIXED.pack(record.rtype, CLASS_IN, record.ttl, len(rdata)),
                        rdata)
        self._size += size
        self.count += 1
        return True

    def bytes(self) -> bytes:
        """The message as it stands, header counts included."""
        header = HEADER.pack(self.ident, self.flags, 1, self.count, 0, 0)
        return header + b"".join(self._parts)

    def next(self) -> Message:
        """An empty message with the same header and question."""
        return Message(self.ident, self.flags, self.question, self.qname, self.limit)

    def _forget(self, new: list[str]) -> None:
        for suffix in new:
            del self._names[suffix]

    def _name(self, name: str, at: int, new: list[str]) -> bytes:
        """`name` at offset `at`: its labels up to the first suffix already in the message,
        then a pointer to that suffix. Labels are encoded only as far as needed, since
        most names end in a suffix an earlier record wrote (`<ns>.svc.<zone>`)."""
        out = bytearray()
        suffix = name
        while suffix not in (".", ""):
            known = self._names.get(suffix)
            if known is not None:
                out += POINTER.pack(0xC000 | known)
                return bytes(out)
            label, _, rest = suffix.partition(".")
            encoded = label.encode()
            if not 0 < len(encoded) <= MAX_LABEL:
                raise ValueError(f"{name!r}: a label must be 1 to {MAX_LABEL} bytes")
            if at <= FURTHEST_POINTER:
                self._names[suffix] = at
                new.append(suffix)
            out.append(len(encoded))
            out += encoded
            at += len(encoded) + 1
            suffix = rest
        out.append(0)
        return bytes(out)

    def _rdata(self, record: Record, at: int, new: list[str]) -> bytes:
        data, rtype = record.data, record.rtype
        if rtype == rr.A:
            return socket.inet_pton(socket.AF_INET, data)  # type: ignore[arg-type]
        if rtype == rr.AAAA:
            return socket.inet_pton(socket.AF_INET6, data)  # type: ignore[arg-type]
        if rtype in (rr.NS, rr.CNAME, rr.PTR):
            return self._name(data, at, new)  # type: ignore[arg-type]
        if rtype == rr.SRV:
            priority, weight, port, target = data  # type: ignore[misc]
            return SRV_NUMBERS.pack(priority, weight, port) + plain(target)
        if rtype == rr.SOA:
            mname, rname, *times = data  # type: ignore[misc]
            first = self._name(mname, at, new)
            second = self._name(rname, at + len(first), new)
            return first + second + SOA_TIMES.pack(*times)
        if rtype == rr.TXT:
            text = str(data).encode()
            if not text:
                return b"\0"  # one empty string: TXT RDATA is never empty
            return b"".join(bytes((len(chunk),)) + chunk
                            for chunk in (text[i:i + 255] for i in range(0, len(text), 255)))
        raise ValueError(f"no transfer encoding for record type {rtype}")
