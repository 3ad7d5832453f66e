"""Golden answers for tests/manifests/cluster, one row per record rule.

The same rows are checked against the pure answer function (tests/test_answer.py) and
against the running server over UDP and TCP (tests/integration/test_records.py), so the
wire can never drift from the rules. Records are "name TTL TYPE rdata" strings, in the
order they go out: a CNAME before its target, endpoints in the order they were listed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

CLUSTER = Path(__file__).resolve().parent / "manifests" / "cluster"
Z = "cluster.local."


@dataclass(frozen=True)
class Case:
    """One question and its answer as it goes on the wire: sections in order, TTLs in."""

    rule: str
    qname: str
    qtype: str
    rcode: str = "NOERROR"
    answer: tuple[str, ...] = ()
    additional: tuple[str, ...] | None = None  # None: not checked
    soa: bool = False  # SOA expected in authority (NXDOMAIN and NODATA)


def case(rule: str, qname: str, qtype: str, *answer: str, rcode: str = "NOERROR",
         additional: tuple[str, ...] | None = None, soa: bool = False) -> Case:
    return Case(rule, qname, qtype, rcode, answer, additional, soa)


def nodata(rule: str, qname: str, qtype: str) -> Case:
    return case(rule, qname, qtype, soa=True)


def nxdomain(rule: str, qname: str, qtype: str = "A") -> Case:
    return case(rule, qname, qtype, rcode="NXDOMAIN", soa=True)


WEB = f"web.shop.svc.{Z}"
API = f"api.shop.svc.{Z}"
DB = f"db.shop.svc.{Z}"
PEERS = f"peers.shop.svc.{Z}"
CACHE = f"cache.shop.svc.{Z}"

CASES = [
    # ClusterIP services
    case("clusterip A", WEB, "A", f"{WEB} 5 A 10.96.10.10"),
    case("clusterip A, case-insensitive", "WeB.ShOp.SvC.Cluster.Local.", "A",
         f"{WEB} 5 A 10.96.10.10"),
    nodata("clusterip AAAA of an IPv4-only service is NODATA", WEB, "AAAA"),
    case("derived clusterIP for a NodePort service", f"kafka.data.svc.{Z}", "A",
         f"kafka.data.svc.{Z} 5 A 10.97.248.201"),
    case("unnamed port still gives an A record", f"metrics.shop.svc.{Z}", "A",
         f"metrics.shop.svc.{Z} 5 A 10.96.10.30"),
    # dual stack
    case("dual-stack A", API, "A", f"{API} 5 A 10.96.10.20"),
    case("dual-stack AAAA", API, "AAAA", f"{API} 5 AAAA fd00:10:96::20"),
    # headless
    case("headless A: one per ready endpoint", DB, "A", f"{DB} 5 A 10.1.2.1", f"{DB} 5 A 10.1.2.2"),
    case("headless hostname A", f"db-1.db.shop.svc.{Z}", "A", f"db-1.db.shop.svc.{Z} 5 A 10.1.2.2"),
    nxdomain("not-ready Endpoints address has no name", f"db-2.db.shop.svc.{Z}"),
    case("publishNotReadyAddresses publishes not-ready pods", PEERS, "A",
         f"{PEERS} 5 A 10.1.3.1", f"{PEERS} 5 A 10.1.3.2"),
    case("pod hostname/subdomain, dual-stack pod", f"peer-0.peers.shop.svc.{Z}", "AAAA",
         f"peer-0.peers.shop.svc.{Z} 5 AAAA fd00:3::1"),
    case("IPv6 EndpointSlice headless AAAA", CACHE, "AAAA",
         f"{CACHE} 5 AAAA fd00:2::1", f"{CACHE} 5 AAAA fd00:2::2"),
    nodata("IPv6-only headless A is NODATA", CACHE, "A"),
    case("dashed IPv6 endpoint name", f"fd00-2--2.cache.shop.svc.{Z}", "AAAA",
         f"fd00-2--2.cache.shop.svc.{Z} 5 AAAA fd00:2::2"),
    nxdomain("headless without ready endpoints is NXDOMAIN", f"lonely.shop.svc.{Z}"),
    case("endpoint name of a ClusterIP service (CoreDNS)", f"10-1-0-11.web.shop.svc.{Z}", "A",
         f"10-1-0-11.web.shop.svc.{Z} 5 A 10.1.0.11"),
    nxdomain("not-ready pod is not an endpoint", f"10-1-0-12.web.shop.svc.{Z}"),
    case("slice endpoint ready=false is skipped", API, "SRV", f"{API} 5 SRV 0 50 9090 {API}"),
    # SRV
    case("SRV named port, ClusterIP", f"_https._tcp.{WEB}", "SRV",
         f"_https._tcp.{WEB} 5 SRV 0 100 443 {WEB}", additional=(f"{WEB} 5 A 10.96.10.10",)),
    case("SRV bare name lists every port", WEB, "SRV",
         f"{WEB} 5 SRV 0 50 80 {WEB}", f"{WEB} 5 SRV 0 50 443 {WEB}"),
    case("SRV headless: one per endpoint, A in additional", f"_postgres._tcp.{DB}", "SRV",
         f"_postgres._tcp.{DB} 5 SRV 0 50 5432 db-0.{DB}",
         f"_postgres._tcp.{DB} 5 SRV 0 50 5432 db-1.{DB}",
         additional=(f"db-0.{DB} 5 A 10.1.2.1", f"db-1.{DB} 5 A 10.1.2.2")),
    case("SRV headless IPv6 targets in dashed form", f"_redis._tcp.{CACHE}", "SRV",
         f"_redis._tcp.{CACHE} 5 SRV 0 50 6379 fd00-2--1.{CACHE}",
         f"_redis._tcp.{CACHE} 5 SRV 0 50 6379 fd00-2--2.{CACHE}",
         additional=(f"fd00-2--1.{CACHE} 5 AAAA fd00:2::1", f"fd00-2--2.{CACHE} 5 AAAA fd00:2::2")),
    case("SRV over UDP protocol, weight counts dual-stack pairs", f"_gossip._udp.{PEERS}", "SRV",
         f"_gossip._udp.{PEERS} 5 SRV 0 33 7946 peer-0.{PEERS}",
         f"_gossip._udp.{PEERS} 5 SRV 0 33 7946 peer-1.{PEERS}"),
    nxdomain("SRV with the wrong protocol", f"_https._udp.{WEB}", "SRV"),
    nxdomain("SRV for an unknown port name", f"_nope._tcp.{WEB}", "SRV"),
    nodata("protocol label alone is an empty non-terminal", f"_tcp.{WEB}", "SRV"),
    case("SRV for an unnamed port only on the bare name", f"metrics.shop.svc.{Z}", "SRV",
         f"metrics.shop.svc.{Z} 5 SRV 0 100 9100 metrics.shop.svc.{Z}"),
    nodata("SRV on an ExternalName is NODATA", f"blog.shop.svc.{Z}", "SRV"),
    # PTR
    case("PTR of a clusterIP", "10.10.96.10.in-addr.arpa.", "PTR",
         f"10.10.96.10.in-addr.arpa. 5 PTR {WEB}"),
    case("PTR of a headless endpoint", "2.2.1.10.in-addr.arpa.", "PTR",
         f"2.2.1.10.in-addr.arpa. 5 PTR db-1.{DB}"),
    case("PTR of an IPv6 clusterIP",
         "0.2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.6.9.0.0.0.1.0.0.0.0.d.f.ip6.arpa.", "PTR",
         "0.2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.6.9.0.0.0.1.0.0.0.0.d.f.ip6.arpa. 5 PTR "
         f"{API}"),
    case("PTR of an IPv6 endpoint",
         "2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.2.0.0.0.0.0.d.f.ip6.arpa.", "PTR",
         "2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.2.0.0.0.0.0.d.f.ip6.arpa. 5 PTR "
         f"fd00-2--2.{CACHE}"),
    # ExternalName
    case("ExternalName in-zone target is followed", f"docs.shop.svc.{Z}", "A",
         f"docs.shop.svc.{Z} 5 CNAME {WEB}", f"{WEB} 5 A 10.96.10.10"),
    case("ExternalName CNAME query", f"blog.shop.svc.{Z}", "CNAME",
         f"blog.shop.svc.{Z} 5 CNAME blog.example.org."),
    # pods
    case("pod A (insecure)", f"10-1-0-11.shop.pod.{Z}", "A",
         f"10-1-0-11.shop.pod.{Z} 5 A 10.1.0.11"),
    case("pod A for any IP in insecure mode", f"192-0-2-7.shop.pod.{Z}", "A",
         f"192-0-2-7.shop.pod.{Z} 5 A 192.0.2.7"),
    case("pod AAAA from a dashed IPv6 name", f"fd00-3--1.shop.pod.{Z}", "AAAA",
         f"fd00-3--1.shop.pod.{Z} 5 AAAA fd00:3::1"),
    nodata("pod AAAA of an IPv4 pod name is NODATA", f"10-1-0-11.shop.pod.{Z}", "AAAA"),
    nxdomain("pod name in a namespace that does not exist", f"10-1-0-11.nowhere.pod.{Z}"),
    nxdomain("pod label that is not an IP", f"not-an-ip.shop.pod.{Z}"),
    # apex and meta
    case("SOA at the apex", Z, "SOA",
         f"{Z} 5 SOA ns.dns.{Z} hostmaster.{Z} 1700000000 7200 1800 86400 5"),
    case("NS at the apex with its address", Z, "NS", f"{Z} 5 NS ns.dns.{Z}",
         additional=(f"ns.dns.{Z} 5 A 127.0.0.1",)),
    case("ns.dns A", f"ns.dns.{Z}", "A", f"ns.dns.{Z} 5 A 127.0.0.1"),
    case("dns-version TXT", f"dns-version.{Z}", "TXT", f'dns-version.{Z} 28800 TXT "1.1.0"'),
    nodata("apex A is NODATA", Z, "A"),
    nodata("namespace with objects is NODATA", f"shop.svc.{Z}", "A"),
    nodata("Namespace object without objects is NODATA", f"quiet.svc.{Z}", "A"),
    nodata("svc.<zone> is NODATA", f"svc.{Z}", "A"),
    nodata("pod.<zone> is NODATA", f"pod.{Z}", "A"),
    nodata("namespace under pod.<zone> is NODATA", f"shop.pod.{Z}", "A"),
    nxdomain("unknown namespace is NXDOMAIN", f"nowhere.svc.{Z}"),
    nxdomain("unknown service is NXDOMAIN", f"nope.shop.svc.{Z}"),
    nxdomain("name that is neither svc nor pod", f"foo.{Z}"),
    nodata("existing name, other type (TXT)", WEB, "TXT"),
    nodata("SOA below the apex is NODATA", WEB, "SOA"),
    case("ANY answered with HINFO (RFC 8482)", WEB, "ANY", f'{WEB} 5 HINFO "RFC8482" ""'),
    nxdomain("ANY of a missing name", f"nope.shop.svc.{Z}", "ANY"),
]

# The serial the unit tests build with; the server uses the clock, so integration tests
# compare SOA records without it.
SERIAL = 1700000000
