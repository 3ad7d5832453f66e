"""--log-queries: CoreDNS's log line for UDP, TCP, IPv6 and EDNS queries, and JSON."""

from __future__ import annotations

import json
import re
import socket
import struct

import dns.message
import pytest

from tests.conftest import EXAMPLES, ServerProcess

NAME = "Service1.Default.svc.cluster.local"
DURATION = r"(0|[1-9]\d*)(\.\d*[1-9])?s"  # Go's shortest fixed notation


def ask(host: str, port: int, query: dns.message.Message, tcp: bool) -> tuple[int, bytes]:
    """Send `query` from a socket of our own: its source port, and the reply's bytes."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    data = query.to_wire()
    with socket.socket(family, socket.SOCK_STREAM if tcp else socket.SOCK_DGRAM) as sock:
        sock.settimeout(2)
        sock.connect((host, port))
        if tcp:
            sock.sendall(struct.pack("!H", len(data)) + data)
            length = struct.unpack("!H", sock.recv(2))[0]
            reply = b""
            while len(reply) < length:
                reply += sock.recv(length - len(reply))
        else:
            sock.send(data)
            reply = sock.recv(65535)
        return sock.getsockname()[1], reply


def expected(host: str, source: int, query: dns.message.Message, reply: bytes, rdtype: str,
             proto: str, do: str, bufsize: int, rcode: str) -> re.Pattern[str]:
    remote = f"[{host}]" if ":" in host else host
    line = (f'[INFO] {remote}:{source} - {query.id} "{rdtype} IN {NAME.lower()}. {proto} '
            f'{len(query.to_wire())} {do} {bufsize}" {rcode} qr,aa,rd {len(reply)} ')
    return re.compile("^" + re.escape(line) + DURATION + "$")


@pytest.fixture(scope="module")
def logging_server() -> ServerProcess:
    # localhost: 127.0.0.1, and [::1] where the machine has it
    server = ServerProcess(["serve", "--manifests", str(EXAMPLES), "--log-queries", "--listen",
                            "localhost:0"])
    yield server
    server.stop()


CASES = {
    "udp": dict(tcp=False, edns=None, rdtype="A", bufsize=512, do="false"),
    "tcp": dict(tcp=True, edns=None, rdtype="A", bufsize=65535, do="false"),
    "edns": dict(tcp=False, edns=(4096, True), rdtype="AAAA", bufsize=4096, do="true"),
    "edns-small": dict(tcp=False, edns=(256, False), rdtype="SRV", bufsize=512, do="false"),
}


@pytest.mark.parametrize("family", ["ipv4", "ipv6"])
@pytest.mark.parametrize("case", list(CASES))
def test_each_query_is_one_coredns_line(logging_server: ServerProcess, family: str,
                                        case: str) -> None:
    wanted = [a for a in logging_server.addresses if (":" in a[0]) == (family == "ipv6")]
    if not wanted:
        pytest.skip("no IPv6 loopback here")
    host, port = wanted[0]
    spec = CASES[case]
    edns = spec["edns"]
    if edns is None:
        query = dns.message.make_query(NAME, spec["rdtype"], use_edns=False)
    else:
        query = dns.message.make_query(NAME, spec["rdtype"], use_edns=0, payload=edns[0],
                                       want_dnssec=edns[1])
    source, reply = ask(host, port, query, spec["tcp"])
    pattern = expected(host, source, query, reply, spec["rdtype"],
                       "tcp" if spec["tcp"] else "udp", spec["do"], spec["bufsize"], "NOERROR")
    line = logging_server.wait_for_log(rf"\[INFO\] \S+:{source} - {query.id} ")
    assert pattern.match(line), (line, pattern.pattern)


def test_json_lines_carry_the_same_fields(start_server) -> None:
    server = start_server("--manifests", str(EXAMPLES), "--log-queries", "--log-format",
                          "json")
    query = dns.message.make_query("nope.default.svc.cluster.local", "A", use_edns=False)
    source, reply = ask(server.host, server.port, query, tcp=False)
    line = server.wait_for_log(rf'"client_port":{source},')
    record = json.loads(line)
    assert {k: record[k] for k in ("level", "client_ip", "qname", "qtype", "qclass", "proto",
                                   "request_size", "do", "bufsize", "rcode", "rflags",
                                   "response_size")} == {
        "level": "INFO", "client_ip": "127.0.0.1", "qname": "nope.default.svc.cluster.local.",
        "qtype": "A", "qclass": "IN", "proto": "udp", "request_size": len(query.to_wire()),
        "do": False, "bufsize": 512, "rcode": "NXDOMAIN", "rflags": "qr,aa,rd",
        "response_size": len(reply)}
    assert record["msg"].startswith(f"127.0.0.1:{source} - {query.id} ")
    assert 0 < record["duration_seconds"] < 1
