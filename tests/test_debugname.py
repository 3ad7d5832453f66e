"""The explain debug name (serve/debugname.py): loopback clients only, never stored."""

from __future__ import annotations

import dns.message
import dns.rcode
import dns.rdatatype
import pytest

from clusterdns.serve import debugname
from clusterdns.serve.responder import Responder
from clusterdns.source import manifests
from clusterdns.zone import build as zones
from clusterdns.zone.explain import explain
from clusterdns.zone.records import TXT, A
from tests.cases import CLUSTER
from tests.name_cases import NAMES

ZONE = zones.build(manifests.load([CLUSTER]).cluster, serial=7)


def ask(responder: Responder, name: str, peer: str, rdtype: str = "TXT"
        ) -> tuple[dns.message.Message, bytes]:
    data = dns.message.make_query(name, rdtype).to_wire()
    reply = responder.respond(data, (peer, 40000), tcp=True)
    assert isinstance(reply, bytes)
    return dns.message.from_wire(reply), data


def texts(message: dns.message.Message) -> list[str]:
    return [b"".join(rdata.strings).decode() for rrset in message.answer for rdata in rrset]


@pytest.mark.parametrize("peer", ["127.0.0.1", "127.8.9.10", "::1", "::ffff:127.0.0.1"])
def test_a_loopback_client_gets_the_explanation_and_it_is_not_stored(peer: str) -> None:
    responder = Responder(ZONE)
    reply, data = ask(responder, "lonely.shop.svc.cluster.local.explain.clusterdns", peer)
    assert texts(reply) == [
        "lonely.shop.svc.cluster.local. A: NXDOMAIN",
        "  why: headless Service lonely in shop has no ready endpoints: selector app=nobody "
        f"matches no Pod or workload in shop: Service shop/lonely ({CLUSTER}/shop.yaml: "
        "document 14)"]
    assert reply.answer[0].ttl == 0
    assert responder.packed.reply(data, True) is None


@pytest.mark.parametrize("peer", ["192.0.2.7", "10.0.0.5", "2001:db8::7"])
def test_any_other_client_asks_an_ordinary_outside_name(peer: str) -> None:
    reply, _ = ask(Responder(ZONE), "lonely.shop.svc.cluster.local.explain.clusterdns", peer)
    assert dns.rcode.to_text(reply.rcode()) == "NXDOMAIN"  # forwarding is off here
    assert reply.answer == []


def test_the_type_goes_before_the_suffix_and_other_questions_are_empty() -> None:
    responder = Responder(ZONE)
    reply, _ = ask(responder, "web.shop.svc.cluster.local.aaaa.explain.clusterdns",
                   "127.0.0.1")
    assert texts(reply)[0] == "web.shop.svc.cluster.local. AAAA: NODATA"
    reply, _ = ask(responder, "web.shop.svc.cluster.local.explain.clusterdns", "127.0.0.1",
                   "A")
    assert (dns.rcode.to_text(reply.rcode()), reply.answer) == ("NOERROR", [])


def test_long_lines_are_cut_to_txt_strings() -> None:
    loaded = manifests.load([NAMES])
    zone = zones.build(loaded.cluster, serial=7)
    found = debugname.reply(zone, "store.other.test.explain.clusterdns.", TXT,
                            ("127.0.0.1", 1), None)
    assert found is not None
    pieces = [str(r.data) for r in found.answer]
    assert all(len(p.encode()) <= 255 for p in pieces)
    whole = explain(zone, "store.other.test", A).lines()
    assert max(map(len, whole)) > 255
    assert "".join(pieces) == "".join(whole)
    assert len(pieces) > len(whole)
    assert debugname.reply(zone, "store.other.test.", A, ("127.0.0.1", 1), None) is None
