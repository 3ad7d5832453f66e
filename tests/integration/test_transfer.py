"""Zone transfer to real secondaries: BIND and Knot take the zones from clusterdns on
loopback, answer every name as clusterdns does, and follow an edit by NOTIFY and IXFR.

Also: who is refused, a restart that keeps the serial, and the export formats served by
BIND (zone file) and dnsmasq (hosts file).
"""

from __future__ import annotations

import contextlib
import getpass
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import dns.exception
import dns.message
import dns.query
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.reversename
import dns.zone
import pytest

from tests.conftest import FIXTURES, ROOT, ServerProcess, terminate
from tests.secondaries import Bind, Knot, Secondary, binary, free_port, query

ZONES = ("cluster.local.", "10.in-addr.arpa.", "0.0.d.f.ip6.arpa.")
OFFER = ("--transfer-zone", "10.0.0.0/8", "--transfer-zone", "fd00::/16")
WITHIN = 2.0  # seconds from an edit to the secondaries serving it


@dataclass(frozen=True)
class Primary:
    """clusterdns on a fixed port with its two secondaries, and a way to restart it."""

    folder: Path
    port: int
    server: ServerProcess
    secondaries: tuple[Secondary, ...]
    restart: Callable[[], ServerProcess]

    def serial(self) -> int:
        return int(self.server.query("cluster.local", "SOA").answer[0][0].serial)


@pytest.fixture
def primary(start_server: Callable, tmp_path: Path) -> Iterator[Primary]:
    folder = tmp_path / "manifests"
    shutil.copytree(FIXTURES / "cluster", folder)
    port, bind_port, knot_port = free_port(), free_port(), free_port()
    args = ("--manifests", str(folder), "--allow-transfer", "127.0.0.1/32", *OFFER,
            "--notify", f"127.0.0.1:{bind_port}", "--notify", f"127.0.0.1:{knot_port}")

    def start() -> ServerProcess:
        return start_server(*args, listen=f"127.0.0.1:{port}")

    server = start()
    secondaries = (Bind(tmp_path, port, ZONES, bind_port), Knot(tmp_path, port, ZONES, knot_port))
    setup = Primary(folder, port, server, secondaries, start)
    try:
        for secondary in secondaries:
            secondary.wait_for_serial(setup.serial())
        yield setup
    finally:
        for secondary in secondaries:
            secondary.stop()


def transferred(port: int, zone: str) -> dns.zone.Zone:
    """The zone as a client gets it by AXFR from 127.0.0.1:`port`."""
    messages = dns.query.xfr("127.0.0.1", zone, port=port, timeout=5, relativize=False)
    return dns.zone.from_xfr(messages, relativize=False)


def questions(zone: dns.zone.Zone) -> set[tuple[str, str]]:
    """Every name of the zone with each type it holds.

    In the cluster zone also A and TXT at every name, empty non-terminals too, and a
    missing name: CNAMEs are followed, and empty answers and NXDOMAIN compared. Two
    places where a secondary answers otherwise, by design, are left out (the README says
    so): TXT at an ExternalName's name, where clusterdns answers NODATA as CoreDNS does
    (docs/records.md) and a secondary the CNAME as RFC 1034 says; and any question but a
    PTR in a reverse zone, which clusterdns passes to its upstreams.
    """
    asked = {(name.to_text(), dns.rdatatype.to_text(rdataset.rdtype))
             for name, node in zone.nodes.items() for rdataset in node.rdatasets}
    if zone.origin.to_text() != ZONES[0]:
        return asked
    names = set()
    for name in zone.nodes:
        while name.is_subdomain(zone.origin):
            names.add(name)
            name = name.parent()
    aliases = {name for name, node in zone.nodes.items()
               if node.get_rdataset(dns.rdataclass.IN, dns.rdatatype.CNAME)}
    asked |= {(name.to_text(), kind) for name in names for kind in ("A", "TXT")
              if kind == "A" or name not in aliases}
    return asked | {(f"missing.{zone.origin.to_text()}", "A")}


def answer(reply: dns.message.Message) -> tuple[str, set[str]]:
    """The rcode, the answer and the SOA of the authority section, order aside."""
    rrsets = [*reply.answer, *(r for r in reply.authority if r.rdtype == dns.rdatatype.SOA)]
    return dns.rcode.to_text(reply.rcode()), {
        f"{rrset.name.to_text().lower()} {rrset.ttl} {dns.rdatatype.to_text(rrset.rdtype)} "
        f"{rdata.to_text().lower()}" for rrset in rrsets for rdata in rrset}


