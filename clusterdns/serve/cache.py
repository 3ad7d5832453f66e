"""Upstream answers kept for as long as their TTLs allow. Pure: no sockets, the clock is given.

What is kept and for how long follows CoreDNS's cache plugin and RFC 2308:

- a positive answer lives as long as its smallest TTL, capped at `max_ttl` (3600 s);
- a negative answer (NXDOMAIN, or NOERROR with an empty answer section) lives
  min(SOA TTL, SOA MINIMUM), capped at `max_negative_ttl` (1800 s); without an SOA it is
  not kept at all (RFC 2308 section 5);
- anything else (SERVFAIL, REFUSED, a truncated reply, a TTL of 0) is not kept, so a
  failing upstream is asked again rather than remembered as failing.

`lifetime` also gives the ceiling no served TTL may pass, and `forwarded.prepare` applies
it to the first reply already, so the first client and every later one see the same
caps. Entries are kept packed (`forwarded.Forwarded`) and age by the time since the
upstream answered. The cache is bounded: past `capacity` entries the least recently used
one goes.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from typing import TYPE_CHECKING

from ..zone.records import NOERROR, NXDOMAIN, SOA
from .message import WireRecord

if TYPE_CHECKING:
    from .forwarded import Forwarded

DEFAULT_CAPACITY = 10_000
DEFAULT_MAX_TTL = 3600  # CoreDNS cache: `success` TTL cap
DEFAULT_MAX_NEGATIVE_TTL = 1800  # CoreDNS cache: `denial` TTL cap


def lifetime(rcode: int, answer: Sequence[WireRecord], authority: Sequence[WireRecord],
             additional: Sequence[WireRecord] = (), max_ttl: int = DEFAULT_MAX_TTL,
             max_negative_ttl: int = DEFAULT_MAX_NEGATIVE_TTL) -> tuple[int, int]:
    """How many seconds an answer may be cached (0: not at all), and its TTL ceiling.

    The ceiling is the cap for positive answers and, for negative ones, the negative TTL
    itself: the SOA then says how long the denial holds, never longer than it is kept.
    """
    if rcode not in (NOERROR, NXDOMAIN):
        return 0, max_ttl
    records = [*answer, *authority, *additional]
    if rcode == NXDOMAIN or not answer:
        soas = [r for r in authority if r.rtype == SOA]
        if not soas:
            return 0, max_negative_ttl
        # RFC 2308 section 5: the SOA's own TTL or its MINIMUM field, whichever is smaller.
        limits = [r.ttl for r in records] + [_soa_minimum(r) for r in soas]
        seconds = max(0, min(min(limits), max_negative_ttl))
        return seconds, seconds
    return max(0, min(min(r.ttl for r in records), max_ttl)), max_ttl


def _soa_minimum(record: WireRecord) -> int:
    return int.from_bytes(record.rdata[-4:], "big")


class Cache:
    """A bounded LRU map from a question key to a packed upstream answer, with TTL expiry."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY, max_ttl: int = DEFAULT_MAX_TTL,
                 max_negative_ttl: int = DEFAULT_MAX_NEGATIVE_TTL,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.capacity = capacity
        self.max_ttl = max_ttl
        self.max_negative_ttl = max_negative_ttl
        self.clock = clock
        self._entries: OrderedDict[Hashable, Forwarded] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def kinds(self) -> dict[str, int]:
        """Entries by CoreDNS's cache types: `denial` (NXDOMAIN, or no answer) and `success`.

        Expired entries count until a lookup or the size bound removes them, as in CoreDNS.
        """
        denials = sum(1 for answer in self._entries.values()
                      if answer.rcode == NXDOMAIN or not answer.answer)
        return {"success": len(self._entries) - denials, "denial": denials}

    def put(self, key: Hashable, answer: Forwarded) -> bool:
        """Keep `answer` under `key` if it may be cached at all; True when it was kept."""
        if answer.lifetime <= 0 or self.capacity <= 0:
            return False
        self._entries[key] = answer
        self._entries.move_to_end(key)
        while len(self._entries) > self.capacity:
            self._entries.popitem(last=False)
        return True

    def get(self, key: Hashable) -> Forwarded | None:
        """The answer kept under `key`, or None if there is none or it has expired."""
        answer = self._entries.get(key)
        if answer is None:
            return None
        if self.clock() - answer.fetched >= answer.lifetime:
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return answer
