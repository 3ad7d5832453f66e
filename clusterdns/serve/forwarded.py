"""An upstream's answer made ours once: scrubbed, TTL-capped and packed, then served many times.

Scrubbing keeps what answers the question, as unbound does: answer records on the CNAME
(and DNAME) chain from the question's name, authority records (SOA, NS and the DNSSEC
denial records under them) for a zone above a name of the chain, and additional
addresses only for names that a kept NS, MX or SRV record points to. Everything else an
upstream adds (out-of-bailiwick data a poisoner would plant) goes.

The TTL cap the cache applies is applied here, before the first client sees the answer,
so the first reply and every cached one agree. The answer is packed once at the TCP
limit; a client then costs a header, its own question bytes (same length as the packed
one, so every compression pointer still lands), a slice at a record boundary for its
size limit, and the TTLs counted down (once per second of age, not per client).
"""

from __future__ import annotations

import bisect
import struct

from ..zone import records as rr
from . import names
from .cache import lifetime
from .message import (
    ADDITIONAL,
    ANSWER,
    AUTHORITY,
    HEADER,
    OPT_SIZE,
    TC,
    Message,
    WireRecord,
    Writer,
)
from .wire import CLASS_IN, TCP_LIMIT, Query

DNAME = 39
DS = 43
RRSIG = 46
NSEC = 47
NSEC3 = 50
MX = 15
# Resolvers give up on longer chains (unbound follows 11 CNAMEs, BIND 16).
MAX_CHAIN = 16
_TTL = struct.Struct("!I")


class Forwarded:
    """A scrubbed, capped upstream answer to one question, packed and ready to serve."""

    __slots__ = ("_aged", "_ends", "_template", "_ttl_offsets", "answer", "counts",
                 "fetched", "lifetime", "question_end", "rcode", "truncated")

    def __init__(self, rcode: int, answer: tuple[WireRecord, ...], writer: Writer,
                 question_end: int, lifetime_seconds: int, fetched: float) -> None:
        self.rcode = rcode
        self.answer = answer
        self.counts = tuple(writer.counts)
        self.truncated = writer.truncated
        self._template = bytes(writer.out)
        self._ends = writer.ends
        self._ttl_offsets = writer.ttl_offsets
        self.question_end = question_end
        self.lifetime = 0 if writer.truncated else lifetime_seconds
        self.fetched = fetched
        self._aged: tuple[int, bytes] = (0, self._template)

    def age(self, now: float) -> int:
        """Whole seconds since the upstream answered."""
        return max(0, int(now - self.fetched))

    def render(self, query: Query, limit: int, now: float) -> bytes:
        """The reply to `query` (same question, any spelling) within `limit` bytes."""
        budget = limit - (OPT_SIZE if query.edns else 0)
        answer, authority, _ = self.counts
        kept = bisect.bisect_right(self._ends, budget)
        truncated = self.truncated or kept < answer + authority
        in_answer = min(kept, answer)
        in_authority = min(kept - in_answer, authority)
        end = self._ends[kept - 1] if kept else self.question_end
        body = self._aged_template(self.age(now))[self.question_end:end]
        flags = query.reply_flags(self.rcode, False, True) | (TC if truncated else 0)
        opt = query.opt(self.rcode)
        header = HEADER.pack(query.id, flags, 1, in_answer, in_authority,
                             kept - in_answer - in_authority + (1 if opt else 0))
        return header + query.question + body + opt

    def aged_answer(self, now: float) -> list[WireRecord]:
        """The answer records with TTLs counted down, to follow an ExternalName's CNAME."""
        age = self.age(now)
        return [WireRecord(r.name, r.rtype, r.rclass, max(0, r.ttl - age), r.rdata)
                for r in self.answer]

    def _aged_template(self, age: int) -> bytes:
        if self._aged[0] == age:
            return self._aged[1]
        aged = bytearray(self._template)
        for offset in self._ttl_offsets:
            (ttl,) = _TTL.unpack_from(aged, offset)
            _TTL.pack_into(aged, offset, max(0, ttl - age))
        self._aged = (age, bytes(aged))
        return self._aged[1]


