"""`clusterdns explain` as a user runs it, and the same text from a running server."""

from __future__ import annotations

import subprocess
import sys

import dns.rcode
import pytest

from tests.conftest import ROOT
from tests.name_cases import NAMES, OPTIONS
from tests.upstream_server import upstream

INGRESS = f"{NAMES}/ingress.yaml"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "clusterdns", "explain", *args],
                          capture_output=True, text=True, cwd=ROOT, timeout=60)


def test_explain_prints_each_record_with_its_file_and_document() -> None:
    result = run("shop.test", str(NAMES), *OPTIONS)
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.splitlines() == [
        "shop.test. A: NOERROR",
        "  shop.test. 5 IN A 192.0.2.10",
        f"    from Ingress shop/storefront ({INGRESS}: document 1): "
        "status.loadBalancer.ingress",
        f"  note: Ingress shop/storefront-canary ({INGRESS}: document 2) claims shop.test "
        "too and is not served: Ingress shop/storefront claims it too and wins: created "
        "2024-01-15T09:00:00Z, before 2024-03-01T12:30:00Z"]


def test_explain_takes_a_type_manifests_and_upstreams() -> None:
    result = run("db.shop.svc.cluster.local", "SRV", "--manifests", str(NAMES))
    assert result.stdout.splitlines() == [
        "db.shop.svc.cluster.local. SRV: NXDOMAIN",
        "  why: headless Service db in shop has no ready endpoints: selector app=db matches "
        f"no Pod or workload in shop: Service shop/db ({NAMES}/shop.yaml: document 3)"]
    result = run("example.org", str(NAMES), "--upstream", "127.0.0.1:5395",
                 "--upstream", "[::1]:5395")
    assert result.stdout.splitlines()[-1] == ("  why: outside the cluster zone "
                                              "cluster.local: forwarded to 127.0.0.1:5395, "
                                              "[::1]:5395")


def test_explain_refuses_what_is_neither_a_type_nor_a_path() -> None:
    result = run("shop.test", "nonsense", str(NAMES))
    assert result.returncode == 2
    assert "'nonsense' is neither a record type nor a manifest path" in result.stderr


@pytest.mark.parametrize("tcp", [False, True], ids=["udp", "tcp"])
def test_a_running_server_explains_to_loopback_over_txt(start_server, tcp: bool) -> None:
    with upstream("example.org. 300 IN A 192.0.2.80") as up:
        server = start_server("--manifests", str(NAMES), *OPTIONS, "--upstream", up.address)
        reply = server.query("static.shop.test.explain.clusterdns", "TXT", tcp=tcp,
                             use_edns=0)
        assert dns.rcode.to_text(reply.rcode()) == "NOERROR"
        assert [b"".join(r.strings).decode() for rrset in reply.answer for r in rrset] == [
            "static.shop.test. A: NOERROR",
            "  static.shop.test. 5 IN CNAME edge.cdn.example.",
            f"    from Ingress shop/assets ({NAMES}/ingress.yaml: document 4): "
            "status.loadBalancer.ingress",
            "  note: edge.cdn.example. is not a name clusterdns holds: the server appends its "
            f"addresses from {up.address}"]
        assert up.asked == []  # the debug name never leaves the server
