"""UDP over real sockets, every way the server reads it: in batches by a native thread
per socket that answers stored replies in C (`batch.py` with `_batchloop.c`, the default
where it was built), in batches in Python through ctypes (`--batch-loop python`, and
wherever the C part was not built), and one datagram at a time (`udp.py`, `--no-batch`).
Every test runs on all three; the C one is skipped where it was not built
(test_batchloop.py says whether it should have been).

The stored-reply property tests of tests/test_packed.py run here through the sockets, and
batches are made on purpose: the server's event loop is held still while a client sends,
so the next wake-up finds every datagram at once.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import dns.message
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clusterdns.ops.metrics import Listener
from clusterdns.ops.querylog import QueryLog
from clusterdns.serve import batch
from clusterdns.serve.batch import BatchedUdp, compiled_available
from clusterdns.serve.responder import Responder
from clusterdns.serve.udp import UdpProtocol
from clusterdns.source.model import Cluster
from clusterdns.zone import build as zone
from clusterdns.zone.settings import ZoneSettings
from tests.conftest import ServerProcess
from tests.strategies import clusters
from tests.test_packed import (
    FIXTURE_NAMES,
    FIXTURE_ZONE,
    PEER,
    TYPES,
    edns_sizes,
    flips,
    odd_packets,
    query,
    respell,
    same_message,
)
from tests.threaded_server import LoopThread, ThreadedServer, threaded_server

# How the server reads UDP, by test id: (batch, compiled) of a DnsServer, and the
# `clusterdns serve` options that ask for the same.
PATHS = {"c": (True, True), "ctypes": (True, False), "datagram": (False, False)}
FLAGS = {"c": ("--batch-loop", "c"), "ctypes": ("--batch-loop", "python"),
         "datagram": ("--no-batch",)}
HIT_NAMES = ["web.shop.svc.cluster.local", "api.shop.svc.cluster.local",
             "_http._tcp.web.shop.svc.cluster.local"]


def udp_path(path: str) -> tuple[bool, bool]:
    """(batch, compiled) of `path`; the C path is skipped where its loop was not built."""
    batch, compiled = PATHS[path]
    if compiled and not compiled_available():
        pytest.skip("the C answering threads are not built here")
    return batch, compiled


@contextlib.contextmanager
def path_server(path: str, responder: Responder) -> Iterator[ThreadedServer]:
    """A `threaded_server` that reads UDP the way `path` says."""
    batch, compiled = udp_path(path)
    with threaded_server(responder, batch, compiled=compiled) as server:
        assert [b.compiled for b in server.server.batched] == [compiled] * batch
        yield server


@pytest.fixture(scope="module", params=PATHS)
def fixture_server(request: pytest.FixtureRequest) -> Iterator[ThreadedServer]:
    """A server on the fixture zone for the whole module, one per UDP path."""
    with path_server(request.param, Responder(FIXTURE_ZONE)) as server:
        yield server


def slow_path(built: zone.Zone, data: bytes) -> bytes | None:
    """The reply the slow path makes for `data`, from a responder that stores nothing yet."""
    reply = Responder(built).compute(data, PEER, False)
    assert reply is None or isinstance(reply, bytes)
    return reply


def same_reply(got: bytes, expected: bytes) -> None:
    """`same_message` where the reply has a question; a bare header must match byte for byte."""
    if len(expected) > 12:
        same_message(got, expected)
    else:
        assert got == expected


def check_over_udp(server: ThreadedServer, built: zone.Zone, name: str, rdtype: str,
                   flips1: list[bool], flips2: list[bool], payload: int | None, rd: bool,
                   cd: bool) -> None:
    """Ask `name` in one spelling, in another, and in the first again: every reply must be
    the slow path's with the asker's ID and case. The last is a fast-path hit (counted in
    `udp_hits`) exactly when its bytes are in the exact table of stored replies."""
    edns = None if payload is None else 0
    asked = [query(respell(name, flips), rdtype, ident, edns, payload or 1232, rd, cd)
             for flips, ident in ((flips1, 1), (flips2, 0xBEEF), (flips1, 0xCAFE))]
    counts = server.server.listeners[0]
    for number, packet in enumerate(asked):
        stored = packet[2:] in server.responder.packed.udp_exact
        hits = counts.stored_hits()
        reply = server.ask(packet)
        same_message(reply, slow_path(built, packet) or b"")
        end = packet.index(b"\x00", 12)
        assert reply[:2] == packet[:2] and reply[12:end] == packet[12:end]
        if number == 2:
            assert counts.stored_hits() == hits + stored


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.sampled_from(FIXTURE_NAMES), rdtype=st.sampled_from(TYPES), flips1=flips,
       flips2=flips, payload=edns_sizes, rd=st.booleans(), cd=st.booleans())
def test_fixture_zone_over_udp_matches_the_slow_path(
    fixture_server: ThreadedServer, name: str, rdtype: str, flips1: list[bool],
    flips2: list[bool], payload: int | None, rd: bool, cd: bool,
) -> None:
    check_over_udp(fixture_server, FIXTURE_ZONE, name, rdtype, flips1, flips2, payload, rd, cd)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cluster=clusters(), data=st.data(), pods=st.sampled_from(["insecure", "verified"]))
def test_generated_zones_over_udp_match_the_slow_path(
    fixture_server: ThreadedServer, cluster: Cluster, data: st.DataObject, pods: str
) -> None:
    """Each example swaps its zone in as a reload does: the next batch must see it."""
    built = zone.build(cluster, ZoneSettings(pods=pods), serial=1)
    fixture_server.call(fixture_server.responder.swap, built)
    try:
        names = sorted(built.nodes) + [
            f"{zone.dashed(ip)}.default.pod.cluster.local." for p in cluster.pods for ip in p.ips
        ] + ["missing.default.svc.cluster.local."]
        for _ in range(4):
            check_over_udp(fixture_server, built, data.draw(st.sampled_from(names)),
                           data.draw(st.sampled_from(TYPES)), data.draw(flips),
                           data.draw(flips), data.draw(edns_sizes), True, False)
    finally:
        fixture_server.call(fixture_server.responder.swap, FIXTURE_ZONE)


def with_id(packet: bytes, ident: int) -> bytes:
    return struct.pack("!H", ident) + packet[2:]


def mixed_batch() -> list[tuple[bytes, bool]]:
    """Packets of every sort, each with its own ID, and whether the batch loop answers it
    from the stored replies (once HIT_NAMES have been asked): hits, another spelling of
    one (stored too, but answered by `Responder.respond`), in-zone misses, a name outside
    the zone, malformed packets, a response (QR=1) and a runt, both dropped."""
    packets = [(query(name, "A", 0, None), True) for name in HIT_NAMES]
    packets += [(query(respell(HIT_NAMES[0], [True] * 5), "A", 0, None), False),
                (query("nothing.shop.svc.cluster.local", "A", 0, None), False),
                (query("web.shop.svc.cluster.local", "AAAA", 0, 1232), False),
                (query("example.org", "A", 0, None), False),
                *((packet, False) for _, packet in odd_packets()),
                (b"\x00\x01\x02", False),
                (query(HIT_NAMES[1], "A", 0, None), True)]
    return [(with_id(packet, 100 + i), hit) for i, (packet, hit) in enumerate(packets)]


@pytest.mark.parametrize("path", PATHS)
def test_a_batch_mixing_hits_misses_and_bad_packets_answers_each_in_order(path: str) -> None:
    """Every packet gets its one reply, or none when it is dropped. The Python loops send
    them in the order they came; with answering threads the stored replies come from the
    thread while the event loop is held and the rest after it, each kind in order."""
    batch, threaded = PATHS[path]
    with path_server(path, Responder(FIXTURE_ZONE)) as server:
        for name in HIT_NAMES:
            server.ask(query(name, "A", 1, None))
        clients = [server.client(), server.client()]
        sent: list[list[bytes]] = [[], []]
        batch_packets = mixed_batch()
        hit_ids = {packet[:2] for packet, hit in batch_packets if hit}
        counts = server.server.listeners[0]
        hits_before = counts.stored_hits()
        early: list[list[bytes]] = [[], []]
        with server.held():  # one wake-up of the event loop reads all of them
            for number, (packet, _) in enumerate(batch_packets * 2):
                client = number % 2  # the two clients' packets interleave
                clients[client].sendto(packet, server.address)
                sent[client].append(packet)
            if threaded:  # answered with the event loop stopped
                for number, (client, packets) in enumerate(zip(clients, sent, strict=True)):
                    early[number] = [client.recv(65535) for p in packets if p[:2] in hit_ids]
        for number, (client, packets) in enumerate(zip(clients, sent, strict=True)):
            expected = [(p, reply) for p in packets if (reply := slow_path(FIXTURE_ZONE, p))]
            replies = early[number] + [client.recv(65535) for _ in expected[len(early[number]):]]
            if batch and not threaded and number == 0:
                # Counted before the batch's first reply left: all in one batch.
                assert counts.stored_hits() - hits_before == 2 * len(hit_ids)
            if threaded:
                assert [r[:2] for r in early[number]] == [
                    p[:2] for p, _ in expected if p[:2] in hit_ids]
                expected = ([e for e in expected if e[0][:2] in hit_ids]
                            + [e for e in expected if e[0][:2] not in hit_ids])
            assert [r[:2] for r in replies] == [p[:2] for p, _ in expected]  # in order
            for reply, (_, wanted) in zip(replies, expected, strict=True):
                same_reply(reply, wanted)
            client.settimeout(0.2)
            with pytest.raises(TimeoutError):  # nothing for the dropped ones, nothing twice
                client.recv(65535)
            client.close()
        if batch:
            assert counts.stored_hits() - hits_before == 2 * len(hit_ids)


@pytest.mark.parametrize("path", PATHS)
def test_a_batch_of_stored_replies_alone_answers_each_client_in_order(path: str) -> None:
    """No datagram for the slow path: the C thread (or the Python loop) sends the whole
    batch itself, to three clients whose questions interleave."""
    batch, threaded = PATHS[path]
    with path_server(path, Responder(FIXTURE_ZONE)) as server:
        for name in HIT_NAMES:
            server.ask(query(name, "A", 1, None))
        clients = [server.client() for _ in HIT_NAMES]
        packets = [query(HIT_NAMES[i % 3], "A", 200 + i, None) for i in range(60)]
        counts = server.server.listeners[0]
        hits_before = counts.stored_hits()
        with server.held():  # one wake-up reads all of them
            for number, packet in enumerate(packets):
                clients[number % 3].sendto(packet, server.address)
        for number, client in enumerate(clients):
            asked = packets[number::3]
            replies = [client.recv(65535) for _ in asked]
            if batch and number == 0:  # counted before the batch's first reply left
                # A thread may still be on the last two when the first client has all.
                assert counts.stored_hits() - hits_before == len(packets) or (
                    threaded and counts.stored_hits() - hits_before >= len(packets) - 2)
            assert [r[:2] for r in replies] == [p[:2] for p in asked]  # in order
            for reply, packet in zip(replies, asked, strict=True):
                same_message(reply, slow_path(FIXTURE_ZONE, packet) or b"")
            client.close()


# A client in its own process, so that it runs while this one's interpreter lock is held:
# it asks argv[1] (hex) of argv[2]:argv[3] every 5 ms for argv[4] seconds and prints each
# answer's latency in seconds.
TIMED_CLIENT = """
import socket, sys, time
packet, address, until = bytes.fromhex(sys.argv[1]), (sys.argv[2], int(sys.argv[3])), \\
    time.monotonic() + float(sys.argv[4])
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.settimeout(3)
print("ready", flush=True)
while time.monotonic() < until:
    started = time.monotonic()
    sock.sendto(packet, address)
    sock.recv(65535)
    print(time.monotonic() - started, flush=True)
    time.sleep(0.005)
