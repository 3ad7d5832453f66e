"""Protocol behaviour over real sockets: odd queries, truncation and the TCP retry."""

from __future__ import annotations

import socket
import struct
import time
from pathlib import Path

import dns.flags
import dns.message
import dns.opcode
import dns.query
import dns.rcode
import dns.rdataclass
import pytest

from tests.conftest import ServerProcess, dig


def send_udp(server: ServerProcess, data: bytes, timeout: float = 1.0) -> bytes | None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        sock.sendto(data, (server.host, server.port))
        try:
            return sock.recv(65535)
        except TimeoutError:
            return None


def udp(server: ServerProcess, message: dns.message.Message) -> dns.message.Message:
    return dns.query.udp(message, server.host, port=server.port, timeout=2)


@pytest.mark.parametrize("opcode", [dns.opcode.IQUERY, dns.opcode.STATUS, dns.opcode.NOTIFY,
                                    dns.opcode.UPDATE])
def test_unknown_opcode_is_notimp(example_server: ServerProcess, opcode: int) -> None:
    message = dns.message.make_query("service1.default.svc.cluster.local", "A")
    message.set_opcode(opcode)
    reply = send_udp(example_server, message.to_wire())
    assert reply is not None
    # Read from the header itself: dnspython will not parse an UPDATE whose zone is no SOA.
    # RFC 1035 4.1.1: a reply carries the query's ID and opcode, with QR set.
    ident, flags = struct.unpack("!HH", reply[:4])
    assert ident == message.id and flags & 0x8000
    assert (flags >> 11) & 0xF == opcode and flags & 0xF == dns.rcode.NOTIMP


def test_two_questions_is_formerr(example_server: ServerProcess) -> None:
    message = dns.message.make_query("service1.default.svc.cluster.local", "A")
    header = struct.pack("!HHHHHH", message.id, 0x0100, 2, 0, 0, 0)
    question = message.to_wire()[12:]
    reply = send_udp(example_server, header + question + question)
    assert reply is not None
    assert dns.message.from_wire(reply, question_only=True).rcode() == dns.rcode.FORMERR


def test_class_other_than_in_is_refused(example_server: ServerProcess) -> None:
    message = dns.message.make_query("version.bind", "TXT", rdclass=dns.rdataclass.CH)
    assert udp(example_server, message).rcode() == dns.rcode.REFUSED


def test_edns_version_above_zero_is_badvers(example_server: ServerProcess) -> None:
    message = dns.message.make_query("service1.default.svc.cluster.local", "A", use_edns=1)
    assert udp(example_server, message).rcode() == dns.rcode.BADVERS


def test_zone_transfer_is_refused(example_server: ServerProcess) -> None:
    message = dns.message.make_query("cluster.local", "AXFR")
    reply = dns.query.tcp(message, example_server.host, port=example_server.port, timeout=2)
    assert reply.rcode() == dns.rcode.REFUSED


@pytest.mark.parametrize(("data", "answered"), [
    (b"", False), (b"\x01", False),  # shorter than a header: nothing to answer
    (b"\xff" * 40, False),  # QR set: a reply, never answered
    (b"\x00" * 12, True),  # a query with no question
    (struct.pack("!HHHHHH", 9, 0x0100, 1, 0, 0, 0) + b"\x3fabc", True),  # label past the end
    (struct.pack("!HHHHHH", 9, 0x0100, 1, 0, 0, 0) + b"\xc0\x0c\x00\x01\x00\x01", True),  # loop
])
def test_malformed_packets_get_formerr_or_nothing_on_purpose(
        example_server: ServerProcess, data: bytes, answered: bool) -> None:
    reply = send_udp(example_server, data, timeout=0.3)
    if answered:
        assert reply is not None and reply[:2] == data[:2]
        assert dns.message.from_wire(reply, question_only=True).rcode() == dns.rcode.FORMERR
    else:
        assert reply is None
    assert udp(example_server, dns.message.make_query(
        "service1.default.svc.cluster.local", "A")).answer


def test_idle_tcp_connection_does_not_block_others(example_server: ServerProcess) -> None:
    with socket.create_connection((example_server.host, example_server.port)):
        reply = dns.query.tcp(dns.message.make_query("headless1.default.svc.cluster.local", "A"),
                              example_server.host, port=example_server.port, timeout=2)
    assert reply.answer


