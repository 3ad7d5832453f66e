"""`clusterdns explain`'s reasoning (zone/explain.py): every reason it gives, with the
file and document of the object behind it, over the two fixtures."""

from __future__ import annotations

import pytest

from clusterdns.source import manifests
from clusterdns.source.hostnames import HostnameOptions
from clusterdns.source.model import Cluster, HostnameClaim
from clusterdns.zone import build as zones
from clusterdns.zone.explain import explain, near_miss
from clusterdns.zone.records import TYPE_NAMES
from clusterdns.zone.settings import ZoneSettings
from tests.cases import CLUSTER
from tests.name_cases import NAMES

TYPES = {name: number for number, name in TYPE_NAMES.items()}
SHOP = f"({CLUSTER}/shop.yaml: document"
INGRESS = f"({NAMES}/ingress.yaml: document"
GATEWAY = f"({NAMES}/gateway.yaml: document"
NAMES_SHOP = f"({NAMES}/shop.yaml: document"
UPSTREAM = ("127.0.0.1:5395",)
HOSTNAMES = HostnameOptions(("192.0.2.40",), None, ("192.0.2.50",), "lb.test")


def zone_of(folder: object, pods: str = "insecure",
            hostnames: HostnameOptions | None = None) -> zones.Zone:
    loaded = manifests.load([folder], manifests.LoadOptions(
        hostnames=hostnames or HostnameOptions()))
    assert loaded.errors == []
    return zones.build(loaded.cluster, ZoneSettings(pods=pods), serial=7)


ZONES = {
    "cluster": zone_of(CLUSTER),
    "verified": zone_of(CLUSTER, "verified"),
    "disabled": zone_of(CLUSTER, "disabled"),
    "names": zone_of(NAMES, hostnames=HOSTNAMES),
}


def lines(zone: str, name: str, qtype: str = "A", upstreams: tuple[str, ...] = UPSTREAM
          ) -> list[str]:
    return explain(ZONES[zone], name, TYPES[qtype], upstreams).lines()


