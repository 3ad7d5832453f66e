"""Golden answers for tests/manifests/names: Ingress, Gateway API and LoadBalancer names.

Checked against the pure answer function (tests/test_zone_hostnames.py) and over UDP and
TCP against the running server (tests/integration/test_names.py). A row whose rcode is
FORWARD is a name clusterdns does not claim: the upstreams answer it.
"""

from __future__ import annotations

from tests.cases import Case, case, nxdomain
from tests.conftest import FIXTURES

NAMES = FIXTURES / "names"
# What `serve` and `records` are given: the default addresses and the external zone.
OPTIONS = ("--ingress-address", "192.0.2.40", "--ingress-address", "2001:db8::40",
           "--gateway-address", "192.0.2.50", "--external-zone", "lb.test")
FORWARD = "FORWARD"
LB_SOA = "lb.test. 5 SOA ns.dns.cluster.local. hostmaster.lb.test."


def forwarded(rule: str, qname: str, qtype: str = "A") -> Case:
    return case(rule, qname, qtype, rcode=FORWARD)


NAME_CASES = [
    # Ingress: status first; the older of two Ingresses wins shop.test
    case("ingress host, the older claim", "shop.test.", "A", "shop.test. 5 A 192.0.2.10"),
    case("ingress host, case echoed", "Shop.TEST.", "A", "shop.test. 5 A 192.0.2.10"),
    case("second rule host", "www.shop.test.", "A", "www.shop.test. 5 A 192.0.2.10"),
    case("ingress host has no AAAA: NODATA without an SOA", "shop.test.", "AAAA"),
    case("status hostname is a CNAME", "static.shop.test.", "A",
         "static.shop.test. 5 CNAME edge.cdn.example."),
    case("CNAME asked directly", "static.shop.test.", "CNAME",
         "static.shop.test. 5 CNAME edge.cdn.example."),
    forwarded("sibling of an ingress host", "other.shop.test."),
    forwarded("parent of an ingress host", "test."),
    # Ingress wildcard: one label, --ingress-address for an Ingress without status
    case("ingress wildcard, one label", "preview-7.apps.test.", "A",
         "preview-7.apps.test. 5 A 192.0.2.40"),
    case("ingress wildcard, AAAA from the option", "preview-7.apps.test.", "AAAA",
         "preview-7.apps.test. 5 AAAA 2001:db8::40"),
    forwarded("ingress wildcard, two labels", "a.preview-7.apps.test."),
    forwarded("ingress wildcard, the bare domain", "apps.test."),
    # Gateway API: the Gateway's status addresses; listener hostnames narrow routes
    case("route hostname under the listener's", "store.example.test.", "A",
         "store.example.test. 5 A 192.0.2.20"),
    case("route hostname AAAA", "store.example.test.", "AAAA",
         "store.example.test. 5 AAAA 2001:db8::20"),
    case("route without hostnames takes the listener wildcard, any depth",
         "a.b.example.test.", "A", "a.b.example.test. 5 A 192.0.2.20"),
    forwarded("route hostname outside the listener's", "store.other.test."),
    forwarded("the listener wildcard's bare domain", "example.test."),
    case("gateway without addresses: --gateway-address", "tools.internal.test.", "A",
         "tools.internal.test. 5 A 192.0.2.50"),
    forwarded("sibling of a route hostname", "wiki.internal.test."),
    # --external-zone: LoadBalancer Services, and the whole zone authoritatively
    case("loadbalancer service", "web-lb.shop.lb.test.", "A",
         "web-lb.shop.lb.test. 5 A 192.0.2.30"),
    nxdomain("loadbalancer without status", "pending-lb.shop.lb.test."),
    nxdomain("clusterip service is not in the external zone", "web.shop.lb.test."),
    case("namespace in the external zone: empty non-terminal", "shop.lb.test.", "A", soa=True),
    case("external zone SOA", "lb.test.", "SOA", f"{LB_SOA} *"),
    case("external zone NS", "lb.test.", "NS", "lb.test. 5 NS ns.dns.cluster.local."),
    # the cluster zone is untouched
    case("cluster names still answer", "web.shop.svc.cluster.local.", "A",
         "web.shop.svc.cluster.local. 5 A 10.96.20.10"),
]
