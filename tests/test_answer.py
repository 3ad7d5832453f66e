"""The answer function against the golden table, with no sockets involved."""

from __future__ import annotations

import pytest

from clusterdns.source import manifests
from clusterdns.zone import build as zone
from clusterdns.zone.answer import FORWARD, MAX_CNAME_CHAIN, Reply, answer
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


def full(record: Record) -> str:
    """As the golden table writes records: name, TTL, type, data."""
    name, ttl, _class, rtype, rdata = record.text().split("\t")
    return f"{name} {ttl} {rtype} {rdata}"


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
    assert tuple(full(r) for r in reply.answer) == row.answer
    if row.additional is not None:
        assert tuple(full(r) for r in reply.additional) == row.additional
    assert reply.authority == ((cluster_zone.soa,) if row.soa else ())
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
    assert not reply.authoritative  # a refusal speaks for no data: AA off


@pytest.mark.parametrize(("links", "followed"), [(MAX_CNAME_CHAIN, True),
                                                 (MAX_CNAME_CHAIN + 1, False)])
def test_a_cname_chain_is_followed_up_to_the_limit(links: int, followed: bool) -> None:
    from clusterdns.source.model import Cluster, Service

    services = [Service("default", f"a{i}", type="ExternalName",
                        external_name=f"a{i + 1}.default.svc.cluster.local")
                for i in range(links)]
    services.append(Service("default", f"a{links}", cluster_ips=("10.96.0.9",)))
    built = zone.build(Cluster(services=tuple(services), namespaces=frozenset({"default"})))
    reply = answer(built, "a0.default.svc.cluster.local", A)
    assert isinstance(reply, Reply) and reply.rcode == NOERROR
    if followed:  # every link, then the address
        assert [r.rtype for r in reply.answer] == [5] * links + [A] and not reply.authority
    else:  # as far as the limit, then the SOA: the client may ask again from there
        assert [r.rtype for r in reply.answer] == [5] * (MAX_CNAME_CHAIN + 1)
        assert reply.authority == (built.soa,)


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


def test_a_cname_loop_ends_in_noerror_with_the_soa() -> None:
    # The loop is answered as far as it goes; no name in it is missing, so not NXDOMAIN.
    built = externalname_chain(a="b", b="a")
    reply = answer(built, "a.default.svc.cluster.local", A)
    assert isinstance(reply, Reply)
    assert (reply.rcode, reply.authority) == (NOERROR, (built.soa,))
    assert [(r.name, r.data) for r in reply.answer] == [
        ("a.default.svc.cluster.local.", "b.default.svc.cluster.local."),
        ("b.default.svc.cluster.local.", "a.default.svc.cluster.local.")]


def test_a_cname_to_a_name_without_that_type_is_nodata() -> None:
    from clusterdns.source.model import Cluster, Service

    built = zone.build(Cluster(services=(
        Service("default", "alias", type="ExternalName",
                external_name="default.svc.cluster.local"),), namespaces=frozenset({"default"})))
    reply = answer(built, "alias.default.svc.cluster.local", A)
    assert isinstance(reply, Reply)
    assert (reply.rcode, reply.authority) == (NOERROR, (built.soa,))
    assert [r.data for r in reply.answer] == ["default.svc.cluster.local."]


def test_an_in_zone_chase_puts_the_cname_before_its_target() -> None:
    from clusterdns.source.model import Cluster, Service

    built = zone.build(Cluster(services=(
        Service("default", "alias", type="ExternalName",
                external_name="web.default.svc.cluster.local"),
        Service("default", "web", cluster_ips=("10.96.0.7",))),
        namespaces=frozenset({"default"})))
    reply = answer(built, "alias.default.svc.cluster.local", A)
    assert isinstance(reply, Reply)
    assert [(r.name, r.rtype, r.ttl) for r in reply.answer] == [
        ("alias.default.svc.cluster.local.", 5, 5), ("web.default.svc.cluster.local.", A, 5)]