# (zone, name, type, the lines explain prints), one row for each thing it can say.
ROWS = [
    ("cluster", "web.default.svc.cluster.local", "A", [
        "web.default.svc.cluster.local. A: NXDOMAIN",
        f"  why: Service web exists in namespace shop, not default: Service shop/web {SHOP} 1)"]),
    ("cluster", "wbe.shop.svc.cluster.local", "A", [
        "wbe.shop.svc.cluster.local. A: NXDOMAIN",
        "  why: no Service wbe in namespace shop; did you mean web?"]),
    ("cluster", "nope.quiet.svc.cluster.local", "A", [
        "nope.quiet.svc.cluster.local. A: NXDOMAIN",
        "  why: no Service nope in namespace quiet"]),
    ("cluster", "nope.shpo.svc.cluster.local", "A", [
        "nope.shpo.svc.cluster.local. A: NXDOMAIN",
        "  why: no namespace shpo; did you mean shop?"]),
    ("cluster", "nope.elsewhere.svc.cluster.local", "A", [
        "nope.elsewhere.svc.cluster.local. A: NXDOMAIN", "  why: no namespace elsewhere"]),
    ("cluster", "lonely.shop.svc.cluster.local", "A", [
        "lonely.shop.svc.cluster.local. A: NXDOMAIN",
        "  why: headless Service lonely in shop has no ready endpoints: selector app=nobody "
        f"matches no Pod or workload in shop: Service shop/lonely {SHOP} 14)"]),
    ("names", "db.shop.svc.cluster.local", "A", [
        "db.shop.svc.cluster.local. A: NXDOMAIN",
        "  why: headless Service db in shop has no ready endpoints: selector app=db matches "
        f"no Pod or workload in shop: Service shop/db {NAMES_SHOP} 3)"]),
    ("cluster", "db-9.db.shop.svc.cluster.local", "A", [
        "db-9.db.shop.svc.cluster.local. A: NXDOMAIN",
        "  why: Service db in shop has no endpoint named db-9 (its endpoints: db-0, db-1): "
        f"Service shop/db {SHOP} 7); did you mean db-0?"]),
    ("cluster", "_grpc._udp.api.shop.svc.cluster.local", "SRV", [
        "_grpc._udp.api.shop.svc.cluster.local. SRV: NXDOMAIN",
        "  why: Service api in shop has no port _grpc._udp (its named ports: _grpc._tcp): "
        f"Service shop/api {SHOP} 4); did you mean _grpc._tcp?"]),
    ("cluster", "_x._tcp.metrics.shop.svc.cluster.local", "SRV", [
        "_x._tcp.metrics.shop.svc.cluster.local. SRV: NXDOMAIN",
        "  why: Service metrics in shop has no port _x._tcp (it has no named ports): "
        f"Service shop/metrics {SHOP} 11)"]),
    ("cluster", "x.docs.shop.svc.cluster.local", "A", [
        "x.docs.shop.svc.cluster.local. A: NXDOMAIN",
        f"  why: ExternalName Service docs in shop has its own name only: Service shop/docs "
        f"{SHOP} 15)"]),
    ("cluster", "web.shop.svc.cluster.local", "AAAA", [
        "web.shop.svc.cluster.local. AAAA: NODATA",
        "  why: the name exists with A, SRV records, none of type AAAA: Service shop/web "
        f"{SHOP} 1)"]),
    ("cluster", "shop.svc.cluster.local", "A", [
        "shop.svc.cluster.local. A: NODATA", "  why: the name exists with no records of its own"]),
    ("disabled", "10-1-0-11.shop.pod.cluster.local", "A", [
        "10-1-0-11.shop.pod.cluster.local. A: NXDOMAIN",
        "  why: pods mode is disabled (--pods disabled): no "
        "<a-b-c-d>.<namespace>.pod.cluster.local name exists"]),
    ("verified", "10-9-9-9.shop.pod.cluster.local", "A", [
        "10-9-9-9.shop.pod.cluster.local. A: NXDOMAIN",
        "  why: pods mode is verified (--pods verified) and no pod in namespace shop has "
        "address 10.9.9.9"]),
    ("cluster", "nope-ip.shop.pod.cluster.local", "A", [
        "nope-ip.shop.pod.cluster.local. A: NXDOMAIN",
        "  why: nope-ip is not an IP address written with dashes (10-1-2-3, fd00--1)"]),
    ("cluster", "10-1-0-11.shpo.pod.cluster.local", "A", [
        "10-1-0-11.shpo.pod.cluster.local. A: NXDOMAIN",
        "  why: no namespace shpo; did you mean shop?"]),
    ("cluster", "foo.cluster.local", "A", [
        "foo.cluster.local. A: NXDOMAIN",
        "  why: not a name the Kubernetes DNS specification defines: services are "
        "<service>.<namespace>.svc.cluster.local, pods <a-b-c-d>.<namespace>.pod.cluster.local"]),
    ("cluster", "example.org", "A", [
        "example.org. A: forwarded",
        "  why: outside the cluster zone cluster.local: forwarded to 127.0.0.1:5395"]),
    ("cluster", "1.0.0.127.in-addr.arpa", "PTR", [
        "1.0.0.127.in-addr.arpa. PTR: forwarded",
        "  why: no Service or endpoint of the cluster has this address",
        "  why: outside the cluster zone cluster.local: forwarded to 127.0.0.1:5395"]),
    ("names", "shpo.test", "A", [
        "shpo.test. A: forwarded",
        "  why: no object claims shpo.test; did you mean shop.test?",
        "  why: outside the cluster zone cluster.local: forwarded to 127.0.0.1:5395"]),
    ("names", "store.other.test", "A", [
        "store.other.test. A: forwarded",
        f"  why: HTTPRoute shop/store {GATEWAY} 2) claims store.other.test, but it is not "
        "served: not attached: listener http of Gateway infra/edge accepts only "
        "*.example.test; listener admin of Gateway infra/edge allows routes from its own "
        "namespace only (allowedRoutes.namespaces.from: Same)",
        "  why: outside the cluster zone cluster.local: forwarded to 127.0.0.1:5395"]),
    ("names", "www.shop.test", "AAAA", [
        "www.shop.test. AAAA: NODATA",
        f"  why: the name has A records only, from Ingress shop/storefront {INGRESS} 1): "
        "status.loadBalancer.ingress"]),
    ("names", "pending-lb.shop.lb.test", "A", [
        "pending-lb.shop.lb.test. A: NXDOMAIN",
        f"  why: Service shop/pending-lb {NAMES_SHOP} 5) claims pending-lb.shop.lb.test, but "
        "it is not served: no address: the LoadBalancer Service has no "
        "status.loadBalancer.ingress"]),
    ("names", "web.shop.lb.test", "A", [
        "web.shop.lb.test. A: NXDOMAIN",
        "  why: Service web in shop is of type ClusterIP, not LoadBalancer: only LoadBalancer "
        f"Services are in lb.test: Service shop/web {NAMES_SHOP} 1)"]),
    ("names", "wbe-lb.shop.lb.test", "A", [
        "wbe-lb.shop.lb.test. A: NXDOMAIN",
        "  why: no Service wbe-lb in namespace shop; did you mean web-lb?"]),
    ("names", "x.y.z.lb.test", "A", [
        "x.y.z.lb.test. A: NXDOMAIN",
        "  why: names in lb.test are <service>.<namespace>.lb.test, one for each "
        "LoadBalancer Service"]),
    # Answers: each record with the objects that made it.
    ("cluster", "db-0.db.shop.svc.cluster.local", "A", [
        "db-0.db.shop.svc.cluster.local. A: NOERROR",
        "  db-0.db.shop.svc.cluster.local. 5 IN A 10.1.2.1",
        f"    from Service shop/db {SHOP} 7)", f"    from Endpoints shop/db {SHOP} 8)"]),
    ("cluster", "peer-0.peers.shop.svc.cluster.local", "A", [
        "peer-0.peers.shop.svc.cluster.local. A: NOERROR",
        "  peer-0.peers.shop.svc.cluster.local. 5 IN A 10.1.3.1",
        f"    from Service shop/peers {SHOP} 9)", f"    from Pod shop/peer-0 {SHOP} 10)"]),
    ("cluster", "cache.shop.svc.cluster.local", "AAAA", [
        "cache.shop.svc.cluster.local. AAAA: NOERROR",
        "  cache.shop.svc.cluster.local. 5 IN AAAA fd00:2::1",
        f"    from Service shop/cache {SHOP} 12)",
        f"    from EndpointSlice shop/cache-xyz {SHOP} 13)",
        "  cache.shop.svc.cluster.local. 5 IN AAAA fd00:2::2",
        f"    from Service shop/cache {SHOP} 12)",
        f"    from EndpointSlice shop/cache-xyz {SHOP} 13)"]),
    ("cluster", "10-9-9-9.shop.pod.cluster.local", "A", [
        "10-9-9-9.shop.pod.cluster.local. A: NOERROR",
        "  10-9-9-9.shop.pod.cluster.local. 5 IN A 10.9.9.9",
        "    from --pods insecure: any address in namespace shop answers"]),
    ("cluster", "10.10.96.10.in-addr.arpa", "PTR", [
        "10.10.96.10.in-addr.arpa. PTR: NOERROR",
        "  10.10.96.10.in-addr.arpa. 5 IN PTR web.shop.svc.cluster.local.",
        f"    from Service shop/web {SHOP} 1)"]),
    ("cluster", "cluster.local", "NS", [
        "cluster.local. NS: NOERROR", "  cluster.local. 5 IN NS ns.dns.cluster.local.",
        "    from the zone itself (--domain, --ttl, --listen)"]),
    ("cluster", "blog.shop.svc.cluster.local", "A", [
        "blog.shop.svc.cluster.local. A: NOERROR",
        "  blog.shop.svc.cluster.local. 5 IN CNAME blog.example.org.",
        f"    from Service shop/blog {SHOP} 16)",
        "  note: blog.example.org. is not a name clusterdns holds: the server appends its "
        "addresses from 127.0.0.1:5395"]),
    ("names", "shop.test", "A", [
        "shop.test. A: NOERROR", "  shop.test. 5 IN A 192.0.2.10",
        f"    from Ingress shop/storefront {INGRESS} 1): status.loadBalancer.ingress",
        f"  note: Ingress shop/storefront-canary {INGRESS} 2) claims shop.test too and is "
        "not served: Ingress shop/storefront claims it too and wins: created "
        "2024-01-15T09:00:00Z, before 2024-03-01T12:30:00Z"]),
    ("names", "preview-1.apps.test", "A", [
        "preview-1.apps.test. A: NOERROR", "  preview-1.apps.test. 5 IN A 192.0.2.40",
        f"    from Ingress shop/previews {INGRESS} 3), by its host *.apps.test: "
        "--ingress-address"]),
    ("names", "a.b.example.test", "A", [
        "a.b.example.test. A: NOERROR", "  a.b.example.test. 5 IN A 192.0.2.20",
        f"    from HTTPRoute infra/everything {GATEWAY} 3), by its host *.example.test: "
        f"status.addresses of Gateway infra/edge {GATEWAY} 1)"]),
    ("names", "lb.test", "NS", [
        "lb.test. NS: NOERROR", "  lb.test. 5 IN NS ns.dns.cluster.local.",
        "    from --external-zone lb.test"]),
]


