"""The cluster zone as files other tools read: a zone file and an /etc/hosts file.

A zone file (RFC 1035 master-file syntax) is what BIND, Knot, NSD or CoreDNS's `file`
plugin serve; it holds what a secondary would get by AXFR, SOA first, so `named-checkzone`
accepts it and BIND serving it answers as clusterdns does (but for the dashed names of
pods the manifests do not hold, which clusterdns makes per question in insecure mode).
The reverse names live in zones of their own and are not in it.

A hosts file is what dnsmasq's `addn-hosts` and a container's /etc/hosts read: an address
and its names. It can say only that much: no SRV, no ExternalName CNAME.
"""

from __future__ import annotations

import ipaddress

from .zone import transfer
from .zone.build import Zone, reverse_name
from .zone.records import AAAA, PTR, A


def zone_file(zone: Zone) -> str:
    """The cluster zone in master-file syntax: the SOA, then every record, sorted."""
    records = sorted(transfer.records(zone, zone.origin),
                     key=lambda r: (r.name != zone.origin, r.name, r.rtype, r.text()))
    lines = [f"; {zone.origin} serial {transfer.serial(zone.soa)}, from clusterdns export",
             zone.soa.text(), *(record.text() for record in records)]
    return "\n".join(lines) + "\n"


def hosts_file(zone: Zone) -> str:
    """One line per address, with every name of the zone that has it.

    The first name of a line is the one the address's PTR record gives, since a resolver
    reading a hosts file answers a reverse lookup with the first name; the name server's
    own name (`ns.dns.<zone>`) is left out, as its address is only where clusterdns
    listens.
    """
    server = f"ns.dns.{zone.origin}"
    names: dict[str, list[str]] = {}
    for record in transfer.records(zone, zone.origin):
        if record.rtype in (A, AAAA) and record.name != server:
            names.setdefault(str(record.data), []).append(record.name)
    lines = []
    for ip in sorted(names, key=_address_order):
        node = zone.lookup(reverse_name(ip)) or {}
        first = [str(r.data) for r in node.get(PTR, ())[:1] if r.data in names[ip]]
        ordered = dict.fromkeys(first + sorted(names[ip]))
        lines.append(" ".join([ip, *(name.rstrip(".") for name in ordered)]))
    return "".join(line + "\n" for line in lines)


def _address_order(ip: str) -> tuple[int, int]:
    address = ipaddress.ip_address(ip)
    return address.version, int(address)