"""


def hold_the_lock(seconds: float) -> Callable[[], float]:
    """A callable that keeps the interpreter lock for about `seconds` in one C call (no
    bytecode runs, so no other thread gets a turn) and returns how long it held it:
    what a reload's biggest single steps do, at a size no zone needs."""
    took = []
    for _ in range(3):
        started = time.perf_counter()
        sum(range(2_000_000))
        took.append(time.perf_counter() - started)
    count = int(seconds / max(min(took), 1e-6) * 2_000_000)

    def hold() -> float:
        started = time.perf_counter()
        sum(range(count))
        return time.perf_counter() - started

    return hold


@pytest.mark.parametrize("path", PATHS)
def test_stored_replies_leave_while_another_thread_holds_the_interpreter_lock(
        path: str) -> None:
    """The guarantee a big reload needs (issue 10, item 12): with answering threads, a
    stored reply waits for nothing Python does. The Python loops must wait for the lock,
    which shows that the hold is real."""
    threaded = udp_path(path)[1]
    with path_server(path, Responder(FIXTURE_ZONE)) as server:
        packet = query(HIT_NAMES[0], "A", 9, None)
        server.ask(packet)  # now stored
        client = subprocess.Popen(
            [sys.executable, "-c", TIMED_CLIENT, packet.hex(), *map(str, server.address),
             "1.8"], stdout=subprocess.PIPE, text=True)
        assert client.stdout is not None
        assert client.stdout.readline() == "ready\n"
        time.sleep(0.3)
        held = server.call(hold_the_lock(0.8))
        latencies = [float(line) for line in client.communicate(timeout=10)[0].split()]
    assert client.returncode == 0
    assert held > 0.3, held
    assert len(latencies) > 20
    if threaded:
        assert max(latencies) < 0.1, max(latencies)
    else:
        assert max(latencies) > held / 2, (max(latencies), held)


