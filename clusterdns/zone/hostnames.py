"""The names outside the cluster zone that the manifests claim, as records. Pure.

clusterdns answers for these exact hostnames only (Ingress hosts, Gateway API route
hostnames), so a sibling name in the same domain still goes to the upstream resolvers,
and for the whole of `--external-zone`, where a missing name is NXDOMAIN under that
zone's own SOA. Wildcards answer the names they match with the asked name as owner, as
a wildcard record would; the nearest one wins, and an exact name beats any wildcard.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from ..source.model import HostnameClaim
from .records import AAAA, CNAME, NS, SOA, A, Record, fqdn


@dataclass(frozen=True)
class Hostnames:
    """Claimed names by lowercase FQDN (`*.shop.test.` for a wildcard), and the external
    zones with their apex records."""

    records: Mapping[str, tuple[Record, ...]] = field(default_factory=dict)
    # Wildcards that stand for any number of labels (the Gateway API's); the others, an
    # Ingress's, stand for exactly one.
    deep: frozenset[str] = frozenset()
    # External zone apex -> its SOA, and every name that exists in those zones without
    # records of its own (apexes' NS aside): `shop.apps.test.` above `web.shop.apps.test.`.
    zones: Mapping[str, Record] = field(default_factory=dict)
    empty: frozenset[str] = frozenset()

    def find(self, name: str) -> tuple[Record, ...] | None:
        """The records that answer lowercase FQDN `name`, owned by `name`; None if none."""
        key = self.matching(name)
        if key is None:
            return None
        records = self.records[key]
        return records if key == name else tuple(Record(name, r.rtype, r.ttl, r.data)
                                                 for r in records)

    def matching(self, name: str) -> str | None:
        """The claimed name that answers lowercase FQDN `name`: itself, else the nearest
        wildcard that matches it; None if none."""
        if name in self.records:
            return name
        labels = name.split(".")
        for i in range(1, len(labels) - 1):
            wildcard = "*." + ".".join(labels[i:])
            if wildcard in self.records and (i == 1 or wildcard in self.deep):
                return wildcard
        return None

    def zone_of(self, name: str) -> str | None:
        """The external zone holding lowercase FQDN `name`, if any."""
        return next((apex for apex in self.zones
                     if name == apex or name.endswith("." + apex)), None)

    def all_records(self) -> list[Record]:
        return [record for records in self.records.values() for record in records]


def build(claims: Iterable[HostnameClaim], external_zone: str, origin: str, ttl: int,
          soa: Record) -> Hostnames:
    """The records of every served claim outside `origin` (the cluster zone), and of
    `external_zone` ("" for none), whose SOA copies the cluster zone's `soa` numbers."""
    records: dict[str, list[Record]] = {}
    deep = set()
    for claim in claims:
        name = fqdn(claim.name)
        if claim.unserved or name == origin or name.endswith("." + origin):
            continue  # the cluster zone's names are the cluster's (check warns)
        if claim.deep and name.startswith("*."):
            deep.add(name)
        found = records.setdefault(name, [])
        new = ([Record(name, AAAA if ":" in ip else A, ttl, ip) for ip in claim.ips]
               or [Record(name, CNAME, ttl, fqdn(claim.target))])
        found.extend(r for r in new if r not in found)
    zones: dict[str, Record] = {}
    empty: set[str] = set()
    if external_zone:
        apex = fqdn(external_zone)
        mname, _, serial, *times = soa.data  # type: ignore[misc]
        zones[apex] = Record(apex, SOA, soa.ttl, (mname, f"hostmaster.{apex}", serial, *times))
        records.setdefault(apex, [])[:0] = [zones[apex], Record(apex, NS, ttl, mname)]
        for name in list(records):
            while name.endswith("." + apex):
                name = name.split(".", 1)[1]
                if name not in records:
                    empty.add(name)
    return Hostnames({name: tuple(found) for name, found in records.items()},
                     frozenset(deep), zones, frozenset(empty))
