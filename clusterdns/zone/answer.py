"""Answering one question from a zone. Pure: no sockets, no clock, no logging.

The result is either a `Reply` (what goes back, before it is packed) or `FORWARD`, which
tells the server the question belongs to the upstream resolvers.
"""

from __future__ import annotations

from dataclasses import dataclass

from .build import Zone, by_type
from .records import (
    AAAA,
    ANY,
    AXFR,
    CNAME,
    HINFO,
    IXFR,
    NOERROR,
    NS,
    NXDOMAIN,
    PTR,
    REFUSED,
    SOA,
    SRV,
    A,
    Record,
    fqdn,
)

MAX_CNAME_CHAIN = 10  # as CoreDNS's backend lookup


@dataclass(frozen=True)
class Reply:
    """An answer ready to pack: rcode and sections, names lowercase.

    `chase` names an out-of-zone CNAME target (an ExternalName service) whose addresses the
    server may append from upstream.
    """

    rcode: int
    answer: tuple[Record, ...] = ()
    authority: tuple[Record, ...] = ()
    additional: tuple[Record, ...] = ()
    authoritative: bool = True
    chase: str = ""


class Forward:
    """The question is outside every zone clusterdns owns."""

    def __repr__(self) -> str:
        return "FORWARD"


FORWARD = Forward()


def answer(zone: Zone, qname: str, qtype: int) -> Reply | Forward:
    """Answer `qname`/`qtype` (class IN) from `zone`, as CoreDNS's kubernetes plugin would."""
    name = fqdn(qname)
    if not zone.in_zone(name):
        claimed = _claimed(zone, name, qtype)
        if claimed is not None:
            return claimed
        # Reverse names are ours only for the PTR records we hold, and the apex of a
        # reverse zone offered to secondaries for its SOA and NS (they ask for the SOA
        # before each transfer); everything else falls through to the upstreams, like
        # CoreDNS's `fallthrough in-addr.arpa ip6.arpa`.
        if name in zone.reverse_origins:
            if qtype in (AXFR, IXFR):
                return Reply(REFUSED, authoritative=False)
            if qtype in (SOA, NS):
                return Reply(NOERROR, by_type(zone.nodes[name])[qtype])
        node = zone.lookup(name) if qtype == PTR else None
        return Reply(NOERROR, node[PTR]) if node and PTR in node else FORWARD
    if qtype in (AXFR, IXFR):
        return Reply(REFUSED, authoritative=False)
    node = zone.lookup(name)
    if node is None:
        return Reply(NXDOMAIN, authority=(zone.soa,))
    if qtype == ANY:
        # RFC 8482: one synthesized HINFO instead of everything the name has.
        return Reply(NOERROR, (Record(name, HINFO, zone.ttl, ("RFC8482", "")),))
    records = node.get(qtype)
    if records:
        extra = zone.additional.get(name, ()) if qtype in (SRV, NS) else ()
        return Reply(NOERROR, records, additional=extra)
    cname = node.get(CNAME)
    if cname and qtype in (A, AAAA):
        return _follow(zone, cname[0], qtype)
    return Reply(NOERROR, authority=(zone.soa,))


def _follow(zone: Zone, cname: Record, qtype: int) -> Reply:
    """Follow a CNAME chain inside the zone; stop at the first name outside it."""
    chain = [cname]
    while len(chain) <= MAX_CNAME_CHAIN:
        target = str(chain[-1].data)
        if not zone.in_zone(target):
            return Reply(NOERROR, tuple(chain), chase=target)
        node = zone.lookup(target)
        if node is None:
            return Reply(NXDOMAIN, tuple(chain), authority=(zone.soa,))
        if node.get(qtype):
            return Reply(NOERROR, tuple(chain) + node[qtype])
        following = node.get(CNAME)
        if not following or following[0] in chain:
            break
        chain.append(following[0])
    return Reply(NOERROR, tuple(chain), authority=(zone.soa,))


def _claimed(zone: Zone, name: str, qtype: int, seen: tuple[str, ...] = ()) -> Reply | None:
    """A name outside the cluster zone that the manifests claim (an Ingress, Gateway API or
    LoadBalancer hostname), or a name in `--external-zone`; None for every other name.

    Answered with authority for those names alone. An exact hostname outside any external
    zone has no SOA to give, so its NODATA carries none. A CNAME (a load balancer known by
    hostname) is followed as an ExternalName's is: through names clusterdns holds, else
    `chase` asks the upstreams for the target.
    """
    names = zone.hostnames
    apex = names.zone_of(name)
    soa = (names.zones[apex],) if apex else ()
    records = names.find(name)
    if records is None:
        if apex is None:
            return None
        return Reply(NOERROR if name in names.empty else NXDOMAIN, authority=soa)
    if qtype in (AXFR, IXFR):
        return Reply(REFUSED, authoritative=False)
    if qtype == ANY:
        return Reply(NOERROR, (Record(name, HINFO, zone.ttl, ("RFC8482", "")),))
    asked = tuple(r for r in records if r.rtype == qtype)
    if asked:
        return Reply(NOERROR, asked)
    cname = next((r for r in records if r.rtype == CNAME), None)
    if cname is None or qtype == CNAME:
        return Reply(NOERROR, authority=soa)
    target = str(cname.data)
    if zone.in_zone(target):
        rest = answer(zone, target, qtype)
    elif target in seen or len(seen) >= MAX_CNAME_CHAIN:
        return Reply(NOERROR, (cname,), authority=soa)  # a loop: stop, as `_follow` does
    elif names.find(target) is not None or names.zone_of(target):
        rest = _claimed(zone, target, qtype, (*seen, name))
    else:
        return Reply(NOERROR, (cname,), chase=target)
    assert isinstance(rest, Reply)
    return Reply(rest.rcode, (cname, *rest.answer), rest.authority, rest.additional,
                 chase=rest.chase)