def test_the_python_loop_keeps_the_lock_through_its_system_calls() -> None:
    """recvmmsg and sendmmsg return at once (MSG_DONTWAIT). Called through `CDLL` each
    would release the interpreter lock, and a reload's thread would keep it for a switch
    interval or a long step in C before the loop got it back: three such waits per
    batch, not one, and 10-18 ms answers during a 100,000-endpoint reload instead of 4-6
    (bench/reload_stall.py with --batch-loop python). Timing is the benchmark's to
    measure; this pins the cause."""
    if not batch.available():
        pytest.skip("no recvmmsg and sendmmsg here: the datagram transport answers")
    receive, send = batch._CALLS  # type: ignore[misc]
    for call in (receive, send):
        assert call._flags_ & ctypes._FUNCFLAG_PYTHONAPI, call  # type: ignore[attr-defined]


def serve_one_end(loop: LoopThread, path: str, sock: socket.socket,
                  responder: Responder) -> tuple[Callable[[], int], Callable[[], None]]:
    """Answer on `sock` the way `path` says, on `loop`: (how many replies wait, close)."""
    batch, compiled = udp_path(path)
    counts = Listener("127.0.0.1", 0)
    if batch:
        batched = loop.call(BatchedUdp, sock, responder, counts, compiled)
        return lambda: batched.waiting, batched.close
    transport, _ = loop.wait(loop.loop.create_datagram_endpoint(
        lambda: UdpProtocol(responder, counts), sock=sock))
    return transport.get_write_buffer_size, transport.close


