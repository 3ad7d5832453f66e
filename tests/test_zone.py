"""Zone building rules that the golden table does not show directly."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clusterdns.shards import Shards
from clusterdns.source.model import (
    NO_PORT,
    Cluster,
    EndpointAddress,
    EndpointPort,
    EndpointSet,
    Pod,
    Service,
    ServicePort,
)
from clusterdns.zone import build as zone
from clusterdns.zone.records import AAAA, PTR, SRV, A
from clusterdns.zone.settings import ZoneSettings
from tests.strategies import clusters


@pytest.mark.parametrize(("ip", "label"), [
    ("10.1.2.3", "10-1-2-3"),
    ("fd00::1", "fd00--1"),
    ("fd00:1::", "fd00-1--0"),  # CoreDNS appends 0 so a label never ends with '-'
    ("::1", "--1"),
    ("2001:db8:0:0:1:0:0:1", "2001-db8--1-0-0-1"),
])
def test_dashed_names_round_trip(ip: str, label: str) -> None:
    import ipaddress

    assert zone.dashed(str(ipaddress.ip_address(ip))) == label
    assert zone.address_of_dashed(label) == str(ipaddress.ip_address(ip))


def test_reverse_names() -> None:
    assert zone.reverse_name("10.96.0.10") == "10.0.96.10.in-addr.arpa."
    assert zone.reverse_name("fd00::1").endswith(".0.0.d.f.ip6.arpa.")
    assert len(zone.reverse_name("fd00::1").split(".")) == 32 + 3


def web_cluster(**pod_changes: object) -> Cluster:
    fields: dict[str, object] = {"labels": (("app", "w"),), "ips": ("10.0.0.5",),
                                 "container_ports": (("http", 8080),), **pod_changes}
    pod = Pod("default", "w1", **fields)  # type: ignore[arg-type]
    service = Service("default", "w", headless=True, selector=(("app", "w"),),
                      ports=(ServicePort("web", 80, "TCP", "http"),))
    return Cluster(services=(service,), pods=(pod,), namespaces=frozenset({"default"}))


def test_named_target_port_resolves_to_the_container_port() -> None:
    built = zone.build(web_cluster())
    (srv,) = built.lookup("_web._tcp.w.default.svc.cluster.local.")[SRV]
    assert srv.data == (0, 100, 8080, "10-0-0-5.w.default.svc.cluster.local.")


def test_hostname_counts_only_when_subdomain_names_the_service() -> None:
    named = zone.build(web_cluster(hostname="h", subdomain="w"))
    assert "h.w.default.svc.cluster.local." in named.nodes
    other = zone.build(web_cluster(hostname="h", subdomain="elsewhere"))
    assert "h.w.default.svc.cluster.local." not in other.nodes
    assert "10-0-0-5.w.default.svc.cluster.local." in other.nodes


def test_label_selector_must_match_every_key() -> None:
    cluster = web_cluster(labels=(("app", "w"), ("tier", "x")))
    assert zone.build(cluster).lookup("w.default.svc.cluster.local.")
    mismatch = web_cluster(labels=(("app", "other"),))
    assert zone.build(mismatch).lookup("w.default.svc.cluster.local.") is None


def test_pods_without_ip_or_in_other_namespaces_are_not_endpoints() -> None:
    service = Service("default", "s", headless=True, selector=(("a", "b"),))
    pods = (Pod("default", "noip", labels=(("a", "b"),)),
            Pod("other", "far", labels=(("a", "b"),), ips=("10.9.9.9",)))
    built = zone.build(Cluster(services=(service,), pods=pods,
                               namespaces=frozenset({"default", "other"})))
    assert built.lookup("s.default.svc.cluster.local.") is None


def test_written_endpoints_win_over_the_selector() -> None:
    cluster = web_cluster()
    written = EndpointSet("default", "w", (EndpointAddress("10.7.7.7"),),
                          (EndpointPort("web", 80),))
    built = zone.build(Cluster(cluster.services, cluster.pods, (written,), cluster.namespaces))
    node = built.lookup("w.default.svc.cluster.local.")
    assert node is not None and [r.data for r in node[A]] == ["10.7.7.7"]


def test_portless_endpoints_give_addresses_but_no_srv() -> None:
    service = Service("default", "p", headless=True)
    endpoints = EndpointSet("default", "p", (EndpointAddress("fd00::9"),), (EndpointPort("", -1),))
    built = zone.build(Cluster((service,), (), (endpoints,), frozenset({"default"})))
    node = built.lookup("p.default.svc.cluster.local.")
    assert node is not None and AAAA in node and SRV not in node


def test_clusterip_beats_endpoint_for_ptr() -> None:
    a = Service("default", "a", cluster_ips=("10.96.0.5",), ports=(ServicePort("", 80),))
    b = Service("default", "b", headless=True)
    endpoints = EndpointSet("default", "b", (EndpointAddress("10.96.0.5"),),
                            (EndpointPort("", 80),))
    built = zone.build(Cluster((a, b), (), (endpoints,), frozenset({"default"})))
    (ptr,) = built.lookup("5.0.96.10.in-addr.arpa.")[12]
    assert ptr.data == "a.default.svc.cluster.local."


def test_other_domain_and_ttl() -> None:
    built = zone.build(web_cluster(), ZoneSettings(domain="Corp.Example", ttl=30))
    node = built.lookup("w.default.svc.corp.example.")
    assert node is not None and node[A][0].ttl == 30
    assert built.soa.name == "corp.example." and built.soa.ttl == 30


def test_soa_ttl_is_capped_at_300_but_minimum_follows_ttl() -> None:
    built = zone.build(web_cluster(), ZoneSettings(ttl=3600))
    assert built.soa.ttl == 300 and built.soa.data[-1] == 3600


def test_every_name_below_a_record_exists() -> None:
    built = zone.build(web_cluster())
    for name in built.nodes:
        if built.in_zone(name):
            parent = name.split(".", 1)[1]
            assert parent in built.nodes or not built.in_zone(parent)


def test_stats_count_what_was_built() -> None:
    stats = zone.build(web_cluster()).stats
    assert stats["services"] == 1 and stats["pods"] == 1 and stats["endpoints"] == 1
    assert stats["records"] > 5


@settings(max_examples=50, deadline=None)
@given(cluster=clusters(), pods=st.sampled_from(["insecure", "verified", "disabled"]))
def test_the_record_count_is_what_records_lists(cluster: Cluster, pods: str) -> None:
    # `check` prints the count, `records` the lines: they must agree.
    built = zone.build(cluster, ZoneSettings(pods=pods))
    assert built.stats["records"] == len(built.records())


def _same_zone(fresh: zone.Zone, incremental: zone.Zone) -> None:
    assert set(fresh.nodes) == set(incremental.nodes)
    for name, records in fresh.nodes.items():
        assert zone.by_type(records) == zone.by_type(incremental.nodes[name]), name
    assert fresh.additional == incremental.additional
    assert (fresh.soa, fresh.stats) == (incremental.soa, incremental.stats)


def _mixed(before: Cluster, after: Cluster, kept: list[Service]) -> Cluster:
    """Some of `before`'s services with their endpoints, unchanged, then `after`'s.

    The carried services come first, so a new service can lose a reverse name to one of
    them (both generators number cluster IPs the same way) and win it back once the
    carried one is gone.
    """
    keys = {s.key for s in after.services}
    carried = [s for s in kept if s.key not in keys]
    carried_keys = {s.key for s in carried}
    endpoints = [e for e in before.endpoints if (e.namespace, e.service) in carried_keys]
    return Cluster(tuple(carried) + after.services, after.pods,
                   tuple(endpoints) + after.endpoints, before.namespaces | after.namespaces)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(before=clusters(), after=clusters(), data=st.data())
def test_a_build_from_the_previous_zone_is_the_same_as_a_fresh_one(
    before: Cluster, after: Cluster, data: st.DataObject
) -> None:
    kept = data.draw(st.lists(st.sampled_from(before.services), unique=True))
    mixed = _mixed(before, after, kept)
    with pytest.MonkeyPatch.context() as patch:
        # Beside a big zone the maps are Shards, beside a small one dicts: both ways.
        patch.setattr(zone, "SHARDED_NAMES", data.draw(st.sampled_from([0, 10**9])))
        _incremental_builds_match(before, after, mixed)


def _incremental_builds_match(before: Cluster, after: Cluster, mixed: Cluster) -> None:
    first = zone.build(before, serial=1)
    second = zone.build(mixed, serial=2, previous=first)
    _same_zone(zone.build(mixed, serial=2), second)
    _same_zone(zone.build(before, serial=3), zone.build(before, serial=3, previous=second))
    _same_zone(zone.build(after, serial=3), zone.build(after, serial=3, previous=second))
    # What did not change is shared, not copied: the point of building from `previous`.
    for key, part in second.parts.items():
        if first.parts.get(key) is part:
            for name in part.names:
                assert second.nodes[name] is first.nodes[name]


def test_an_unchanged_service_is_shared_with_the_previous_zone() -> None:
    # The property test above checks sharing only where it happened; this one requires it.
    first = zone.build(web_cluster(), serial=1)
    second = zone.build(web_cluster(), serial=2, previous=first)
    name = "w.default.svc.cluster.local."
    assert second.parts[("default", "w")] is first.parts[("default", "w")]
    assert second.nodes[name] is first.nodes[name]


def test_a_build_beside_a_big_served_zone_grows_in_shards(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A reload builds while the server answers: beside a big zone, its zone-sized maps
    must be `Shards`, whose growth never holds the interpreter lock for long; the first
    build, and one beside a small zone, need not."""
    first = zone.build(web_cluster(), serial=1)
    assert not isinstance(zone.build(web_cluster(), previous=first).nodes, Shards)
    monkeypatch.setattr(zone, "SHARDED_NAMES", len(first.nodes) - 1)
    second = zone.build(web_cluster(), serial=2, previous=first)
    assert not isinstance(first.nodes, Shards)
    for mapping in (second.nodes, second.additional, second.parts):
        assert isinstance(mapping, Shards)


