"""Every golden row over real UDP and TCP against the running server."""

from __future__ import annotations

import re
from collections.abc import Iterator

import dns.flags
import dns.message
import dns.rcode
import pytest

from tests.cases import CASES, CLUSTER, Case
from tests.conftest import ServerProcess, rrset_values


@pytest.fixture(scope="module")
def cluster_server() -> Iterator[ServerProcess]:
    server = ServerProcess(["serve", "--manifests", str(CLUSTER), "--listen", "127.0.0.1:0"])
    yield server
    server.stop()


def without_serial(values: set[str] | frozenset[str]) -> set[str]:
    # The server's SOA serial is a clock reading; the golden one is fixed.
    return {re.sub(r"(hostmaster\.\S+) \d+ ", r"\1 * ", v) for v in values}


@pytest.mark.parametrize("tcp", [False, True], ids=["udp", "tcp"])
@pytest.mark.parametrize("row", CASES, ids=lambda c: c.rule)
def test_golden_over_the_wire(cluster_server: ServerProcess, row: Case, tcp: bool) -> None:
    reply = cluster_server.query(row.qname, row.qtype, tcp=tcp)
    assert dns.rcode.to_text(reply.rcode()) == row.rcode
    assert without_serial(rrset_values(reply)) == without_serial(row.answer)
    if row.additional is not None:
        assert rrset_values(reply, "additional") == row.additional
    soa = [r for r in reply.authority if r.rdtype == 6]
    assert bool(soa) == row.soa
    assert reply.flags & dns.flags.AA
    assert reply.question[0].name.to_text() == row.qname  # the question's spelling is echoed


def test_answer_owner_echoes_question_case(cluster_server: ServerProcess) -> None:
    reply = cluster_server.query("WEB.shop.SVC.cluster.local", "A")
    assert reply.answer[0].name.to_text() == "WEB.shop.SVC.cluster.local."


def test_edns_echo_only_when_asked(cluster_server: ServerProcess) -> None:
    assert cluster_server.query("web.shop.svc.cluster.local", use_edns=False).edns == -1
    assert cluster_server.query("web.shop.svc.cluster.local", use_edns=0).edns == 0


def test_message_from_a_tcp_connection_with_several_queries(cluster_server: ServerProcess
                                                            ) -> None:
    import socket
    import struct

    with socket.create_connection((cluster_server.host, cluster_server.port), timeout=3) as sock:
        names = ["web.shop.svc.cluster.local", "db.shop.svc.cluster.local", "nope.cluster.local"]
        for i, name in enumerate(names):
            wire = dns.message.make_query(name, "A", id=100 + i).to_wire()
            sock.sendall(struct.pack("!H", len(wire)) + wire)
        replies = []
        buffer = b""
        while len(replies) < len(names):
            chunk = sock.recv(65535)
            assert chunk, "server closed the connection early"
            buffer += chunk
            while len(buffer) >= 2 and len(buffer) >= 2 + struct.unpack("!H", buffer[:2])[0]:
                size = struct.unpack("!H", buffer[:2])[0]
                replies.append(dns.message.from_wire(buffer[2:2 + size]))
                buffer = buffer[2 + size:]
    assert [r.id for r in replies] == [100, 101, 102]
    assert [dns.rcode.to_text(r.rcode()) for r in replies] == ["NOERROR", "NOERROR", "NXDOMAIN"]
