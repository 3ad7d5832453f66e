"""Which addresses each Ingress, Gateway API and LoadBalancer hostname gets
(source/hostnames.py), and how the manifests are read for them (source/objects.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from clusterdns.source import manifests
from clusterdns.source.hostnames import (
    HostnameOptions,
    gateway_matches,
    ingress_matches,
    intersection,
    resolve,
)
from clusterdns.source.model import (
    LOAD_BALANCER,
    Destination,
    Gateway,
    HostnameClaim,
    Ingress,
    Listener,
    ParentRef,
    Route,
    Service,
)

NAMES = Path(__file__).resolve().parent / "manifests" / "names"


@pytest.mark.parametrize(("pattern", "name", "ingress", "gateway"), [
    ("shop.test", "shop.test", True, True),
    ("shop.test", "www.shop.test", False, False),
    ("*.shop.test", "a.shop.test", True, True),
    ("*.shop.test", "a.b.shop.test", False, True),  # one label for Ingress, any for Gateway
    ("*.shop.test", "shop.test", False, False),
    ("*.shop.test", "ashop.test", False, False),
])
def test_wildcards_match_one_label_for_ingress_and_any_for_the_gateway_api(
        pattern: str, name: str, ingress: bool, gateway: bool) -> None:
    assert ingress_matches(pattern, name) is ingress
    assert gateway_matches(pattern, name) is gateway


@pytest.mark.parametrize(("listener", "route", "joined"), [
    ("", "store.example.test", "store.example.test"),  # a listener without hostname
    ("*.example.test", "", "*.example.test"),  # a route without hostnames
    ("", "", ""),  # every hostname: no name to answer for
    ("store.example.test", "store.example.test", "store.example.test"),
    ("store.example.test", "shop.example.test", None),
    ("*.example.test", "store.example.test", "store.example.test"),
    ("*.example.test", "a.store.example.test", "a.store.example.test"),
    ("*.example.test", "example.test", None),
    ("store.example.test", "*.example.test", "store.example.test"),
    ("*.example.test", "*.store.example.test", "*.store.example.test"),
    ("*.store.example.test", "*.example.test", "*.store.example.test"),
    ("*.example.test", "*.example.test", "*.example.test"),
    ("*.example.test", "*.other.test", None),
])
def test_listener_hostnames_narrow_route_hostnames_as_the_gateway_api_says(
        listener: str, route: str, joined: str | None) -> None:
    assert intersection(listener, route) == joined


def claims(*objects: object, services: tuple[Service, ...] = (),
           options: HostnameOptions | None = None) -> dict[str, list[HostnameClaim]]:
    ingresses = [o for o in objects if isinstance(o, Ingress)]
    gateways = [o for o in objects if isinstance(o, Gateway)]
    routes = [o for o in objects if isinstance(o, Route)]
    origins = {}
    for i, o in enumerate((*objects, *services)):
        kind = o.kind if isinstance(o, Route) else type(o).__name__
        origins[kind, o.namespace, o.name] = ("m.yaml", i + 1)  # type: ignore[attr-defined]
    found, _ = resolve(ingresses, gateways, routes, services, options or HostnameOptions(),
                       origins)
    out: dict[str, list[HostnameClaim]] = {}
    for claim in found:
        out.setdefault(claim.name, []).append(claim)
    return out


def served(found: dict[str, list[HostnameClaim]]) -> dict[str, tuple[str, ...] | str]:
    return {name: (c.ips or c.target) for name, cs in found.items() for c in cs
            if not c.unserved}


def test_an_ingress_leads_to_its_status_then_the_options() -> None:
    status = Ingress("shop", "a", ("a.test",), Destination(("192.0.2.1",)))
    cname = Ingress("shop", "b", ("b.test",), Destination((), ("lb.example",)))
    bare = Ingress("shop", "c", ("c.test", "*.c.test"))
    assert served(claims(status, cname, bare)) == {"a.test": ("192.0.2.1",),
                                                   "b.test": "lb.example"}
    given = HostnameOptions(ingress_addresses=("192.0.2.9", "2001:db8::9"))
    assert served(claims(bare, options=given))["*.c.test"] == ("192.0.2.9", "2001:db8::9")
    controller = Service("ingress", "nginx", cluster_ips=("10.96.0.50",))
    via_service = HostnameOptions(ingress_service=("ingress", "nginx"))
    found = claims(bare, services=(controller,), options=via_service)
    assert served(found)["c.test"] == ("10.96.0.50",)
    assert found["c.test"][0].via_object == ("Service", "ingress", "nginx")


def test_an_ingress_without_an_address_is_claimed_but_not_served() -> None:
    bare = Ingress("shop", "c", ("c.test",))
    missing = claims(bare, options=HostnameOptions(ingress_service=("ingress", "gone")))
    assert missing["c.test"][0].unserved == ("no address: --ingress-service names Service "
                                             "ingress/gone, which the manifests do not hold")
    headless = Service("ingress", "nginx", headless=True)
    found = claims(bare, services=(headless,),
                   options=HostnameOptions(ingress_service=("ingress", "nginx")))
    assert found["c.test"][0].unserved == ("no address: Service ingress/nginx "
                                           "(--ingress-service) has no cluster IP")
    assert "neither --ingress-address" in claims(bare)["c.test"][0].unserved


GATEWAY = Gateway("infra", "edge", (
    Listener("http", "*.example.test", 80, "HTTP", ("HTTPRoute", "GRPCRoute"), "All"),
    Listener("tls", "secure.example.test", 443, "TLS", ("TLSRoute",), "All"),
    Listener("mine", "", 8080, "HTTP", ("HTTPRoute",), "Same"),
), Destination(("192.0.2.20",)), Destination(("192.0.2.21",)))


def route(*hostnames: str, kind: str = "HTTPRoute", namespace: str = "shop", section: str = "",
          port: int = 0, gateway: str = "edge") -> Route:
    return Route(kind, namespace, "r", hostnames, (ParentRef("infra", gateway, section, port),))


def test_routes_take_their_gateways_addresses_through_attached_listeners() -> None:
    found = claims(GATEWAY, route("store.example.test", "store.other.test"))
    assert served(found) == {"store.example.test": ("192.0.2.20",)}
    assert found["store.example.test"][0].deep
    assert found["store.other.test"][0].unserved == (
        "not attached: listener http of Gateway infra/edge accepts only *.example.test; "
        "listener tls of Gateway infra/edge does not allow HTTPRoutes (TLS); listener mine "
        "of Gateway infra/edge allows routes from its own namespace only "
        "(allowedRoutes.namespaces.from: Same)")


def test_a_route_without_hostnames_takes_the_listeners() -> None:
    found = claims(GATEWAY, route(kind="TLSRoute"))
    assert served(found) == {"secure.example.test": ("192.0.2.20",)}
    # From the gateway's own namespace, the listener without a hostname matches every
    # name: there is nothing to answer for.
    assert served(claims(GATEWAY, route(namespace="infra", port=8080))) == {}


def test_section_name_and_port_pick_listeners() -> None:
    assert served(claims(GATEWAY, route(section="tls", kind="TLSRoute"))) == {
        "secure.example.test": ("192.0.2.20",)}
    found = claims(GATEWAY, route("a.example.test", section="nope"))
    assert found["a.example.test"][0].unserved == (
        "not attached: Gateway infra/edge has no listener named nope")
    found = claims(GATEWAY, route("a.example.test", port=81))
    assert found["a.example.test"][0].unserved == (
        "not attached: Gateway infra/edge has no listener on port 81")
    found = claims(GATEWAY, route("a.example.test", gateway="gone"))
    assert found["a.example.test"][0].unserved == "not attached: no Gateway infra/gone"


def test_gateway_addresses_come_from_status_then_spec_then_the_option() -> None:
    from dataclasses import replace

    spec_only = replace(GATEWAY, status_addresses=Destination())
    assert served(claims(spec_only, route("a.example.test")))["a.example.test"] == (
        "192.0.2.21",)
    bare = replace(spec_only, spec_addresses=Destination())
    found = claims(bare, route("a.example.test"))
    assert found["a.example.test"][0].unserved.startswith("no address: Gateway infra/edge")
    found = claims(bare, route("a.example.test"),
                   options=HostnameOptions(gateway_addresses=("192.0.2.50",)))
    assert served(found) == {"a.example.test": ("192.0.2.50",)}
    named = replace(bare, status_addresses=Destination((), ("gw.cloud.example",)))
    assert served(claims(named, route("a.example.test"))) == {
        "a.example.test": "gw.cloud.example"}


def test_load_balancer_services_answer_in_the_external_zone_only() -> None:
    balanced = Service("shop", "web", LOAD_BALANCER, ("10.96.0.1",),
                       load_balancer=Destination(("192.0.2.30",)))
    waiting = Service("shop", "new", LOAD_BALANCER, ("10.96.0.2",))
    plain = Service("shop", "api", cluster_ips=("10.96.0.3",))
    assert claims(services=(balanced, waiting, plain)) == {}
    found = claims(services=(balanced, waiting, plain),
                   options=HostnameOptions(external_zone="lb.test"))
    assert served(found) == {"web.shop.lb.test": ("192.0.2.30",)}
    assert found["new.shop.lb.test"][0].unserved == (
        "no address: the LoadBalancer Service has no status.loadBalancer.ingress")


def test_the_older_claim_wins_a_hostname_and_the_newer_is_warned_about() -> None:
    old = Ingress("shop", "old", ("shop.test",), Destination(("192.0.2.1",)),
                  "2024-01-01T00:00:00Z")
    new = Ingress("shop", "new", ("shop.test",), Destination(("192.0.2.2",)),
                  "2024-02-01T00:00:00Z")
    undated = Ingress("shop", "undated", ("shop.test",), Destination(("192.0.2.3",)))
    for order in ((old, new, undated), (undated, new, old)):
        found = claims(*order)
        assert served(found) == {"shop.test": ("192.0.2.1",)}
    losers = {c.owner[2]: c.unserved for c in claims(undated, new, old)["shop.test"]}
    assert losers == {
        "old": "",
        "new": "Ingress shop/old claims it too and wins: created 2024-01-01T00:00:00Z, "
               "before 2024-02-01T00:00:00Z",
        "undated": "Ingress shop/old claims it too and wins: created 2024-01-01T00:00:00Z, "
                   "while an object without metadata.creationTimestamp is created when "
                   "applied",
    }
    # Without timestamps, path order decides; agreeing claims are both served, quietly.
    first = Ingress("shop", "first", ("shop.test",), Destination(("192.0.2.1",)))
    second = Ingress("shop", "second", ("shop.test",), Destination(("192.0.2.2",)))
    same = Ingress("shop", "same", ("shop.test",), Destination(("192.0.2.1",)))
    found = claims(first, second, same)
    assert [(c.owner[2], c.unserved) for c in found["shop.test"]] == [
        ("first", ""),
        ("second", "Ingress shop/first claims it too and wins: it comes first in path "
                   "order; neither has metadata.creationTimestamp"),
        ("same", ""),
    ]


def test_a_conflict_is_a_warning_naming_the_losers_file_and_document() -> None:
    first = Ingress("shop", "first", ("shop.test",), Destination(("192.0.2.1",)))
    second = Ingress("shop", "second", ("shop.test",), Destination(("192.0.2.2",)))
    origins = {("Ingress", "shop", "first"): ("a.yaml", 1),
               ("Ingress", "shop", "second"): ("b.yaml", 3)}
    _, warnings = resolve([first, second], [], [], [], HostnameOptions(), origins)
    assert [str(w) for w in warnings] == [
        "b.yaml: document 3: metadata.creationTimestamp: Ingress shop/second: shop.test is "
        "also claimed by Ingress shop/first, which wins (it comes first in path order; "
        "neither has metadata.creationTimestamp); its answer is served, not this one's"]


def test_the_fixture_reads_as_the_apis_write_it() -> None:
    loaded = manifests.load([NAMES])
    assert loaded.errors == []
    cluster = loaded.cluster
    web_lb = next(s for s in cluster.services if s.name == "web-lb")
    assert web_lb.load_balancer == Destination(("192.0.2.30",))
    found = {(c.name, c.owner[2]): c for c in cluster.hostnames}
    assert found["shop.test", "storefront"].ips == ("192.0.2.10",)
    assert found["shop.test", "storefront-canary"].unserved.startswith(
        "Ingress shop/storefront claims it too")
    assert found["static.shop.test", "assets"].target == "edge.cdn.example"
    assert found["*.example.test", "everything"].deep
    assert cluster.origins["HTTPRoute", "shop", "store"] == (str(NAMES / "gateway.yaml"), 2)


@pytest.mark.parametrize(("document", "error"), [
    ("apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: i}\n"
     "spec: {rules: [{host: 10.0.0.1}]}\n",
     "spec.rules[0].host: '10.0.0.1' is not a valid hostname (an IP address is not one)"),
    ("apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: i}\n"
     "spec: {rules: [{host: 'a.*.test'}]}\n",
     "spec.rules[0].host: 'a.*.test' is not a valid hostname (an IP address is not one)"),
    ("apiVersion: networking.k8s.io/v1\nkind: Ingress\n"
     "metadata: {name: i, creationTimestamp: yesterday}\nspec: {}\n",
     "metadata.creationTimestamp: 'yesterday' is not an RFC 3339 time"),
    ("apiVersion: v1\nkind: Service\nmetadata: {name: s}\n"
     "spec: {type: LoadBalancer, ports: [{port: 80}]}\n"
     "status: {loadBalancer: {ingress: [{ip: 192.0.2.300}]}}\n",
     "status.loadBalancer.ingress[0].ip: '192.0.2.300' is not an IP address"),
    ("apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {name: g}\n"
     "spec: {listeners: [{name: h, port: 80, protocol: HTTP}]}\n"
     "status: {addresses: [{type: Hostname, value: '*.x.test'}]}\n",
     "status.addresses[0].value: '*.x.test' is not a valid DNS name"),
])
def test_hostname_fields_are_checked_as_the_api_server_checks_them(
        tmp_path: Path, document: str, error: str) -> None:
    (tmp_path / "m.yaml").write_text(document)
    assert [str(e) for e in manifests.load([tmp_path]).errors] == [
        f"{tmp_path}/m.yaml: document 1: {error}"]


def test_an_unquoted_creation_timestamp_and_a_bad_tls_host_are_read(tmp_path: Path) -> None:
    (tmp_path / "m.yaml").write_text(
        "apiVersion: networking.k8s.io/v1\nkind: Ingress\n"
        "metadata: {name: i, namespace: shop, creationTimestamp: 2024-05-06T07:08:09+02:00}\n"
        "spec: {tls: [{hosts: [shop.test, 'bad host']}]}\n")
    loaded = manifests.load([tmp_path])
    assert loaded.errors == []
    assert [str(w).split(": ", 3)[2:] for w in loaded.warnings] == [
        ["spec.tls[0].hosts[1]", "'bad host' is not a valid hostname (an IP address is not "
         "one); not served"],
        ["status.loadBalancer.ingress", "Ingress shop/i: shop.test will not resolve: no "
         "address: the Ingress has no status.loadBalancer.ingress, and neither "
         "--ingress-address nor --ingress-service is given"]]
    assert [c.name for c in loaded.cluster.hostnames] == ["shop.test"]
    assert loaded.cluster.origins["Ingress", "shop", "i"] == (str(tmp_path / "m.yaml"), 1)
    parsed = manifests.read_file(tmp_path / "m.yaml").items[0].value
    assert isinstance(parsed, Ingress)
    assert parsed.created == "2024-05-06T05:08:09Z"
