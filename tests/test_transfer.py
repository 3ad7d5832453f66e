"""What a secondary gets of the zones, and the differences IXFR sends (zone/transfer.py)."""

from __future__ import annotations

import os
import subprocess
import sys

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clusterdns.source.model import Cluster, Pod, Service, ServicePort
from clusterdns.zone import build as zones
from clusterdns.zone import transfer
from clusterdns.zone.records import NS, PTR, SOA, A, Record
from clusterdns.zone.settings import ZoneSettings
from tests.conftest import EXAMPLES, FIXTURES
from tests.strategies import clusters

REVERSE = ("10.in-addr.arpa", "0.0.d.f.ip6.arpa")
ORIGIN = "cluster.local."


def shop(*services: Service, pods: tuple[Pod, ...] = ()) -> Cluster:
    return Cluster(services=services, pods=pods, namespaces=frozenset({"shop"}))


WEB = Service("shop", "web", cluster_ips=("10.96.0.10",), ports=(ServicePort("http", 80),))
POD = Pod("shop", "web-1", ips=("10.1.0.11",))


def held(zone: zones.Zone, origin: str) -> set[Record]:
    return set(transfer.records(zone, origin))


def test_the_cluster_zone_holds_every_record_it_answers_but_its_soa() -> None:
    built = zones.build(shop(WEB, pods=(POD,)), ZoneSettings(pods="verified"), serial=7)
    records = held(built, ORIGIN)
    listed = {r for r in built.records() if built.in_zone(r.name)}
    assert records == listed - {built.soa}
    assert Record(ORIGIN, NS, 5, "ns.dns.cluster.local.") in records
    assert Record("ns.dns.cluster.local.", A, 5, "127.0.0.1") in records  # the glue
    assert Record("10-1-0-11.shop.pod.cluster.local.", A, 5, "10.1.0.11") in records
    assert not any(r.rtype == PTR for r in records)


def test_insecure_pods_list_the_known_pods_and_disabled_none() -> None:
    name = "10-1-0-11.shop.pod.cluster.local."
    insecure = zones.build(shop(WEB, pods=(POD,)))
    assert name in {r.name for r in held(insecure, ORIGIN)}
    assert insecure.lookup("10-9-9-9.shop.pod.cluster.local.")  # answered, yet not listed
    assert "10-9-9-9.shop.pod.cluster.local." not in {r.name for r in held(insecure, ORIGIN)}
    disabled = zones.build(shop(WEB, pods=(POD,)), ZoneSettings(pods="disabled"))
    assert not any(r.name.endswith(".pod.cluster.local.") for r in held(disabled, ORIGIN))


def test_a_reverse_zone_holds_its_ns_and_the_ptr_names_below_it() -> None:
    dual = Service("shop", "api", cluster_ips=("10.96.0.20", "fd00::20"))
    built = zones.build(shop(WEB, dual), ZoneSettings(reverse_zones=REVERSE), serial=9)
    assert transfer.origins(built) == (ORIGIN, "0.0.d.f.ip6.arpa.", "10.in-addr.arpa.")
    v4 = held(built, "10.in-addr.arpa.")
    assert v4 == {
        Record("10.in-addr.arpa.", NS, 5, "ns.dns.cluster.local."),
        Record("10.0.96.10.in-addr.arpa.", PTR, 5, "web.shop.svc.cluster.local."),
        Record("20.0.96.10.in-addr.arpa.", PTR, 5, "api.shop.svc.cluster.local."),
    }
    soa = transfer.soa(built, "10.in-addr.arpa.")
    assert (soa.name, soa.data) == ("10.in-addr.arpa.", built.soa.data)
    assert transfer.serial(soa) == 9
    assert {r.rtype for r in held(built, "0.0.d.f.ip6.arpa.")} == {NS, PTR}
    assert not any(r.rtype == SOA for r in held(built, ORIGIN))


def test_serials_compare_around_the_circle() -> None:
    assert transfer.newer_or_same(5, 5) and transfer.newer_or_same(6, 5)
    assert not transfer.newer_or_same(4, 5)
    assert transfer.newer_or_same(3, 0xFFFFFFF0)  # wrapped past zero: still newer
    assert not transfer.newer_or_same(0xFFFFFFF0, 3)