@pytest.fixture(scope="module")
def big_server(tmp_path_factory: pytest.TempPathFactory):
    folder: Path = tmp_path_factory.mktemp("big")
    addresses = "".join(f"  - ip: 10.3.{i // 250}.{i % 250 + 1}\n" for i in range(300))
    (folder / "big.yaml").write_text(
        "kind: Service\nmetadata: {name: big}\nspec:\n  clusterIP: None\n"
        "  ports: [{name: http, port: 80}]\n---\n"
        f"kind: Endpoints\nmetadata: {{name: big}}\nsubsets:\n- addresses:\n{addresses}"
        "  ports: [{name: http, port: 80}]\n"
    )
    server = ServerProcess(["serve", "--manifests", str(folder), "--listen", "127.0.0.1:0"])
    yield server
    server.stop()


def test_big_headless_answer_is_truncated_over_udp(big_server: ServerProcess) -> None:
    for use_edns, limit in ((False, 512), (0, 1232)):
        reply = big_server.query("big.default.svc.cluster.local", use_edns=use_edns, payload=4096)
        assert reply.flags & dns.flags.TC
        assert 0 < len(reply.answer[0]) < 300
        assert len(reply.to_wire()) <= limit


def test_big_headless_answer_is_whole_over_tcp(big_server: ServerProcess) -> None:
    reply = big_server.query("big.default.svc.cluster.local", tcp=True)
    assert len(reply.answer[0]) == 300 and not reply.flags & dns.flags.TC


def test_dig_retries_over_tcp_and_gets_all_300(big_server: ServerProcess) -> None:
    out = dig(big_server, "big.default.svc.cluster.local", "A")
    assert "Truncated, retrying in TCP mode" in out
    assert "ANSWER: 300," in out
    srv = dig(big_server, "_http._tcp.big.default.svc.cluster.local", "SRV")
    assert "ANSWER: 300," in srv


def test_stored_replies_keep_each_clients_id_and_spelling(example_server: ServerProcess) -> None:
    """The second asker of a name is answered from stored bytes: its own ID and case."""
    spellings = ["service1.default.svc.cluster.local", "SERVICE1.default.svc.cluster.local",
                 "Service1.Default.Svc.Cluster.Local"]
    for ident, name in enumerate(spellings * 2, start=100):
        message = dns.message.make_query(name, "A")
        message.id = ident
        sent = message.to_wire()
        reply = send_udp(example_server, sent)
        assert reply is not None
        end = sent.index(b"\x00", 12)
        assert reply[:2] == sent[:2] and reply[12:end] == sent[12:end]
        parsed = dns.message.from_wire(reply)
        assert [r.to_text() for r in parsed.answer[0]] == ["10.101.105.246"]
        assert parsed.answer[0].name.to_text(omit_final_dot=True) == name


@pytest.fixture(scope="module")
def huge_server(tmp_path_factory: pytest.TempPathFactory):
    """A headless service with 70,000 ready endpoints: more records than a header can count."""
    folder: Path = tmp_path_factory.mktemp("huge")
    addresses = "".join(f"  - ip: 10.{i >> 16}.{(i >> 8) & 255}.{i & 255}\n"
                        for i in range(1, 70_001))
    (folder / "huge.yaml").write_text(
        "kind: Service\nmetadata: {name: huge}\nspec:\n  clusterIP: None\n"
        "  ports: [{name: http, port: 80}]\n---\n"
        f"kind: Endpoints\nmetadata: {{name: huge}}\nsubsets:\n- addresses:\n{addresses}"
        "  ports: [{name: http, port: 80}]\n")
    server = ServerProcess(["serve", "--manifests", str(folder), "--listen", "127.0.0.1:0"])
    yield server
    server.stop()


@pytest.mark.parametrize("rdtype", ["A", "SRV"])
def test_huge_answer_is_built_only_as_far_as_it_fits(huge_server: ServerProcess,
                                                     rdtype: str) -> None:
    name = "huge.default.svc.cluster.local"
    if rdtype == "SRV":
        name = "_http._tcp." + name
    for tcp, limit in ((False, 512), (True, 65535)):
        started = time.monotonic()
        reply = huge_server.query(name, rdtype, tcp=tcp, timeout=5)
        assert time.monotonic() - started < 0.5
        assert reply.rcode() == dns.rcode.NOERROR and reply.flags & dns.flags.TC
        assert len(reply.to_wire()) <= limit
        assert len(reply.answer[0]) > (2000 if tcp and rdtype == "A" else 5)
