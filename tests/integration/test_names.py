"""Ingress, Gateway API and LoadBalancer names through the real server: UDP and TCP,
forwarding of the names around them, reloads, and what check and records say."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import dns.flags
import dns.rcode
import pytest

from tests.cases import Case
from tests.conftest import ROOT, ServerProcess, records_in_order, rrset_values
from tests.name_cases import FORWARD, NAME_CASES, NAMES, OPTIONS
from tests.upstream_server import upstream


@pytest.fixture(scope="module")
def names_server() -> Iterator[ServerProcess]:
    server = ServerProcess(["serve", "--manifests", str(NAMES), "--listen", "127.0.0.1:0",
                            *OPTIONS])
    yield server
    server.stop()


def without_serial(values: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(re.sub(r"(hostmaster\.\S+) .*", r"\1 *", v) for v in values)


@pytest.mark.parametrize("tcp", [False, True], ids=["udp", "tcp"])
@pytest.mark.parametrize("row", NAME_CASES, ids=lambda c: c.rule)
def test_golden_names_over_the_wire(names_server: ServerProcess, row: Case, tcp: bool) -> None:
    reply = names_server.query(row.qname, row.qtype, tcp=tcp)
    if row.rcode == FORWARD:  # the test server forwards nothing: --upstream none
        assert dns.rcode.to_text(reply.rcode()) == "NXDOMAIN"  # forwarding is off
        assert not reply.flags & dns.flags.AA
        return
    assert dns.rcode.to_text(reply.rcode()) == row.rcode
    assert without_serial(records_in_order(reply)) == row.answer
    assert bool([r for r in reply.authority if r.rdtype == 6]) == row.soa
    assert reply.flags & dns.flags.AA
    assert reply.question[0].name.to_text() == row.qname


def test_siblings_go_upstream_and_a_cdn_target_is_resolved_there(start_server) -> None:
    lines = ("other.shop.test. 300 IN A 192.0.2.77", "shop.test. 300 IN A 192.0.2.88",
             "edge.cdn.example. 300 IN A 192.0.2.66")
    with upstream(*lines) as up:
        server = start_server("--manifests", str(NAMES), *OPTIONS, "--upstream", up.address)
        sibling = server.query("other.shop.test", "A")
        assert rrset_values(sibling) == {"other.shop.test. A 192.0.2.77"}
        assert not sibling.flags & dns.flags.AA
        assert rrset_values(server.query("shop.test", "A")) == {"shop.test. A 192.0.2.10"}
        assert rrset_values(server.query("static.shop.test", "A", tcp=True)) == {
            "static.shop.test. CNAME edge.cdn.example.", "edge.cdn.example. A 192.0.2.66"}
        assert [a.name for a in up.asked] == ["other.shop.test.", "edge.cdn.example."]


def test_a_reload_moves_an_ingress_host(start_server, tmp_path: Path) -> None:
    folder = tmp_path / "names"
    shutil.copytree(NAMES, folder)
    server = start_server("--manifests", str(folder), *OPTIONS)
    assert rrset_values(server.query("www.shop.test", "A")) == {"www.shop.test. A 192.0.2.10"}
    ingress = folder / "ingress.yaml"
    ingress.write_text(ingress.read_text().replace("- ip: 192.0.2.10", "- ip: 192.0.2.11")
                       .replace("- host: www.shop.test", "- host: www2.shop.test"))
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        moved = rrset_values(server.query("www2.shop.test", "A"))
        if moved:
            break
        time.sleep(0.05)
    assert moved == {"www2.shop.test. A 192.0.2.11"}
    assert rrset_values(server.query("shop.test", "A")) == {"shop.test. A 192.0.2.11"}
    assert dns.rcode.to_text(server.query("www.shop.test", "A").rcode()) == "NXDOMAIN"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "clusterdns", *args], capture_output=True,
                          text=True, cwd=ROOT, timeout=60)


def test_records_lists_the_names_and_check_warns_about_the_loser() -> None:
    records = run("records", str(NAMES), *OPTIONS)
    assert records.returncode == 0, records.stderr
    lines = records.stdout.splitlines()
    for line in ("*.apps.test.\t5\tIN\tA\t192.0.2.40", "*.example.test.\t5\tIN\tAAAA\t2001:db8::20",
                 "shop.test.\t5\tIN\tA\t192.0.2.10",
                 "static.shop.test.\t5\tIN\tCNAME\tedge.cdn.example.",
                 "tools.internal.test.\t5\tIN\tA\t192.0.2.50",
                 "web-lb.shop.lb.test.\t5\tIN\tA\t192.0.2.30"):
        assert line in lines
    check = run("check", str(NAMES), *OPTIONS)
    assert check.returncode == 0
    assert (f"ok: 4 services, 2 pods (2 generated), 6 endpoints, {len(lines)} records"
            in check.stdout)
    warnings = check.stderr.splitlines()
    assert (f"warning: {NAMES}/ingress.yaml: document 2: metadata.creationTimestamp: Ingress "
            "shop/storefront-canary: shop.test is also claimed by Ingress shop/storefront, "
            "which wins (created 2024-01-15T09:00:00Z, before 2024-03-01T12:30:00Z); its "
            "answer is served, not this one's") in warnings
    assert (f"warning: {NAMES}/shop.yaml: document 5: status.loadBalancer.ingress: Service "
            "shop/pending-lb: pending-lb.shop.lb.test will not resolve: no address: the "
            "LoadBalancer Service has no status.loadBalancer.ingress") in warnings
    assert check.stdout.splitlines()[:7] == [
        "kind         read  generated  skipped",
        "Deployment      1          -        -",
        "Gateway         2          -        -",
        "HTTPRoute       4          -        -",
        "Ingress         4          -        -",
        "Pod             -          2        -",
        "Service         4          -        -",
    ]


@pytest.mark.parametrize(("args", "message"), [
    (("--ingress-address", "192.0.2.300"), "Invalid value for --ingress-address"),
    (("--ingress-service", "nginx"), "'nginx' is not NAMESPACE/NAME"),
    (("--external-zone", "a..b"), "'a..b' is not a DNS name"),
])
def test_bad_hostname_options_are_refused(args: tuple[str, ...], message: str) -> None:
    result = run("check", str(NAMES), *args)
    assert result.returncode == 2
    assert message in result.stderr