def test_previous_zone_with_other_rules_is_not_used() -> None:
    first = zone.build(web_cluster(), ZoneSettings(ttl=5))
    second = zone.build(web_cluster(), ZoneSettings(ttl=30), previous=first)
    node = second.lookup("w.default.svc.cluster.local.")
    assert node is not None and {r.ttl for r in node[A]} == {30}


def test_srv_weight_never_falls_below_one() -> None:
    # 100 // 200 is 0; CoreDNS writes weight 1 however many targets share the name.
    addresses = tuple(EndpointAddress(f"10.0.{i // 250}.{i % 250 + 1}") for i in range(200))
    cluster = Cluster(services=(Service("default", "many", headless=True),),
                      endpoints=(EndpointSet("default", "many", addresses,
                                             (EndpointPort("http", 80),)),),
                      namespaces=frozenset({"default"}))
    records = zone.build(cluster).lookup("_http._tcp.many.default.svc.cluster.local.")[SRV]
    assert len(records) == 200 and {r.data[1] for r in records} == {1}


def test_an_srv_target_is_listed_once_in_the_additional_section() -> None:
    # Two ports of one endpoint: two SRV records, one A record for their shared target.
    cluster = Cluster(services=(Service("default", "two", headless=True),),
                      endpoints=(EndpointSet("default", "two", (EndpointAddress("10.0.0.9"),),
                                             (EndpointPort("a", 80), EndpointPort("b", 81))),),
                      namespaces=frozenset({"default"}))
    built = zone.build(cluster)
    assert len(built.lookup("two.default.svc.cluster.local.")[SRV]) == 2
    assert [r.data for r in built.additional["two.default.svc.cluster.local."]] == ["10.0.0.9"]


