"""Claimed names outside the cluster zone, pure (zone/hostnames.py and answer.py)."""

from __future__ import annotations

import re

import pytest

from clusterdns.serve.responder import Responder
from clusterdns.source import manifests
from clusterdns.source.hostnames import HostnameOptions
from clusterdns.source.model import Cluster, HostnameClaim, Service
from clusterdns.zone import build as zones
from clusterdns.zone.answer import FORWARD, Reply, answer
from clusterdns.zone.records import NOERROR, NXDOMAIN, SOA, TYPE_NAMES, A, Record
from clusterdns.zone.settings import ZoneSettings
from tests.cases import Case
from tests.name_cases import NAME_CASES, NAMES

RCODES = {NOERROR: "NOERROR", NXDOMAIN: "NXDOMAIN"}
TYPES = {name: number for number, name in TYPE_NAMES.items()}
HOSTNAMES = HostnameOptions(("192.0.2.40", "2001:db8::40"), None, ("192.0.2.50",), "lb.test")


def short(record: Record) -> str:
    name, _ttl, _class, rtype, rdata = record.text().split("\t")
    return re.sub(r"(hostmaster\.\S+) .*", r"\1 *", f"{name} {rtype} {rdata}")


def full(record: Record) -> str:
    """As the golden table writes records: name, TTL, type, data (an SOA without serial)."""
    name, ttl, _class, rtype, rdata = record.text().split("\t")
    return re.sub(r"(hostmaster\.\S+) .*", r"\1 *", f"{name} {ttl} {rtype} {rdata}")


@pytest.fixture(scope="module")
def names_zone() -> zones.Zone:
    loaded = manifests.load([NAMES], manifests.LoadOptions(hostnames=HOSTNAMES))
    assert loaded.errors == []
    return zones.build(loaded.cluster, ZoneSettings(), serial=7)


@pytest.mark.parametrize("row", NAME_CASES, ids=lambda c: c.rule)
def test_golden_names(names_zone: zones.Zone, row: Case) -> None:
    result = answer(names_zone, row.qname, TYPES[row.qtype])
    if row.rcode == "FORWARD":
        assert result is FORWARD
        return
    assert isinstance(result, Reply)
    assert RCODES[result.rcode] == row.rcode
    assert tuple(full(r) for r in result.answer) == row.answer
    assert any(r.rtype == SOA for r in result.authority) == row.soa
    assert result.authoritative


def test_only_a_cname_to_an_outside_target_is_chased(names_zone: zones.Zone) -> None:
    cdn = answer(names_zone, "static.shop.test.", A)
    assert isinstance(cdn, Reply) and cdn.chase == "edge.cdn.example."
    plain = answer(names_zone, "shop.test.", A)
    assert isinstance(plain, Reply) and plain.chase == ""


def zone_of(*claims: HostnameClaim, external: str = "",
            services: tuple[Service, ...] = ()) -> zones.Zone:
    return zones.build(Cluster(services, hostnames=claims, external_zone=external,
                               namespaces=frozenset({"shop"})), ZoneSettings(), serial=7)


def answers(zone: zones.Zone, name: str) -> set[str] | object:
    result = answer(zone, name, A)
    return result if result is FORWARD else {short(r) for r in result.answer}  # type: ignore[union-attr]


def test_an_exact_name_beats_the_nearest_wildcard_which_beats_a_farther_one() -> None:
    owner = ("Ingress", "shop", "i")
    zone = zone_of(HostnameClaim("*.test", owner, ("192.0.2.1",), deep=True),
                   HostnameClaim("*.shop.test", owner, ("192.0.2.2",), deep=True),
                   HostnameClaim("www.shop.test", owner, ("192.0.2.3",)))
    assert answers(zone, "www.shop.test.") == {"www.shop.test. A 192.0.2.3"}
    assert answers(zone, "a.b.shop.test.") == {"a.b.shop.test. A 192.0.2.2"}
    assert answers(zone, "shop.test.") == {"shop.test. A 192.0.2.1"}


