"""A big mapping kept in pieces, so that growing it never holds the interpreter lock for long.

A dict that outgrows its table moves every entry into one twice the size, in one C call.
At 500,000 names that is ~15 MB of fresh memory, 13 ms in a quiet process and up to 50 ms
in a busy server, with the interpreter lock held while a reload thread keeps the server
from answering. `Shards` spreads the keys over `SHARDS` dicts by hash, so each table is
1/256th of the whole and grows in well under a millisecond.

The hash of a str differs from process to process, so the order in which keys were first
added is kept apart, in lists of `STEP`: iteration follows it, as a dict's does, and a zone
transfer's records come in the same order from every process.
"""

from __future__ import annotations

from collections.abc import ItemsView, Iterable, Iterator, Mapping, ValuesView
from typing import Any, TypeVar

from .freeing import STEP, empty, empty_mapping

K = TypeVar("K")
V = TypeVar("V")

SHARDS = 256  # a power of two: the shard is the hash's low bits
_MASK = SHARDS - 1
# A dict grows at 43,691 keys into a 2.6 MB table: 1.5-3 ms to fill on a VM. Bigger maps
# are Shards.
SHARDED_KEYS = 40_000


class Shards(Mapping[K, V]):
    """A mapping that grows like a dict in insertion order, but a 256th at a time.

    Keys are never removed one by one: a reload builds a new mapping and `release`s the
    old one.
    """

    __slots__ = ("_last", "_maps", "_order")

    def __init__(self, items: Iterable[tuple[K, V]] = ()) -> None:
        self._maps: list[dict[K, V]] = [{} for _ in range(SHARDS)]
        self._last: list[K] = []  # the chunk of `_order` that new keys go to
        self._order: list[list[K]] = [self._last]
        for key, value in items:
            self[key] = value

    def __getitem__(self, key: K) -> V:
        return self._maps[hash(key) & _MASK][key]

    def get(self, key: K, default: V | None = None) -> V | None:  # type: ignore[override]
        return self._maps[hash(key) & _MASK].get(key, default)

    def __contains__(self, key: object) -> bool:
        return key in self._maps[hash(key) & _MASK]

    def __len__(self) -> int:
        return sum(len(chunk) for chunk in self._order)

    def __iter__(self) -> Iterator[K]:
        for chunk in self._order:
            yield from chunk

    def __setitem__(self, key: K, value: V) -> None:
        shard = self._maps[hash(key) & _MASK]
        size = len(shard)
        shard[key] = value
        if len(shard) != size:
            self._remember(key)

    def setdefault(self, key: K, default: V) -> V:
        """The value of `key`, after adding it with `default` if it was missing."""
        shard = self._maps[hash(key) & _MASK]
        size = len(shard)
        value = shard.setdefault(key, default)
        if len(shard) != size:
            self._remember(key)
        return value

    def list_at(self: Shards[K, list[Any]], key: K) -> list[Any]:
        """The list `key` holds, after adding an empty one if it held none (what a
        defaultdict(list) gives)."""
        shard = self._maps[hash(key) & _MASK]
        value = shard.get(key)
        if value is None:
            value = shard[key] = []
            self._remember(key)
        return value

    def _remember(self, key: K) -> None:
        """Note `key`, just added, in the order of first insertion."""
        if len(self._last) >= STEP:
            self._last = []
            self._order.append(self._last)
        self._last.append(key)

    def items(self) -> ItemsView[K, V]:
        return _Items(self)

    def values(self) -> ValuesView[V]:
        return _Values(self)

    def _pairs(self) -> Iterator[tuple[K, V]]:
        maps = self._maps
        for chunk in self._order:
            for key in chunk:
                yield key, maps[hash(key) & _MASK][key]

    def release(self) -> None:
        """Empty the mapping an item at a time (see `freeing`): for a retired zone."""
        for shard in self._maps:
            empty_mapping(shard)
        while self._order:
            empty(self._order.pop())
        self._last = []
        self._order.append(self._last)

    def __eq__(self, other: object) -> bool:
        """As a dict compares (keys and values, not order), without `Mapping`'s way of
        copying both sides into new dicts: that is the big table this class avoids."""
        if not isinstance(other, Mapping):
            return NotImplemented
        if len(self) != len(other):
            return False
        if isinstance(other, Shards):
            return all(mine == theirs for mine, theirs in zip(self._maps, other._maps,
                                                               strict=True))
        return all(other.get(key, _ABSENT) == value for key, value in self._pairs())

    __hash__ = None  # type: ignore[assignment]  # mutable, as a dict

    def __repr__(self) -> str:
        return f"Shards({len(self)} keys)"


def table_for(expected: int, items: Iterable[tuple[K, V]] = ()) -> Table[K, V]:
    """A mapping of `items` for about `expected` keys in all: Shards past `SHARDED_KEYS`,
    else a dict.

    For the maps a reload makes once per object (50,000 services, 100,000 documents):
    as a dict, the last resize fills a fresh table of several MB in one C call, 3-5 ms
    with the interpreter lock held on this kind of machine (the kernel zeroing each new
    page). Smaller maps stay dicts, which are quicker to fill.
    """
    return Shards(items) if expected > SHARDED_KEYS else dict(items)


def empty_table(table: Table[Any, Any]) -> None:
    """Empty a dict or `Shards` a step at a time (see `freeing`)."""
    if isinstance(table, Shards):
        table.release()
    else:
        empty_mapping(table)


def unordered_values(table: Table[K, V]) -> Iterator[V]:
    """Every value of `table`, in no order a caller may rely on (a count, a sum): the
    quickest walk, dict by dict."""
    if not isinstance(table, Shards):
        return iter(table.values())
    return (value for shard in table._maps for value in shard.values())


_ABSENT: Any = object()


def carry(target: Table[K, V], source: Mapping[K, V], keys: Iterable[K]) -> None:
    """Set each of `keys` that `source` holds to its value there.

    A reload's way of taking unchanged names from the zone it replaces: between two
    `Shards` a key is hashed once and no method is called per key (two calls per name
    made a quarter of a reload).
    """
    if not isinstance(target, Shards):
        for key in keys:
            value = source.get(key, _ABSENT)
            if value is not _ABSENT:
                target[key] = value
        return
    maps = target._maps
    sources = source._maps if isinstance(source, Shards) else None
    for key in keys:
        index = hash(key) & _MASK
        value = (sources[index] if sources is not None else source).get(key, _ABSENT)
        if value is _ABSENT:
            continue
        shard = maps[index]
        size = len(shard)
        shard[key] = value
        if len(shard) != size:
            target._remember(key)


class _Items(ItemsView[K, V]):
    """`Shards.items()`, walked without a method call per key."""

    _mapping: Shards[K, V]

    def __iter__(self) -> Iterator[tuple[K, V]]:
        return self._mapping._pairs()


class _Values(ValuesView[V]):
    _mapping: Shards[Any, V]

    def __iter__(self) -> Iterator[V]:
        return (value for _, value in self._mapping._pairs())


# What a build fills: `Shards` beside a big served zone, a plain dict (faster) otherwise.
Table = dict[K, V] | Shards[K, V]