@pytest.mark.parametrize("path", PATHS)
def test_replies_the_socket_refuses_wait_and_leave_in_order(path: str) -> None:
    """EAGAIN for real: a datagram socket whose peer does not read fills up. A UDP socket
    on loopback never does (Linux frees a loopback packet's send-buffer charge as it is
    transmitted), so the server serves one end of a Unix datagram pair here, with the
    smallest send buffer, while the other end sends 300 stored-reply questions and reads
    nothing until the server is seen holding replies back. The datagram path's waiting
    replies are its transport's (asyncio's, or uvloop's) write buffer."""
    udp_path(path)  # skipped before anything is opened
    responder = Responder(FIXTURE_ZONE)
    for name in HIT_NAMES:
        responder.respond(query(name, "A", 1, None), PEER, False)
    packets = [query(HIT_NAMES[i % len(HIT_NAMES)], "A", i, None) for i in range(300)]
    server_end, client_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    server_end.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1)
    server_end.setblocking(False)
    client_end.settimeout(5)
    loop = LoopThread()
    waiting, close = serve_one_end(loop, path, server_end, responder)
    sender = threading.Thread(target=lambda: [client_end.send(p) for p in packets])
    try:
        sender.start()
        deadline = time.monotonic() + 5
        while not loop.call(waiting) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert loop.call(waiting), "the socket never refused a reply"
        replies = [client_end.recv(65535) for _ in packets]
        assert [r[:2] for r in replies] == [p[:2] for p in packets]  # none lost, in order
        for reply, packet in zip(replies, packets, strict=True):
            same_message(reply, slow_path(FIXTURE_ZONE, packet) or b"")
        assert loop.call(waiting) == 0
    finally:
        sender.join(5)
        loop.call(close)
        loop.close()
        client_end.close()


