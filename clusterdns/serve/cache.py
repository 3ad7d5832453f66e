"""Upstream answers kept for as long as their TTLs allow. Pure: no sockets, the clock is given.

What is kept and for how long follows CoreDNS's cache plugin and RFC 2308:

- a positive answer lives as long as its smallest TTL, capped at `max_ttl` (3600 s);
- a negative answer (NXDOMAIN, or NOERROR with an empty answer section) lives
  min(SOA TTL, SOA MINIMUM), capped at `max_negative_ttl` (1800 s); without an SOA it is
  not kept at all (RFC 2308 section 5);
- anything else (SERVFAIL, REFUSED, a truncated reply, a TTL of 0) is not kept, so a
  failing upstream is asked again rather than remembered as failing.

Served copies carry TTLs counted down by the time spent in the cache, so a client never
keeps a record longer than the upstream allowed. The cache is bounded: past `capacity`
entries the least recently used one goes.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass

from dnslib import QTYPE, RCODE, RR, SOA, DNSRecord

DEFAULT_CAPACITY = 10_000
DEFAULT_MAX_TTL = 3600  # CoreDNS cache: `success` TTL cap
DEFAULT_MAX_NEGATIVE_TTL = 1800  # CoreDNS cache: `denial` TTL cap


def is_negative(message: DNSRecord) -> bool:
    """NXDOMAIN, or NODATA (NOERROR without answers): the kinds RFC 2308 caches by SOA."""
    rcode = message.header.rcode
    return rcode == RCODE.NXDOMAIN or (rcode == RCODE.NOERROR and not message.rr)


def lifetime(message: DNSRecord, max_ttl: int = DEFAULT_MAX_TTL,
             max_negative_ttl: int = DEFAULT_MAX_NEGATIVE_TTL) -> int:
    """How many seconds `message` may be served from the cache; 0 means not at all."""
    if message.header.tc or message.header.rcode not in (RCODE.NOERROR, RCODE.NXDOMAIN):
        return 0
    records = [r for r in (*message.rr, *message.auth, *message.ar) if r.rtype != QTYPE.OPT]
    if is_negative(message):
        soas = [r for r in message.auth if r.rtype == QTYPE.SOA]
        if not soas:
            return 0
        # RFC 2308 section 5: the SOA's own TTL or its MINIMUM field, whichever is smaller.
        limits = [r.ttl for r in records] + [_soa_minimum(r.rdata) for r in soas]
        return max(0, min(min(limits), max_negative_ttl))
    return max(0, min(min(r.ttl for r in records), max_ttl))


def _soa_minimum(rdata: SOA) -> int:
    return int(rdata.times[-1])


@dataclass
class _Entry:
    message: DNSRecord
    stored: float
    lifetime: int
    # No record is served with a TTL above this: the cap for positive answers, the
    # negative TTL for negative ones (the SOA then says how long the denial holds).
    ceiling: int


class Cache:
    """A bounded LRU map from a question key to an upstream reply, with TTL expiry."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY, max_ttl: int = DEFAULT_MAX_TTL,
                 max_negative_ttl: int = DEFAULT_MAX_NEGATIVE_TTL,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.capacity = capacity
        self.max_ttl = max_ttl
        self.max_negative_ttl = max_negative_ttl
        self.clock = clock
        self._entries: OrderedDict[Hashable, _Entry] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def put(self, key: Hashable, message: DNSRecord) -> bool:
        """Keep `message` under `key` if it may be cached at all; True when it was kept."""
        seconds = lifetime(message, self.max_ttl, self.max_negative_ttl)
        if seconds <= 0 or self.capacity <= 0:
            return False
        ceiling = seconds if is_negative(message) else self.max_ttl
        kept = DNSRecord(message.header, questions=list(message.questions), rr=list(message.rr),
                         auth=list(message.auth),
                         ar=[r for r in message.ar if r.rtype != QTYPE.OPT])
        self._entries[key] = _Entry(kept, self.clock(), seconds, ceiling)
        self._entries.move_to_end(key)
        while len(self._entries) > self.capacity:
            self._entries.popitem(last=False)
        return True

    def get(self, key: Hashable) -> DNSRecord | None:
        """A copy of the reply kept under `key` with TTLs counted down, or None if gone."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        age = self.clock() - entry.stored
        if age >= entry.lifetime:
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        elapsed = int(age)
        message = entry.message

        def aged(records: list[RR]) -> list[RR]:
            return [RR(r.rname, r.rtype, r.rclass, max(0, min(r.ttl, entry.ceiling) - elapsed),
                       r.rdata) for r in records]

        return DNSRecord(message.header, questions=list(message.questions), rr=aged(message.rr),
                         auth=aged(message.auth), ar=aged(message.ar))