def differences(server: ServerProcess, other: Secondary, asked: Iterable[tuple[str, str]]
                ) -> list[str]:
    """Each question whose answer from `other` is not clusterdns's."""
    found = []
    for name, kind in sorted(asked):
        ours, theirs = answer(server.query(name, kind)), answer(other.query(name, kind))
        if ours != theirs:
            found.append(f"{name} {kind}: clusterdns {ours}, {other.name} {theirs}")
    return found


def check_same_answers(setup: Primary) -> int:
    """Compare every name and type of every zone; the number of questions asked."""
    asked = set().union(*(questions(transferred(setup.port, zone)) for zone in ZONES))
    for secondary in setup.secondaries:
        assert differences(setup.server, secondary, asked) == []
    return len(asked)


def test_bind_and_knot_answer_every_name_as_clusterdns(primary: Primary) -> None:
    assert check_same_answers(primary) >= 100
    ptr = primary.secondaries[1].query("10.10.96.10.in-addr.arpa", "PTR")
    assert ptr.answer[0][0].to_text() == "web.shop.svc.cluster.local."


def edit(setup: Primary, old: str, new: str) -> int:
    """Change the web service's address in place; the serial the change gets."""
    before = setup.serial()
    path = setup.folder / "shop.yaml"
    path.write_text(path.read_text().replace(old, new))
    deadline = time.monotonic() + WITHIN
    while setup.serial() == before and time.monotonic() < deadline:
        time.sleep(0.01)
    assert setup.serial() != before, setup.server.log
    return setup.serial()


def test_an_edit_reaches_both_secondaries_by_notify_and_ixfr(primary: Primary) -> None:
    started = time.monotonic()
    serial = edit(primary, "clusterIP: 10.96.10.10", "clusterIP: 10.96.10.99")
    for secondary in primary.secondaries:
        secondary.wait_for_serial(serial, timeout=WITHIN - (time.monotonic() - started))
        reply = secondary.query("web.shop.svc.cluster.local", "A")
        assert [r.to_text() for r in reply.answer[0]] == ["10.96.10.99"]
    assert time.monotonic() - started < WITHIN
    bind, knot = primary.secondaries
    assert "notify from 127.0.0.1#" in bind.log and f"serial {serial}" in bind.log
    assert bind.log.count("got incremental response") >= len(ZONES)
    assert "notify, incoming, remote 127.0.0.1@" in knot.log
    assert knot.log.count("IXFR, incoming, remote") >= len(ZONES)
    incremental = primary.server.lines_matching(rf"IXFR \S+ serial {serial} .* incremental")
    assert len(incremental) == 2 * len(ZONES), primary.server.log
    check_same_answers(primary)


def test_a_restart_keeps_the_serial_and_the_next_edit_still_arrives(primary: Primary) -> None:
    serial = primary.serial()
    assert primary.server.stop() == 0
    restarted = replace(primary, server=primary.restart())
    assert restarted.serial() == serial  # the same files: the same serial, from the state file
    newer = edit(restarted, "clusterIP: 10.96.10.10", "clusterIP: 10.96.10.98")
    assert newer > serial
    for secondary in restarted.secondaries:
        secondary.wait_for_serial(newer, timeout=WITHIN)
    check_same_answers(restarted)


def transfer_rcode(server: ServerProcess, zone: str, kind: str = "AXFR", tcp: bool = True,
                   source: str = "127.0.0.1") -> str:
    query = dns.message.make_query(zone, kind)
    send = dns.query.tcp if tcp else dns.query.udp
    reply = send(query, server.host, port=server.port, timeout=2, source=source)
    return dns.rcode.to_text(reply.rcode())


