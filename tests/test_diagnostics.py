"""Names that will be empty, and why (zone/diagnostics.py)."""

from __future__ import annotations

from clusterdns.source.model import (
    EXTERNAL_NAME,
    Cluster,
    EndpointAddress,
    EndpointPort,
    EndpointSet,
    Pod,
    Service,
)
from clusterdns.zone.build import service_endpoints
from clusterdns.zone.diagnostics import empty_names

Z = "cluster.local."


def messages(cluster: Cluster, origins: dict | None = None) -> list[str]:
    return [str(w) for w in empty_names(cluster, Z, origins)]


def headless(name: str, selector: dict[str, str] | None = None, **fields: object) -> Service:
    return Service("shop", name, headless=True,
                   selector=tuple(sorted(selector.items())) if selector else None,
                   **fields)  # type: ignore[arg-type]


def cluster(*services: Service, pods: tuple[Pod, ...] = (),
            endpoints: tuple[EndpointSet, ...] = ()) -> Cluster:
    return Cluster(services, pods, endpoints, frozenset({"shop"}))


def test_a_headless_service_whose_selector_matches_nothing() -> None:
    found = messages(cluster(headless("db", {"app": "db"})),
                     {("Service", "shop", "db"): ("/m/db.yaml", 2)})
    assert found == ["/m/db.yaml: document 2: Service shop/db: headless with no ready "
                     "endpoints: db.shop.svc.cluster.local will be NXDOMAIN (selector app=db "
                     "matches no Pod or workload in shop)"]


def test_why_a_headless_service_is_empty() -> None:
    written = Pod("shop", "p", labels=(("app", "db"),))  # no status.podIP
    unready = Pod("shop", "q", labels=(("app", "cache"),), ips=("10.1.0.1",), ready=False)
    dead = EndpointSet("shop", "old", (EndpointAddress("10.1.0.2", ready=False),),
                       (EndpointPort("", 80),))
    found = messages(cluster(headless("db", {"app": "db"}), headless("cache", {"app": "cache"}),
                             headless("bare"), headless("old"),
                             pods=(written, unready), endpoints=(dead,)))
    reasons = [m.split(" (", 1)[1] for m in found]
    assert reasons == [
        "the 1 Pod(s) it selects have no status.podIP (with no kubelet, a Pod manifest must "
        "give it; workloads get one))",
        "the 1 Pod(s) it selects are not ready (publishNotReadyAddresses is off))",
        "no selector, and no Endpoints or EndpointSlice of that name)",
        "its Endpoints/EndpointSlices list no ready address)",
    ]


def test_endpoints_worked_out_by_the_caller_give_the_same_warnings() -> None:
    written = Pod("shop", "p", labels=(("app", "db"),))
    dead = EndpointSet("shop", "old", (EndpointAddress("10.1.0.2", ready=False),),
                       (EndpointPort("", 80),))
    given = cluster(headless("db", {"app": "db"}), headless("old"), pods=(written,),
                    endpoints=(dead,))
    own = empty_names(given, Z)
    assert len(own) == 2
    assert empty_names(given, Z, endpoints=service_endpoints(given)) == own


def test_services_with_endpoints_and_other_kinds_are_quiet() -> None:
    pod = Pod("shop", "p", labels=(("app", "db"),), ips=("10.1.0.1",))
    quiet = cluster(headless("db", {"app": "db"}), Service("shop", "web", cluster_ips=(
        "10.96.0.1",), selector=(("app", "none"),)),
        Service("shop", "ext", EXTERNAL_NAME, headless=True, external_name="example.org"),
        pods=(pod,))
    assert messages(quiet) == []


def test_endpoints_without_their_service() -> None:
    orphan = EndpointSet("shop", "gone", (EndpointAddress("10.1.0.2"),), (), "Endpoints gone")
    sliced = EndpointSet("shop", "gone2", (EndpointAddress("10.1.0.3"),), (),
                         "EndpointSlice gone2-abcde")
    found = messages(cluster(endpoints=(orphan, sliced)),
                     {("EndpointSlice", "shop", "gone2-abcde"): ("/m/s.yaml", 1)})
    assert found == [
        "Endpoints shop/gone: no Service gone in shop: its addresses are not served",
        "/m/s.yaml: document 1: EndpointSlice shop/gone2-abcde: no Service gone2 in shop: its "
        "addresses are not served",
    ]


def sts_pods(service_name: str, labels: tuple = (("app", "web"),)) -> tuple[Pod, ...]:
    return tuple(Pod("shop", f"web-{i}", labels, f"web-{i}", service_name, (f"10.244.0.{i}",),
                     owner="StatefulSet shop/web") for i in range(3))


def test_a_statefulset_service_name_that_names_no_service_warns_once() -> None:
    found = messages(cluster(pods=sts_pods("nginx")),
                     {("StatefulSet", "shop", "web"): ("/m/web.yaml", 1)})
    assert found == ["/m/web.yaml: document 1: spec.serviceName: StatefulSet shop/web: "
                     "web-0.nginx.shop.svc.cluster.local will not resolve: no Service nginx "
                     "in shop"]


def test_a_subdomain_service_that_does_not_select_the_pod() -> None:
    service = headless("nginx", {"app": "other"})
    found = messages(cluster(service, pods=sts_pods("nginx")))
    assert found[-1] == ("spec.serviceName: StatefulSet shop/web: web-0.nginx.shop.svc."
                         "cluster.local will not resolve: Service nginx's selector does not "
                         "match the pod's labels")
    pod = Pod("shop", "solo", (), "solo", "nginx", ("10.244.1.1",))
    assert messages(cluster(headless("nginx"), pods=(pod,)))[-1] == (
        "spec.subdomain: Pod shop/solo: solo.nginx.shop.svc.cluster.local will not resolve: "
        "Service nginx has no selector")


def test_pods_whose_hostname_name_exists_are_quiet() -> None:
    assert messages(cluster(headless("nginx", {"app": "web"}), pods=sts_pods("nginx"))) == []


def test_a_hostname_claimed_inside_the_cluster_zone_is_not_served() -> None:
    from clusterdns.source.model import HostnameClaim

    claim = HostnameClaim("web.shop.svc.cluster.local", ("Ingress", "shop", "web"),
                          ("192.0.2.1",))
    found = messages(Cluster(hostnames=(claim,)), {("Ingress", "shop", "web"): ("/m/i.yaml", 4)})
    assert found == ["/m/i.yaml: document 4: Ingress shop/web: web.shop.svc.cluster.local is "
                     "inside the cluster zone cluster.local: not served (its names are the "
                     "cluster's)"]
