"""Resource records as plain values, independent of any wire library.

The zone and the answer function deal only in these; `wire.py` turns them into bytes.
Keeping them small (slots, plain data) matters: a zone of 10,000 services holds a few
hundred thousand of them.
"""

from __future__ import annotations

from dataclasses import dataclass

A = 1
NS = 2
CNAME = 5
SOA = 6
PTR = 12
HINFO = 13
TXT = 16
AAAA = 28
SRV = 33
OPT = 41
IXFR = 251
AXFR = 252
ANY = 255

TYPE_NAMES = {
    A: "A", NS: "NS", CNAME: "CNAME", SOA: "SOA", PTR: "PTR", HINFO: "HINFO", TXT: "TXT",
    AAAA: "AAAA", SRV: "SRV", OPT: "OPT", IXFR: "IXFR", AXFR: "AXFR", ANY: "ANY",
}

NOERROR = 0
FORMERR = 1
SERVFAIL = 2
NXDOMAIN = 3
NOTIMP = 4
REFUSED = 5
BADVERS = 16

# SRV: (priority, weight, port, target). SOA: (mname, rname, serial, refresh, retry, expire,
# minimum). HINFO: (cpu, os). Everything else is one string: an address or a name.
RData = str | tuple[int, int, int, str] | tuple[str, str, int, int, int, int, int] | tuple[str, str]


@dataclass(frozen=True, slots=True)
class Record:
    """One resource record; `name` is a lowercase FQDN with its trailing dot."""

    name: str
    rtype: int
    ttl: int
    data: RData

    def text(self) -> str:
        """The record in zone-file syntax, as `clusterdns records` prints it."""
        data = self.data
        if self.rtype == TXT:
            rdata = f'"{data}"'
        elif self.rtype == HINFO:
            rdata = " ".join(f'"{part}"' for part in data)
        elif isinstance(data, tuple):
            rdata = " ".join(str(part) for part in data)
        else:
            rdata = data
        return f"{self.name}\t{self.ttl}\tIN\t{TYPE_NAMES.get(self.rtype, self.rtype)}\t{rdata}"


def fqdn(name: str) -> str:
    """Lowercase with exactly one trailing dot: the form every lookup key uses."""
    return name.rstrip(".").lower() + "."
