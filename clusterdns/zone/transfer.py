"""What a secondary server receives of the zones, and how one version differs from the next.

Pure. A full transfer (RFC 5936 AXFR) carries every record of one zone between two copies
of its SOA; an incremental one (RFC 1995 IXFR) only the records deleted and added since
the version the secondary holds. The zones offered are the cluster zone and the reverse
zones of `ZoneSettings.reverse_zones`, all cut out of one `Zone` and numbered with its
serial, so one reload is one new version of each.

Not everything clusterdns answers can be listed. In `--pods insecure` mode a dashed pod
name answers for any address (`10-0-0-1.<ns>.pod.<zone>`), made when a question names
it; a transfer holds the names of the pods the manifests give addresses to (in insecure
and verified mode alike), and a secondary answers NXDOMAIN for the others.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from .build import Zone
from .records import SOA, Record, fqdn

SERIAL_HALF = 1 << 31  # RFC 1982: serials compare within half the 32-bit circle


def reverse_zone(value: str) -> str:
    """The reverse zone `value` names: itself (`10.in-addr.arpa`), or the zone of an
    address range, widened to whole labels (`10.96.0.0/12` is `10.in-addr.arpa.`).

    Raises ValueError for anything else. A zone holds at least one label below
    in-addr.arpa or ip6.arpa and stops a label short of an address, so no PTR name is
    ever its apex.
    """
    try:
        network = ipaddress.ip_network(value, strict=False)
    except ValueError:
        network = None
    if network is not None:
        bits = 8 if network.version == 4 else 4
        whole = min(network.prefixlen // bits, network.max_prefixlen // bits - 1)
        if whole == 0:
            raise ValueError(f"{value!r} is wider than any reverse zone clusterdns offers")
        return ".".join(network.network_address.reverse_pointer.split(".")[-whole - 2:]) + "."
    name = fqdn(value)
    for suffix, is_label, most in ((".in-addr.arpa.", _is_octet, 3),
                                   (".ip6.arpa.", _is_nibble, 31)):
        labels = name[: -len(suffix)].split(".")
        if name.endswith(suffix) and len(labels) <= most and all(map(is_label, labels)):
            return name
    raise ValueError(f"{value!r} is neither an in-addr.arpa or ip6.arpa zone nor an "
                     "address range")


def _is_octet(label: str) -> bool:
    return label.isascii() and label.isdigit() and str(int(label)) == label and int(label) < 256


def _is_nibble(label: str) -> bool:
    return len(label) == 1 and label in "0123456789abcdef"


def outermost(names: Iterable[str]) -> tuple[str, ...]:
    """`names` without those inside another of them: a zone holds the names below it."""
    unique = sorted(set(names), key=len)
    kept: list[str] = []
    for name in unique:
        if not any(within(name, outer) for outer in kept):
            kept.append(name)
    return tuple(sorted(kept))


def origins(zone: Zone) -> tuple[str, ...]:
    """The zones a secondary may transfer: the cluster zone first, then the reverse zones."""
    return (zone.origin, *sorted(zone.reverse_origins))


def within(name: str, origin: str) -> bool:
    """Whether the lowercase FQDN `name` is `origin` or below it."""
    return name == origin or name.endswith("." + origin)


def soa(zone: Zone, origin: str) -> Record:
    """The SOA of zone `origin`: the cluster zone's, under that zone's own name."""
    return zone.soa if origin == zone.origin else Record(origin, SOA, zone.soa.ttl, zone.soa.data)


def serial(record: Record) -> int:
    """The serial of an SOA record."""
    return int(record.data[2])  # type: ignore[index]


def newer_or_same(serial_a: int, serial_b: int) -> bool:
    """Whether serial `serial_a` is `serial_b` or later in RFC 1982 serial arithmetic."""
    return (serial_a - serial_b) % (1 << 32) < SERIAL_HALF


def records(zone: Zone, origin: str) -> Iterator[Record]:
    """Every record of zone `origin` except its SOA, in no set order.

    A generator, because the zone of 10,000 services is 117,000 records: a transfer takes
    them as it fills each message, and nothing holds them all in one list.
    """
    for name, held in zone.nodes.items():
        if within(name, origin):
            yield from (r for r in held if r.rtype != SOA) if name == origin else held
    if origin == zone.origin:
        yield from zone.pod_records()


@dataclass(frozen=True)
class Change:
    """How one version of the zones became the next: the unit of an IXFR (RFC 1995).

    It covers every zone at once, as they share one serial; a transfer picks the records
    of the zone asked for. SOA records are never among `deleted` and `added`: the two
    SOAs, `old` and `new`, stand for them.
    """

    old: Record
    new: Record
    deleted: tuple[Record, ...]
    added: tuple[Record, ...]

    @property
    def size(self) -> int:
        """How many records the change names."""
        return len(self.deleted) + len(self.added)

    def of(self, origin: str) -> tuple[list[Record], list[Record]]:
        """The deleted and added records of zone `origin`."""
        return ([r for r in self.deleted if within(r.name, origin)],
                [r for r in self.added if within(r.name, origin)])


def difference(old: Zone, new: Zone) -> Change:
    """What changed from `old` to `new`, record by record.

    A reload shares the record tuples of every unchanged service between the old zone and
    the new one (see `build`), so most names are passed over by identity and only the
    names that were made again are compared.
    """
    deleted: list[Record] = []
    added: list[Record] = []
    for name, now in new.nodes.items():
        before = old.nodes.get(name, ())
        if before is not now:
            _compare(before, now, deleted, added)
    for name, before in old.nodes.items():
        if name not in new.nodes:
            _compare(before, (), deleted, added)
    _compare(tuple(old.pod_records()), tuple(new.pod_records()), deleted, added)
    return Change(old.soa, new.soa, tuple(deleted), tuple(added))


def _compare(before: Sequence[Record], now: Sequence[Record], deleted: list[Record],
             added: list[Record]) -> None:
    if before == now:
        return
    kept, made = set(before), set(now)
    deleted.extend(r for r in before if r not in made and r.rtype != SOA)
    added.extend(r for r in now if r not in kept and r.rtype != SOA)


def condense(changes: Iterable[Change]) -> Change:
    """Consecutive changes as one, from the first's old SOA to the last's new SOA.

    A record added and deleted again on the way is in neither list, so a secondary
    several versions behind gets the net difference (RFC 1995 section 5).
    """
    steps = list(changes)
    deleted: dict[Record, None] = {}
    added: dict[Record, None] = {}
    for step in steps:
        for record in step.deleted:
            if record in added:
                del added[record]
            else:
                deleted[record] = None
        for record in step.added:
            if record in deleted:
                del deleted[record]
            else:
                added[record] = None
    return Change(steps[0].old, steps[-1].new, tuple(deleted), tuple(added))
