"""Every golden row over real UDP and TCP against the running server."""

from __future__ import annotations

import re
import socket
import struct
from collections.abc import Iterator

import dns.flags
import dns.message
import dns.rcode
import pytest

from clusterdns import snapshot
from clusterdns.serve.responder import Responder
from clusterdns.source.manifests import LoadOptions
from clusterdns.source.state import State
from clusterdns.zone.settings import ZoneSettings
from tests.cases import CASES, CLUSTER, Case
from tests.conftest import ServerProcess, records_in_order


@pytest.fixture(scope="module")
def cluster_server() -> Iterator[ServerProcess]:
    server = ServerProcess(["serve", "--manifests", str(CLUSTER), "--listen", "127.0.0.1:0"])
    yield server
    server.stop()


@pytest.fixture(scope="module")
def same_zone_responder() -> Responder:
    """What the server must send, computed without sockets from the zone it serves (the
    same files and state give the same serial)."""
    taken = snapshot.take([str(CLUSTER)], LoadOptions(), ZoneSettings(), State())
    assert taken.zone is not None
    return Responder(taken.zone)


def without_serial(values: tuple[str, ...]) -> tuple[str, ...]:
    # The server's SOA serial follows the files' times; the golden one is fixed.
    return tuple(re.sub(r"(hostmaster\.\S+) \d+ ", r"\1 * ", v) for v in values)


def exchange(server: ServerProcess, query: bytes, tcp: bool) -> bytes:
    """The reply's bytes for the query's bytes, over real UDP or TCP."""
    if tcp:
        with socket.create_connection((server.host, server.port), timeout=2) as sock:
            sock.sendall(struct.pack("!H", len(query)) + query)
            data = b""
            while len(data) < 2 or len(data) < 2 + struct.unpack("!H", data[:2])[0]:
                chunk = sock.recv(65535)
                assert chunk, "the server closed the connection"
                data += chunk
            return data[2:]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(2)
        sock.sendto(query, (server.host, server.port))
        return sock.recv(65535)


@pytest.mark.parametrize("tcp", [False, True], ids=["udp", "tcp"])
@pytest.mark.parametrize("row", CASES, ids=lambda c: c.rule)
def test_golden_over_the_wire(cluster_server: ServerProcess, same_zone_responder: Responder,
                              row: Case, tcp: bool) -> None:
    query = dns.message.make_query(row.qname, row.qtype)
    data = exchange(cluster_server, query.to_wire(), tcp)
    # Byte for byte what the pure path packs, the ID aside: order, TTLs, flags, all of it.
    expected = same_zone_responder.respond(query.to_wire(), ("127.0.0.1", 1), tcp)
    assert isinstance(expected, bytes) and data[2:] == expected[2:]
    reply = dns.message.from_wire(data)
    assert reply.id == query.id
    assert dns.rcode.to_text(reply.rcode()) == row.rcode
    assert without_serial(records_in_order(reply)) == without_serial(row.answer)
    if row.additional is not None:
        assert records_in_order(reply, "additional") == row.additional
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
