"""In-zone replies kept as wire bytes, so a repeated question costs a lookup and a splice.

Reading a query and writing its reply costs some 25 microseconds; reading the key
and splicing the ID and name back costs about one. Replies are stored the first time
the slow path answers a question (there are far too many possible names to build them
all up front), in a table that belongs to one zone: a reload replaces the whole table
together with the zone, so no reply outlives the zone it came from.

Only replies that depend on nothing but the query bytes and the zone may be stored:
never a forwarded answer, an ExternalName chase, or a refusal that depends on the
client's address.
"""

from __future__ import annotations

from typing import TypeVar

from . import wire

_T = TypeVar("_T")

# Each table holds every name of a 10,000-service zone in one or two variants, at a few
# hundred bytes each; random names evict the oldest entries instead of growing memory.
DEFAULT_LIMIT = 50_000


class PackedAnswers:
    """Stored replies, looked up two ways, separately for UDP and for TCP (cut at 64 KiB).

    First by the query's exact bytes after the ID: a client repeating its own question
    (the common case: dnsperf, a resolver's retries, every pod asking the same names)
    costs one slice, one lookup and one concatenation. Then by `wire.answer_key`, which
    folds the name's case, so any other spelling (0x20-randomised resolvers) still skips
    the slow path and gets its own case spliced back.
    """

    __slots__ = ("_exact", "_folded", "_limit", "udp_exact")

    def __init__(self, limit: int = DEFAULT_LIMIT) -> None:
        self._limit = limit
        self._exact: tuple[dict[bytes, bytes], ...] = ({}, {})
        self._folded: tuple[dict[bytes, tuple[bytes, bytes]], ...] = ({}, {})
        # The UDP exact table itself, for the one caller that counts every call it makes:
        # the UDP transport looks replies up here before anything else (see `reply`).
        self.udp_exact = self._exact[False]

    def __len__(self) -> int:
        return sum(len(table) for table in self._exact + self._folded)

    def reply(self, data: bytes, tcp: bool) -> bytes | None:
        """The stored reply to `data`, made the client's; None when it must be computed."""
        stored = self._exact[tcp].get(data[2:])
        if stored is not None:
            return data[:2] + stored
        found = wire.answer_key(data)
        if found is None:
            return None
        entry = self._folded[tcp].get(found[0])
        if entry is None:
            return None
        return wire.splice(data, found[1], entry[0], entry[1])

    def store(self, data: bytes, tcp: bool, reply: bytes) -> bool:
        """Keep `reply`, which the slow path computed for `data`, for the next asker; True
        when it was kept.

        Only ordinary queries (those `wire.answer_key` reads) are kept, and only when the
        reply's question section is the query's own, so the splice lines up. When a table
        is full its oldest entry makes room: first-in-first-out keeps the hit path free of
        bookkeeping.
        """
        found = wire.answer_key(data)
        if found is None:
            return False
        key, end = found
        if reply[4:6] != b"\x00\x01" or reply[12:end].lower() != data[12:end].lower():
            return False
        self._keep(self._exact[tcp], data[2:], reply[2:])
        self._keep(self._folded[tcp], key, (reply[2:12], reply[end:]))
        return True

    def sample(self, on: bool) -> None:
        """While `on`, the UDP fast path finds nothing and every stored reply goes out
        through `reply`, where it is counted in full (see `ops.metrics.sample_stored`)."""
        self.udp_exact = {} if on else self._exact[False]

    def sizes(self) -> dict[str, int]:
        """Stored replies per table: the UDP and the TCP one."""
        return {"udp": len(self._exact[False]), "tcp": len(self._exact[True])}

    def _keep(self, table: dict[bytes, _T], key: bytes, value: _T) -> None:
        if len(table) >= self._limit:
            del table[next(iter(table))]
        table[key] = value