def test_transfers_are_refused_outside_allow_transfer_and_over_udp(
        start_server: Callable) -> None:
    server = start_server("--manifests", str(FIXTURES / "cluster"), "--allow-transfer",
                          "127.0.0.1/32", *OFFER)
    assert transfer_rcode(server, "cluster.local") == "NOERROR"
    assert transfer_rcode(server, "10.in-addr.arpa") == "NOERROR"
    assert transfer_rcode(server, "cluster.local", source="127.0.0.2") == "REFUSED"
    assert transfer_rcode(server, "cluster.local", "IXFR", source="127.0.0.2") == "REFUSED"
    assert transfer_rcode(server, "example.org") == "REFUSED"  # not a zone of ours
    assert transfer_rcode(server, "cluster.local", "IXFR") == "FORMERR"  # no SOA: from what?
    for kind in ("AXFR", "IXFR"):
        for zone in ("cluster.local", "10.in-addr.arpa"):
            assert transfer_rcode(server, zone, kind, tcp=False) == "REFUSED"
    nobody = start_server("--manifests", str(FIXTURES / "cluster"))
    assert transfer_rcode(nobody, "cluster.local") == "REFUSED"
    with pytest.raises(RuntimeError, match="--allow-transfer"):
        start_server("--manifests", str(FIXTURES / "cluster"), "--allow-transfer", "nope")
    with pytest.raises(RuntimeError, match="--transfer-zone"):
        start_server("--manifests", str(FIXTURES / "cluster"), "--transfer-zone", "example.org")


def export(*args: str) -> str:
    result = subprocess.run([sys.executable, "-m", "clusterdns", "export", *args],
                            capture_output=True, text=True, cwd=ROOT, check=True)
    return result.stdout


def test_bind_serves_the_exported_zone_file_as_clusterdns_answers(
        start_server: Callable, tmp_path: Path) -> None:
    zone_file = tmp_path / "cluster.local.zone"
    zone_file.write_text(export("--format", "zone", str(FIXTURES / "cluster")))
    checked = subprocess.run([binary("named-checkzone"), "cluster.local", str(zone_file)],
                             capture_output=True, text=True)
    assert checked.returncode == 0 and checked.stdout.endswith("OK\n"), checked.stdout
    server = start_server("--manifests", str(FIXTURES / "cluster"), "--allow-transfer",
                          "127.0.0.1/32")
    bind = Bind(tmp_path, server.port, ("cluster.local.",), zone_file=zone_file)
    try:
        bind.wait_for_serial(int(server.query("cluster.local", "SOA").answer[0][0].serial))
        asked = questions(transferred(server.port, "cluster.local."))
        assert differences(server, bind, asked) == []
    finally:
        bind.stop()


def test_dnsmasq_serves_the_exported_hosts_file_as_clusterdns_answers(
        start_server: Callable, tmp_path: Path) -> None:
    hosts = tmp_path / "cluster.hosts"
    hosts.write_text(export("--format", "hosts", str(FIXTURES / "cluster")))
    server = start_server("--manifests", str(FIXTURES / "cluster"), "--allow-transfer",
                          "127.0.0.1/32")
    port = free_port()
    dnsmasq = subprocess.Popen([binary("dnsmasq"), "-k", "-p", str(port), "--no-resolv",
                                "--listen-address=127.0.0.1", "--bind-interfaces",
                                "--no-hosts", "--pid-file=", f"--addn-hosts={hosts}",
                                f"--user={getpass.getuser()}", "--local-ttl=5"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        names: dict[str, str] = {}  # name or reverse name -> type asked
        for name, node in transferred(server.port, "cluster.local.").nodes.items():
            for rdataset in node.rdatasets:
                if rdataset.rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA) and (
                        not name.to_text().startswith("ns.dns.")):
                    names[name.to_text()] = dns.rdatatype.to_text(rdataset.rdtype)
                    names.update((dns.reversename.from_address(r.address).to_text(), "PTR")
                                 for r in rdataset)
        wait_until_answered(port, next(iter(names.items())))
        for name, kind in sorted(names.items()):
            ours, theirs = answer(server.query(name, kind)), answer(query(port, name, kind))
            if kind == "PTR" and ours[1]:  # dnsmasq gives the line's first name: the PTR's
                assert theirs[1] and theirs[1] <= ours[1], name
            elif kind != "PTR":
                assert theirs == ours, name
    finally:
        terminate(dnsmasq)


def wait_until_answered(port: int, question: tuple[str, str]) -> None:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        with contextlib.suppress(dns.exception.Timeout, ConnectionError):
            if query(port, *question).answer:
                return
        time.sleep(0.05)
    raise AssertionError(f"no answer to {question} on port {port}")
