"""The answer function against the golden table, with no sockets involved."""

from __future__ import annotations

import pytest

from clusterdns.source import manifests
from clusterdns.zone import build as zone
from clusterdns.zone.answer import FORWARD, Reply, answer
from clusterdns.zone.records import (
    AXFR,
    IXFR,
    NOERROR,
    NS,
    NXDOMAIN,
    PTR,
    REFUSED,
    SOA,
    TYPE_NAMES,
    A,
    Record,
)
from clusterdns.zone.settings import ZoneSettings
from tests.cases import CASES, CLUSTER, SERIAL, Case

RCODES = {NOERROR: "NOERROR", NXDOMAIN: "NXDOMAIN", REFUSED: "REFUSED"}
TYPES = {name: number for number, name in TYPE_NAMES.items()}


def short(record: Record) -> str:
    name, _ttl, _class, rtype, rdata = record.text().split("\t")
    return f"{name} {rtype} {rdata}"


@pytest.fixture(scope="module")
def cluster_zone() -> zone.Zone:
    loaded = manifests.load([CLUSTER])
    cluster, errors = loaded.cluster, loaded.errors
    assert errors == []
    return zone.build(cluster, ZoneSettings(), serial=SERIAL)


@pytest.mark.parametrize("row", CASES, ids=lambda c: c.rule)
def test_golden(cluster_zone: zone.Zone, row: Case) -> None:
    reply = answer(cluster_zone, row.qname, TYPES[row.qtype])
    assert isinstance(reply, Reply)
    assert RCODES[reply.rcode] == row.rcode
    assert {short(r) for r in reply.answer} == row.answer
    if row.additional is not None:
        assert {short(r) for r in reply.additional} == row.additional
    assert [r.rtype for r in reply.authority] == ([6] if row.soa else [])
    assert reply.authoritative


def test_outside_the_zone_is_forwarded(cluster_zone: zone.Zone) -> None:
    assert answer(cluster_zone, "github.io.", A) is FORWARD
    assert answer(cluster_zone, "local.", A) is FORWARD
    assert answer(cluster_zone, "xcluster.local.", A) is FORWARD


def test_reverse_names_not_owned_are_forwarded(cluster_zone: zone.Zone) -> None:
    assert answer(cluster_zone, "8.8.8.8.in-addr.arpa.", PTR) is FORWARD
    # An owned reverse name is ours only for PTR, as with CoreDNS's fallthrough.
    assert answer(cluster_zone, "10.10.96.10.in-addr.arpa.", A) is FORWARD


def test_zone_transfers_are_refused(cluster_zone: zone.Zone) -> None:
    # Over UDP, and over TCP when no --allow-transfer hands them to serve/transfer.py.
    reply = answer(cluster_zone, "cluster.local.", AXFR)
    assert isinstance(reply, Reply) and reply.rcode == REFUSED


def test_a_reverse_zone_for_secondaries_answers_its_soa_and_ns_only(
        cluster_zone: zone.Zone) -> None:
    loaded = manifests.load([CLUSTER])
    built = zone.build(loaded.cluster, ZoneSettings(reverse_zones=("10.in-addr.arpa",)),
                       serial=SERIAL)
    reply = answer(built, "10.IN-ADDR.ARPA.", SOA)
    assert isinstance(reply, Reply) and reply.rcode == NOERROR and reply.authoritative
    assert [(r.name, r.data) for r in reply.answer] == [("10.in-addr.arpa.", built.soa.data)]
    reply = answer(built, "10.in-addr.arpa.", NS)
    assert isinstance(reply, Reply) and [short(r) for r in reply.answer] == [
        "10.in-addr.arpa. NS ns.dns.cluster.local."]
    for qtype in (AXFR, IXFR):
        reply = answer(built, "10.in-addr.arpa.", qtype)
        assert isinstance(reply, Reply) and reply.rcode == REFUSED
    assert answer(built, "10.in-addr.arpa.", A) is FORWARD
    assert answer(built, "9.9.9.10.in-addr.arpa.", PTR) is FORWARD  # not ours: as before
    assert answer(cluster_zone, "10.in-addr.arpa.", SOA) is FORWARD  # none asked for


def test_out_of_zone_externalname_target_is_left_to_chase(cluster_zone: zone.Zone) -> None:
    reply = answer(cluster_zone, "blog.shop.svc.cluster.local", A)
    assert isinstance(reply, Reply)
    assert reply.chase == "blog.example.org."
    assert [short(r) for r in reply.answer] == [
        "blog.shop.svc.cluster.local. CNAME blog.example.org."
    ]


def _zone_with(pods: str) -> zone.Zone:
    cluster = manifests.load([CLUSTER]).cluster
    return zone.build(cluster, ZoneSettings(pods=pods))


@pytest.mark.parametrize(
    ("mode", "qname", "rcode"),
    [
        ("verified", "10-1-0-11.shop.pod.cluster.local", NOERROR),
        ("verified", "192-0-2-7.shop.pod.cluster.local", NXDOMAIN),
        ("verified", "10-1-0-11.data.pod.cluster.local", NXDOMAIN),  # pod is in shop
        ("verified", "fd00-3--1.shop.pod.cluster.local", NOERROR),
        ("disabled", "10-1-0-11.shop.pod.cluster.local", NXDOMAIN),
        ("disabled", "shop.pod.cluster.local", NXDOMAIN),
        ("disabled", "pod.cluster.local", NOERROR),
        ("insecure", "1-2-3-4-5.shop.pod.cluster.local", NXDOMAIN),
        ("insecure", "01-02-03-04.shop.pod.cluster.local", NXDOMAIN),
    ],
)
def test_pod_modes(mode: str, qname: str, rcode: int) -> None:
    reply = answer(_zone_with(mode), qname, 28 if "--" in qname else A)
    assert isinstance(reply, Reply) and reply.rcode == rcode


def externalname_chain(**targets: str) -> zone.Zone:
    """A zone of ExternalName services in `default`, name -> short target name."""
    from clusterdns.source.model import Cluster, Service

    services = tuple(
        Service("default", name, type="ExternalName",
                external_name=f"{target}.default.svc.cluster.local")
        for name, target in targets.items()
    )
    return zone.build(Cluster(services=services, namespaces=frozenset({"default"})))


def test_cname_chain_inside_the_zone_stops_at_a_missing_target() -> None:
    reply = answer(externalname_chain(a="b", b="c"), "a.default.svc.cluster.local", A)
    assert isinstance(reply, Reply)
    assert reply.rcode == NXDOMAIN
    assert [r.data for r in reply.answer] == [
        "b.default.svc.cluster.local.", "c.default.svc.cluster.local."
    ]


def test_cname_loop_terminates() -> None:
    reply = answer(externalname_chain(a="b", b="a"), "a.default.svc.cluster.local", A)
    assert isinstance(reply, Reply) and len(reply.answer) == 2