@pytest.mark.parametrize(("zone", "name", "qtype", "expected"), ROWS,
                         ids=[f"{r[1]} {r[2]}" for r in ROWS])
def test_explain_says_why_and_where_from(zone: str, name: str, qtype: str,
                                         expected: list[str]) -> None:
    assert lines(zone, name, qtype) == expected


def test_generated_pods_name_their_workload() -> None:
    pod = next(p for p in ZONES["names"].cluster.pods if p.owner == "Deployment shop/web")
    dashed = pod.ips[0].replace(".", "-")
    assert lines("names", f"{dashed}.shop.pod.cluster.local")[2] == (
        f"    from Pod shop/{pod.name} of Deployment shop/web {NAMES_SHOP} 2)")


def test_forwarding_off_is_said() -> None:
    assert lines("cluster", "example.org", upstreams=())[1] == (
        "  why: outside the cluster zone cluster.local: forwarding is off (--upstream none), "
        "so it is REFUSED")
    assert lines("cluster", "example.org", upstreams=())[0] == "example.org. A: REFUSED"


def test_a_claim_inside_the_cluster_zone_is_explained() -> None:
    claim = HostnameClaim("x.shop.svc.cluster.local", ("Ingress", "shop", "i"), ("192.0.2.1",))
    zone = zones.build(Cluster(hostnames=(claim,), namespaces=frozenset({"shop"}),
                               origins={("Ingress", "shop", "i"): ("i.yaml", 2)}))
    assert explain(zone, "x.shop.svc.cluster.local", TYPES["A"]).lines()[1:] == [
        "  why: no Service x in namespace shop",
        "  why: Ingress shop/i (i.yaml: document 2) claims it, but it is inside the cluster "
        "zone cluster.local, whose names are the cluster's"]


@pytest.mark.parametrize(("word", "candidates", "guess"), [
    ("wbe", ["web", "api"], "web"),  # a swap of neighbours is one edit
    ("shpo", ["shop"], "shop"),
    ("web", ["web", "wbe"], "wbe"),  # never the word itself
    ("db", ["api"], None),
    ("frontend", ["frontned", "backend"], "frontned"),
    ("frontend", ["fronted", "frontends"], "fronted"),  # ties: alphabetical
    ("cart", ["card", "cert"], "card"),
    ("cat", ["dog"], None),
    ("checkout", ["checkoutservice"], None),  # far more than two edits
])
def test_near_misses_are_typos_not_lookalikes(word: str, candidates: list[str],
                                              guess: str | None) -> None:
    assert near_miss(word, candidates) == guess