def test_an_address_listed_twice_gives_each_record_once() -> None:
    # An Endpoints object whose two subsets share an address, and one that lists it twice.
    port = (EndpointPort("http", 80),)
    twice = (EndpointAddress("10.0.0.9"), EndpointAddress("10.0.0.7"), EndpointAddress("10.0.0.9"))
    cluster = Cluster(services=(Service("default", "dup", headless=True),),
                      endpoints=(EndpointSet("default", "dup", twice, port),
                                 EndpointSet("default", "dup", twice[:1], port)),
                      namespaces=frozenset({"default"}))
    built = zone.build(cluster)
    name = "dup.default.svc.cluster.local."
    assert [r.data for r in built.lookup(name)[A]] == ["10.0.0.9", "10.0.0.7"]
    assert [r.data[3] for r in built.lookup(f"_http._tcp.{name}")[SRV]] == [
        f"10-0-0-9.{name}", f"10-0-0-7.{name}"]
    assert [r.data for r in built.lookup(f"10-0-0-9.{name}")[A]] == ["10.0.0.9"]
    assert len(built.lookup("9.0.0.10.in-addr.arpa.")[PTR]) == 1
    assert built.stats["records"] == len(built.records())


@pytest.mark.parametrize("count", [3, 3000])  # a few, and more than a step (`_unique`)
def test_a_big_headless_service_gives_each_record_once_in_order(count: int) -> None:
    ips = [f"10.0.{i // 250}.{i % 250}" for i in range(count)]
    listed = tuple(EndpointAddress(ip) for ip in ips + ips[::-2])  # every other one twice
    cluster = Cluster(services=(Service("default", "big", headless=True),),
                      endpoints=(EndpointSet("default", "big", listed,
                                             (EndpointPort("http", 80),)),),
                      namespaces=frozenset({"default"}))
    built = zone.build(cluster)
    name = "big.default.svc.cluster.local."
    assert [r.data for r in built.lookup(name)[A]] == ips
    assert len(built.lookup(f"_http._tcp.{name}")[SRV]) == count


def test_a_named_port_without_a_number_exists_with_no_srv() -> None:
    # Endpoints may name a port without giving its number: the SRV name exists, empty.
    cluster = Cluster(services=(Service("default", "np", headless=True),),
                      endpoints=(EndpointSet("default", "np", (EndpointAddress("10.0.0.9"),),
                                             (EndpointPort("http", NO_PORT),)),),
                      namespaces=frozenset({"default"}))
    built = zone.build(cluster)
    assert built.lookup("_http._tcp.np.default.svc.cluster.local.") == {}


def test_an_empty_cluster_still_has_svc_and_pod_names() -> None:
    built = zone.build(Cluster())
    assert built.lookup("svc.cluster.local.") == {} and built.lookup("pod.cluster.local.") == {}


@settings(max_examples=50, deadline=None)
@given(cluster=clusters())
def test_endpoints_worked_out_by_the_caller_build_the_same_zone(cluster: Cluster) -> None:
    endpoints = zone.service_endpoints(cluster)
    assert zone.build(cluster, serial=1, endpoints=endpoints) == zone.build(cluster, serial=1)
