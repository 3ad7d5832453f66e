"""The article's names (../shared/seed), verbatim, with dnspython and with dig."""

from __future__ import annotations

import pytest

from tests.conftest import ServerProcess, dig, rrset_values

ARTICLE = [
    # service1 and endpoint2 have no clusterIP in the article: a stable derived address.
    ("service1.default.svc.cluster.local", "A",
     "service1.default.svc.cluster.local. A 10.101.105.246"),
    ("headless1.default.svc.cluster.local", "A",
     "headless1.default.svc.cluster.local. A 20.109.5.11"),
    ("pod-a.headless1.default.svc.cluster.local", "A",
     "pod-a.headless1.default.svc.cluster.local. A 20.109.5.11"),
    ("20-109-5-11.default.pod.cluster.local", "A",
     "20-109-5-11.default.pod.cluster.local. A 20.109.5.11"),
    ("endpoint2.default.svc.cluster.local", "A",
     "endpoint2.default.svc.cluster.local. A 10.102.116.49"),
    ("externalname1.default.svc.cluster.local", "CNAME",
     "externalname1.default.svc.cluster.local. CNAME github.io."),
]


@pytest.mark.parametrize("tcp", [False, True], ids=["udp", "tcp"])
@pytest.mark.parametrize(("name", "rdtype", "expected"), ARTICLE, ids=[a[0] for a in ARTICLE])
def test_article_names_with_dnspython(example_server: ServerProcess, name: str, rdtype: str,
                                      expected: str, tcp: bool) -> None:
    reply = example_server.query(name, rdtype, tcp=tcp)
    assert rrset_values(reply) == {expected}


@pytest.mark.parametrize("transport", ["+notcp", "+tcp"])
@pytest.mark.parametrize(("name", "rdtype", "expected"), ARTICLE, ids=[a[0] for a in ARTICLE])
def test_article_names_with_dig(example_server: ServerProcess, name: str, rdtype: str,
                                expected: str, transport: str) -> None:
    out = dig(example_server, transport, name, rdtype)
    assert "status: NOERROR" in out
    assert "flags: qr aa rd" in out
    owner, _ttl, _class, rtype, rdata = next(
        line for line in out.splitlines() if line.startswith(name + ".")).split()
    assert f"{owner} {rtype} {rdata}" == expected


def test_dig_short_answers(example_server: ServerProcess) -> None:
    assert dig(example_server, "+short", "pod-a.headless1.default.svc.cluster.local").split() == [
        "20.109.5.11"]
    assert dig(example_server, "+short", "-x", "20.109.5.12").split() == [
        "20-109-5-12.endpoint2.default.svc.cluster.local."]


def test_missing_name_is_nxdomain_with_soa(example_server: ServerProcess) -> None:
    out = dig(example_server, "service2.default.svc.cluster.local")
    assert "status: NXDOMAIN" in out
    assert "SOA\tns.dns.cluster.local. hostmaster.cluster.local." in out


def test_namespace_name_is_nodata(example_server: ServerProcess) -> None:
    out = dig(example_server, "default.svc.cluster.local")
    assert "status: NOERROR" in out and "ANSWER: 0" in out and "AUTHORITY: 1" in out
