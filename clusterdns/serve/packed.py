"""In-zone replies kept as wire bytes, so a repeated question costs a lookup and a splice.

Reading a query and writing its reply costs some 25 microseconds; reading the key
and splicing the ID and name back costs about one. Replies are stored the first time
the slow path answers a question (there are far too many possible names to build them
all up front), in tables that belong to one zone: a reload empties them in the step that
swaps the zone, so no reply outlives the zone it came from.

Only replies that depend on nothing but the query bytes and the zone may be stored:
never a forwarded answer, an ExternalName chase, or a refusal that depends on the
client's address.
"""

from __future__ import annotations

from typing import Any, TypeVar

from . import native, wire

_T = TypeVar("_T")

# Each table holds every name of a 10,000-service zone in one or two variants, at a few
# hundred bytes each; random names evict the oldest entries instead of growing memory.
DEFAULT_LIMIT = 50_000


class FifoTable(dict[bytes, _T]):
    """A dict that drops its oldest entry to take a new one at `limit`.

    First-in-first-out keeps the hit path free of bookkeeping: a lookup is `dict.get`.
    Where `_batchloop` is built, the UDP exact table is its `ReplyTable`, which keeps the
    same order in C memory and has the same `get`, `put`, `clear` and `paused`.
    """

    def __init__(self, limit: int) -> None:  # dict's own __init__ would take items
        self.limit = limit
        self.paused = False  # only answering threads look at this: there are none here

    def put(self, key: bytes, value: _T) -> None:
        if len(self) >= self.limit and key not in self:
            del self[next(iter(self))]
        self[key] = value


def udp_table(limit: int = DEFAULT_LIMIT) -> Any:
    """A new UDP exact table: in C memory where `_batchloop` is built, else a dict."""
    return native.ReplyTable(limit) if native.available() else FifoTable(limit)


class PackedAnswers:
    """Stored replies, looked up two ways, separately for UDP and for TCP (cut at 64 KiB).

    First by the query's exact bytes after the ID: a client repeating its own question
    (the common case: dnsperf, a resolver's retries, every pod asking the same names)
    costs one slice, one lookup and one concatenation. Then by `wire.answer_key`, which
    folds the name's case, so any other spelling (0x20-randomised resolvers) still skips
    the slow path and gets its own case spliced back.

    The UDP exact table is the one the answering threads (`native.Answerer`) read: they
    hold it for as long as they run, so a new zone's `PackedAnswers` (`renewed`) empties
    that same table instead of making another.
    """

    __slots__ = ("_exact", "_folded", "udp_exact", "udp_table")

    def __init__(self, limit: int = DEFAULT_LIMIT, udp: Any = None) -> None:
        self.udp_table = udp_table(limit) if udp is None else udp
        self._exact: tuple[Any, ...] = (self.udp_table, FifoTable(limit))
        self._folded = (FifoTable(limit), FifoTable(limit))
        # The UDP exact table itself, for the callers that count every call they make:
        # the UDP transports look replies up here before anything else (see `reply`).
        self.udp_exact = self.udp_table

    def renewed(self) -> PackedAnswers:
        """Empty tables for the next zone, with the same UDP exact table, emptied.

        The zone and its replies change in one step of the event loop; the answering
        threads see the table before or after it was emptied, never a mix of zones.
        """
        self.udp_table.clear()
        self.udp_table.paused = False
        return PackedAnswers(self.udp_table.limit, self.udp_table)

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
        self._exact[tcp].put(data[2:], reply[2:])
        self._folded[tcp].put(key, (reply[2:12], reply[end:]))
        return True

    def sample(self, on: bool) -> None:
        """While `on`, the UDP fast path finds nothing and every stored reply goes out
        through `reply`, where it is counted in full (see `ops.metrics.sample_stored`):
        the answering threads then hand every datagram to the event loop."""
        self.udp_exact = {} if on else self.udp_table
        self.udp_table.paused = on

    def sizes(self) -> dict[str, int]:
        """Stored replies per table: the UDP and the TCP one."""
        return {"udp": len(self._exact[False]), "tcp": len(self._exact[True])}
