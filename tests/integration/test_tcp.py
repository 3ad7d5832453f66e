"""TCP against clients that misbehave: resets mid-reply, idle floods, slow tricklers.

RFC 7766 section 6.2.3: a server limits what one client may hold and, when it is full,
closes the idlest connections rather than turning newcomers away. Every client here is
on loopback; 127.0.0.0/8 gives each its own source address.
"""

from __future__ import annotations

import contextlib
import random
import shutil
import socket
import struct
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import dns.message
import dns.query
import pytest

from tests.conftest import EXAMPLES, ServerProcess

NAME = "service1.default.svc.cluster.local"


def framed(name: str, rdtype: str = "A") -> bytes:
    wire = dns.message.make_query(name, rdtype).to_wire()
    return struct.pack("!H", len(wire)) + wire


def connect(server: ServerProcess, source: str = "127.0.0.1") -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind((source, 0))
    sock.connect((server.host, server.port))
    return sock


def closed_by_server(sock: socket.socket, wait: float = 0.0) -> bool:
    """Whether the server has closed `sock` (EOF or reset), waiting up to `wait` seconds."""
    sock.settimeout(wait or 0.001)
    try:
        return sock.recv(1) == b""
    except (TimeoutError, BlockingIOError):
        return False
    except ConnectionError:
        return True


def tcp_query(server: ServerProcess, source: str, name: str = NAME) -> dns.message.Message:
    return dns.query.tcp(dns.message.make_query(name, "A"), server.host, port=server.port,
                         timeout=2, source=source)


@pytest.fixture
def big_answers(tmp_path: Path) -> Path:
    addresses = "".join(f"  - ip: 10.3.{i // 250}.{i % 250 + 1}\n" for i in range(2000))
    (tmp_path / "big.yaml").write_text(
        "kind: Service\nmetadata: {name: big}\nspec:\n  clusterIP: None\n---\n"
        f"kind: Endpoints\nmetadata: {{name: big}}\nsubsets:\n- addresses:\n{addresses}")
    return tmp_path


def test_reset_while_a_reply_is_written_is_quiet(start_server, big_answers: Path) -> None:
    server = start_server("--manifests", str(big_answers))
    burst = framed("big.default.svc.cluster.local") + framed("example.org")
    rng = random.Random(7)
    for _ in range(300):
        sock = connect(server)
        sock.sendall(burst * rng.randint(1, 30))
        time.sleep(rng.random() * 0.01)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()  # an RST, while the server is still writing replies
    assert tcp_query(server, "127.0.0.1", "big.default.svc.cluster.local").answer
    assert "Error" not in server.log and "Traceback" not in server.log, server.log[-3000:]


@contextlib.contextmanager
def held(sockets: list[socket.socket]) -> Iterator[list[socket.socket]]:
    try:
        yield sockets
    finally:
        for sock in sockets:
            sock.close()


def test_one_client_with_many_idle_connections_locks_nobody_out(
        example_server: ServerProcess) -> None:
    with held([connect(example_server, "127.0.0.5") for _ in range(300)]) as flood:
        started = time.monotonic()
        assert tcp_query(example_server, "127.0.0.6").answer
        assert time.monotonic() - started < 1.0
        time.sleep(0.2)
        open_ones = [s for s in flood if not closed_by_server(s)]
        # Its oldest connections were closed to keep it at its share; its newest works.
        assert 0 < len(open_ones) <= 32
        newest = flood[-1]
        newest.sendall(framed(NAME))
        newest.settimeout(2)
        assert len(newest.recv(2)) == 2


def test_when_full_the_idlest_connection_makes_room(example_server: ServerProcess) -> None:
    sources = [f"127.0.1.{i}" for i in range(1, 41)]
    with held([connect(example_server, source) for source in sources for _ in range(10)]) as all_:
        assert tcp_query(example_server, "127.0.2.1").answer  # 400 held: still answered
        time.sleep(0.2)
        assert closed_by_server(all_[0])  # the idlest (the first) went
        assert not closed_by_server(all_[-1])


def test_a_slow_trickler_is_cut_off(example_server: ServerProcess) -> None:
    message = framed(NAME)
    with held([connect(example_server, "127.0.0.7")]) as (sock,):
        started = time.monotonic()
        for byte in message:  # one byte every 0.3 s: the message would take 15 s
            try:
                sock.sendall(bytes([byte]))
            except ConnectionError:
                break
            if closed_by_server(sock, 0.3):
                break
        assert time.monotonic() - started < 4.0


def test_listen_backlog_is_above_the_connection_limit(example_server: ServerProcess) -> None:
    if not shutil.which("ss"):
        pytest.fail("ss is missing (iproute2)")
    out = subprocess.run(["ss", "-Hltn", f"sport = :{example_server.port}"],
                         capture_output=True, text=True, check=True).stdout
    backlog = int(out.split()[2])  # Send-Q of a listening socket is its backlog
    assert backlog > 256


def test_many_queries_on_one_connection_still_work(start_server) -> None:
    server = start_server("--manifests", str(EXAMPLES))
    with held([connect(server)]) as (sock,):
        sock.sendall(framed(NAME) * 50)
        sock.settimeout(2)
        got = b""
        while got.count(b"\x0a\x65\x69\xf6") < 50:  # 10.101.105.246 in every reply
            chunk = sock.recv(65535)
            assert chunk
            got += chunk