@pytest.mark.parametrize("host", ["127.0.0.1", "::1"])
@pytest.mark.parametrize("path", PATHS)
def test_the_slow_path_sees_the_client_address(path: str, host: str) -> None:
    """The batched path reads the sender from the raw socket address: it must be what
    Python's socket module gives (the query log shows it, rate limiting counts by it)."""
    batch, compiled = udp_path(path)  # skipped before anything is opened
    read_end, write_end = os.pipe()
    query_log = QueryLog(fd=write_end)
    query_log.start()
    try:
        server = ThreadedServer(Responder(FIXTURE_ZONE, query_log), batch, host,
                                compiled=compiled)
    except OSError:
        pytest.skip(f"no {host} here")
    try:
        with server.client() as client:
            client.sendto(query(HIT_NAMES[0], "A", 7, None), server.address)
            assert client.recv(65535)[:2] == b"\x00\x07"
            port = client.getsockname()[1]
        line = os.read(read_end, 4096).decode()
        remote = f"[{host}]" if ":" in host else host
        assert line.startswith(f"[INFO] {remote}:{port} - 7 "), line
    finally:
        server.close()
        query_log.close()
        os.close(read_end)
        os.close(write_end)


SERVICE = ("apiVersion: v1\nkind: Service\nmetadata: {{name: web, namespace: default}}\n"
           "spec: {{clusterIP: 10.96.5.{}, ports: [{{port: 80}}]}}\n")


@pytest.mark.parametrize("path", PATHS)
def test_reloads_under_a_batch_load_lose_no_query(
        start_server: Callable[..., ServerProcess], tmp_path: Path, path: str) -> None:
    """Bursts of 100 questions back to back, answered in batches, while SIGHUP reloads
    an edited manifest three times: every question gets its one reply, old or new."""
    udp_path(path)
    manifest = tmp_path / "web.yaml"
    manifest.write_text(SERVICE.format(0))
    server = start_server("--manifests", str(tmp_path), "--no-watch", *FLAGS[path])
    assert not server.lines_matching("not built"), server.log
    asked = answered = 0
    seen: set[str] = set()

    def burst(sock: socket.socket) -> None:
        nonlocal asked, answered
        for i in range(100):
            message = dns.message.make_query("web.default.svc.cluster.local.", "A")
            message.id = (asked + i) & 0xFFFF
            sock.sendto(message.to_wire(), (server.host, server.port))
        asked += 100
        for _ in range(100):
            reply = dns.message.from_wire(sock.recv(4096))
            answered += 1
            seen.update(rdata.address for rrset in reply.answer for rdata in rrset)

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(2)
        for reload in range(1, 4):
            manifest.write_text(SERVICE.format(reload))
            server.proc.send_signal(signal.SIGHUP)
            bursts = 0
            while len(server.lines_matching("reload: services")) < reload and bursts < 300:
                burst(sock)
                bursts += 1
            for _ in range(5):  # answered by the new zone
                burst(sock)
    assert len(server.lines_matching("reload: services")) == 3, server.log
    assert answered == asked
    assert {"10.96.5.1", "10.96.5.2", "10.96.5.3"} <= seen <= {
        "10.96.5.0", "10.96.5.1", "10.96.5.2", "10.96.5.3"}


def test_workers_each_answer_in_batches(start_server: Callable[..., ServerProcess],
                                        tmp_path: Path) -> None:
    (tmp_path / "web.yaml").write_text(SERVICE.format(1))
    server = start_server("--manifests", str(tmp_path), "--workers", "2", "--no-watch", "-v")
    assert "UDP in batches" in server.wait_for_log(r"worker 1 \(pid \d+\) serving")
    assert server.query("web.default.svc.cluster.local").answer