def prepare(name: str, qtype: int, reply: Message, max_ttl: int, max_negative_ttl: int,
            now: float) -> Forwarded:
    """`reply` (the upstream's answer to `name`/`qtype`) scrubbed, capped and packed."""
    qname = names.from_text(name).lower()
    answer, authority, additional = scrub(qname, qtype, reply)
    seconds, ceiling = lifetime(reply.rcode, answer, authority, additional, max_ttl,
                                max_negative_ttl)
    question = qname + struct.pack("!HH", qtype, CLASS_IN)
    writer = Writer(question, TCP_LIMIT, OPT_SIZE)
    capped = [[_capped(r, ceiling) for r in section] for section in (answer, authority,
                                                                        additional)]
    for section, records in zip((ANSWER, AUTHORITY, ADDITIONAL), capped, strict=True):
        writer.add_all(section, records)
    return Forwarded(reply.rcode, tuple(capped[0]), writer, HEADER.size + len(question),
                     seconds, now)


def _capped(record: WireRecord, ceiling: int) -> WireRecord:
    if record.ttl <= ceiling:
        return record
    return WireRecord(record.name, record.rtype, record.rclass, ceiling, record.rdata)


def scrub(qname: bytes, qtype: int, reply: Message
          ) -> tuple[list[WireRecord], list[WireRecord], list[WireRecord]]:
    """The records of `reply` that answer lowercase wire `qname`, section by section."""
    answer, chain = _answer_chain(qname, qtype, reply.answer)
    ancestors = {names.ROOT} | {name[start:] for name in chain
                                for start in names.suffixes(name)}
    authority = [r for r in reply.authority
                 if r.rtype in (rr.SOA, rr.NS) and r.name.lower() in ancestors]
    apexes = {r.name.lower() for r in authority}
    authority += [r for r in reply.authority if r.rtype in (NSEC, NSEC3, RRSIG, DS)
                  and any(names.is_at_or_below(r.name.lower(), apex) for apex in apexes)]
    targets = {_target(r) for r in (*answer, *authority) if r.rtype in (rr.NS, MX, rr.SRV)}
    additional = [r for r in reply.additional
                  if r.rtype in (rr.A, rr.AAAA, RRSIG) and r.name.lower() in targets]
    return answer, authority, additional


def _answer_chain(qname: bytes, qtype: int, records: tuple[WireRecord, ...]
                  ) -> tuple[list[WireRecord], set[bytes]]:
    """The answer records on the chain from `qname`, in the upstream's order, and its names.

    Walked by name through an index, so a hostile upstream's long or looping chain costs
    one pass: each name is visited once, and at most `MAX_CHAIN` of them.
    """
    by_owner: dict[bytes, list[int]] = {}
    for index, record in enumerate(records):
        by_owner.setdefault(record.name.lower(), []).append(index)
    keep: set[int] = set()
    chain: set[bytes] = set()
    todo = [qname]
    while todo and len(chain) < MAX_CHAIN:
        name = todo.pop()
        if name in chain:
            continue
        chain.add(name)
        for index in by_owner.get(name, ()):
            record = records[index]
            if record.rtype == rr.CNAME:
                todo.append(record.rdata.lower())
            elif not (record.rtype in (qtype, RRSIG) or qtype == rr.ANY):
                continue
            keep.add(index)
        for start in names.suffixes(name)[1:]:  # a DNAME at an ancestor rewrote the name
            for index in by_owner.get(name[start:], ()):
                record = records[index]
                if record.rtype == DNAME or (record.rtype == RRSIG
                                             and record.rdata[:2] == b"\x00\x27"):
                    keep.add(index)
    return [records[i] for i in sorted(keep)], chain


def _target(record: WireRecord) -> bytes:
    """The name an NS, MX or SRV record points to, lowercased."""
    skip = {rr.NS: 0, MX: 2, rr.SRV: 6}[record.rtype]
    return record.rdata[skip:].lower()