def test_a_one_label_wildcard_lets_a_deeper_name_reach_a_farther_wildcard() -> None:
    owner = ("Ingress", "shop", "i")
    zone = zone_of(HostnameClaim("*.test", owner, ("192.0.2.1",), deep=True),
                   HostnameClaim("*.shop.test", owner, ("192.0.2.2",)))
    assert answers(zone, "a.shop.test.") == {"a.shop.test. A 192.0.2.2"}
    assert answers(zone, "a.b.shop.test.") == {"a.b.shop.test. A 192.0.2.1"}


def test_unserved_claims_and_claims_inside_the_cluster_zone_make_no_record() -> None:
    owner = ("Ingress", "shop", "i")
    zone = zone_of(HostnameClaim("a.test", owner, unserved="no address"),
                   HostnameClaim("x.shop.svc.cluster.local", owner, ("192.0.2.1",)))
    assert answer(zone, "a.test.", A) is FORWARD
    assert answers(zone, "x.shop.svc.cluster.local.") == set()
    assert zone.hostnames.records == {}


def test_a_cname_is_followed_through_names_clusterdns_holds() -> None:
    owner = ("Ingress", "shop", "i")
    web = Service("shop", "web", cluster_ips=("10.96.0.1",))
    zone = zone_of(HostnameClaim("a.test", owner, target="b.test"),
                   HostnameClaim("b.test", owner, target="web.shop.svc.cluster.local"),
                   HostnameClaim("loop.test", owner, target="loop.test"), services=(web,))
    assert answers(zone, "a.test.") == {"a.test. CNAME b.test.",
                                        "b.test. CNAME web.shop.svc.cluster.local.",
                                        "web.shop.svc.cluster.local. A 10.96.0.1"}
    looped = answer(zone, "loop.test.", A)
    assert isinstance(looped, Reply)
    assert ({short(r) for r in looped.answer}, looped.chase) == ({"loop.test. CNAME loop.test."},
                                                                 "")


def test_records_lists_claimed_names_and_counts_them(names_zone: zones.Zone) -> None:
    listed = [r.text() for r in names_zone.records()]
    assert "*.apps.test.\t5\tIN\tA\t192.0.2.40" in listed
    assert "web-lb.shop.lb.test.\t5\tIN\tA\t192.0.2.30" in listed
    assert "shop.test.\t5\tIN\tA\t192.0.2.99" not in listed  # the newer claim lost
    assert names_zone.stats["records"] == len(listed)


def test_the_stored_reply_fast_path_serves_claimed_names_but_never_a_chase(
        names_zone: zones.Zone) -> None:
    import dns.message

    responder = Responder(names_zone)
    for name, stored in (("shop.test", True), ("preview-7.apps.test", True),
                         ("nope.lb.test", True), ("static.shop.test", False)):
        data = dns.message.make_query(name, "A").to_wire()
        computed = responder.respond(data, ("127.0.0.1", 40000), tcp=False)
        assert isinstance(computed, bytes)
        again = responder.packed.reply(data, False)
        assert (again is not None) is stored, name
        if stored:
            assert again == computed


def test_a_changed_hostname_alone_raises_the_serial(tmp_path) -> None:
    from clusterdns import snapshot
    from clusterdns.source.state import State

    ingress = tmp_path / "ingress.yaml"
    ingress.write_text("apiVersion: networking.k8s.io/v1\nkind: Ingress\n"
                       "metadata: {name: i, namespace: shop}\nspec: {rules: [{host: a.test}]}\n"
                       "status: {loadBalancer: {ingress: [{ip: 192.0.2.1}]}}\n")
    first = snapshot.take([tmp_path], manifests.LoadOptions(), ZoneSettings(), State())
    ingress.write_text(ingress.read_text().replace("192.0.2.1", "192.0.2.2"))
    second = snapshot.take([tmp_path], manifests.LoadOptions(), ZoneSettings(), first.state)
    assert second.state.serial > first.state.serial
    again = snapshot.take([tmp_path], manifests.LoadOptions(), ZoneSettings(), second.state)
    assert again.state.serial == second.state.serial