def everything(zone: zones.Zone) -> set[Record]:
    return {r for origin in transfer.origins(zone) for r in transfer.records(zone, origin)}


def apply(records: set[Record], change: transfer.Change) -> set[Record]:
    assert set(change.deleted) <= records, "deletes a record the secondary does not hold"
    assert not set(change.added) & records, "adds a record the secondary already holds"
    return (records - set(change.deleted)) | set(change.added)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(first=clusters(), second=clusters(), third=clusters(),
       pods=st.sampled_from(["insecure", "verified", "disabled"]))
def test_a_difference_brings_one_version_to_the_next(
        first: Cluster, second: Cluster, third: Cluster, pods: str) -> None:
    options = ZoneSettings(pods=pods, reverse_zones=REVERSE)
    one = zones.build(first, options, serial=1)
    two = zones.build(second, options, serial=2, previous=one)  # shares unchanged names
    three = zones.build(third, options, serial=3, previous=two)
    step = transfer.difference(one, two)
    assert (step.old, step.new) == (one.soa, two.soa)
    assert apply(everything(one), step) == everything(two)
    following = transfer.difference(two, three)
    condensed = transfer.condense([step, following])
    assert (condensed.old, condensed.new) == (one.soa, three.soa)
    assert apply(everything(one), condensed) == everything(three)


def test_a_record_added_then_deleted_again_is_not_in_the_condensed_change() -> None:
    plain = zones.build(shop(WEB), serial=1)
    more = zones.build(shop(WEB, Service("shop", "new", cluster_ips=("10.96.0.30",))),
                       serial=2, previous=plain)
    back = zones.build(shop(WEB), serial=3, previous=more)
    there = transfer.difference(plain, more)
    assert {r.name for r in there.added} >= {"new.shop.svc.cluster.local."}
    condensed = transfer.condense([there, transfer.difference(more, back)])
    assert condensed.deleted == condensed.added == ()
    assert transfer.serial(condensed.old) == 1 and transfer.serial(condensed.new) == 3


def test_an_unchanged_rebuild_differs_in_nothing_but_its_serial() -> None:
    first = zones.build(shop(WEB, pods=(POD,)), serial=1)
    again = transfer.difference(first, zones.build(shop(WEB, pods=(POD,)), serial=2,
                                                   previous=first))
    assert again.size == 0 and transfer.serial(again.new) == 2


def test_a_change_splits_by_zone() -> None:
    first = zones.build(shop(WEB), ZoneSettings(reverse_zones=REVERSE), serial=1)
    moved = Service("shop", "web", cluster_ips=("10.96.0.11",), ports=WEB.ports)
    second = zones.build(shop(moved), ZoneSettings(reverse_zones=REVERSE), serial=2,
                         previous=first)
    change = transfer.difference(first, second)
    deleted, added = change.of("10.in-addr.arpa.")
    assert [r.name for r in deleted] == ["10.0.96.10.in-addr.arpa."]
    assert [r.name for r in added] == ["11.0.96.10.in-addr.arpa."]
    deleted, added = change.of(ORIGIN)
    assert [r.data for r in deleted] == ["10.96.0.10"] and [r.data for r in added] == [
        "10.96.0.11"]


_TRANSFER_ORDER = """
import sys
from clusterdns import snapshot
from clusterdns.source.manifests import LoadOptions
from clusterdns.source.state import State
from clusterdns.zone.settings import ZoneSettings
from clusterdns.zone.transfer import records
zone = snapshot.take(sys.argv[1:], LoadOptions(), ZoneSettings(), State()).zone
for record in records(zone, zone.origin):
    print(record.name, record.rtype, record.data)
"""


def test_a_transfer_lists_the_records_in_one_order_whatever_the_hash_seed() -> None:
    """Secondaries and people diffing two transfers see the same order from every
    process: no set's iteration order may leak into the zone."""
    orders = {
        subprocess.run([sys.executable, "-c", _TRANSFER_ORDER, str(EXAMPLES), str(FIXTURES)],
                       env={**os.environ, "PYTHONHASHSEED": seed}, capture_output=True,
                       text=True, check=True).stdout
        for seed in ("1", "2", "3")
    }
    assert len(orders) == 1 and orders.pop().count("\n") > 100
