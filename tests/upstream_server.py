"""A tiny authoritative DNS server for tests to forward to: loopback only, UDP and TCP.

It answers from zone-file lines, counts every question it sees (so a test can tell a
cache hit from a forward), and can misbehave on purpose: stay silent, truncate every UDP
reply so the client must retry over TCP (or truncate over TCP too), send a stray reply
with the wrong ID first, answer slowly so identical questions overlap, answer everything
with one rcode, or send whatever bytes a test's function makes of the query.
"""

from __future__ import annotations

import errno
import selectors
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from dnslib import QTYPE, RCODE, RR, DNSRecord

HOST = "127.0.0.1"
# The root's SOA: above every name it denies, as a denial's SOA must be to be believed.
SOA_LINE = ". 3600 IN SOA ns.example. admin.example. 1 7200 900 86400 {negative_ttl}"


@dataclass
class Asked:
    """One question the test server received."""

    transport: str
    name: str
    qtype: str


@dataclass
class UpstreamServer:
    """Serves `zone` lines on host:port until `stop()`; see the module docstring for modes."""

    zone: tuple[str, ...] = ()
    silent: bool = False
    truncate_udp: bool = False
    stray_first: bool = False
    delay: float = 0.0
    rcode: int | None = None  # answer every question with this rcode and no records
    negative_ttl: int = 60
    truncate_tcp: bool = False  # TC and no records over TCP as well
    # The raw reply to a query's bytes, instead of an answer from `zone`.
    respond_with: Callable[[bytes], bytes] | None = None
    host: str = HOST
    asked: list[Asked] = field(default_factory=list)
    port: int = 0

    def __post_init__(self) -> None:
        self.records = [rr for line in self.zone for rr in RR.fromZone(line)]
        self.soa = RR.fromZone(SOA_LINE.format(negative_ttl=self.negative_ttl))[0]
        self._udp, self._tcp = _bind_pair(self.host)
        self.port = self._udp.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def address(self) -> str:
        """The `--upstream` value that reaches this server."""
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    def count(self, name: str, transport: str | None = None) -> int:
        """How many times `name` was asked (over `transport` if given)."""
        return sum(1 for a in self.asked if a.name == name.lower().rstrip(".") + "."
                   and transport in (None, a.transport))

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._udp.close()
        self._tcp.close()

    def _serve(self) -> None:
        with selectors.DefaultSelector() as selector:
            selector.register(self._udp, selectors.EVENT_READ)
            selector.register(self._tcp, selectors.EVENT_READ)
            while not self._stop.is_set():
                for key, _ in selector.select(timeout=0.05):
                    if key.fileobj is self._udp:
                        self._on_datagram()
                    else:
                        self._on_connection()

    def _on_datagram(self) -> None:
        data, peer = self._udp.recvfrom(65535)
        reply = self._reply(data, "udp")
        if reply is None:
            return
        if self.stray_first:
            stray = DNSRecord.parse(reply)
            stray.header.id ^= 0x5A5A
            stray.rr = [RR.fromZone(f"{stray.q.qname} 60 IN A 6.6.6.6")[0]]
            self._udp.sendto(stray.pack(), peer)
        if self.truncate_udp:
            reply = _truncated(reply)
        self._udp.sendto(reply, peer)

    def _on_connection(self) -> None:
        conn, _ = self._tcp.accept()
        with conn:
            conn.settimeout(2)
            try:
                (length,) = struct.unpack("!H", _read(conn, 2))
                reply = self._reply(_read(conn, length), "tcp")
                if reply is not None and self.truncate_tcp:
                    reply = _truncated(reply)
                if reply is not None:
                    conn.sendall(struct.pack("!H", len(reply)) + reply)
            except (OSError, struct.error):
                pass

    def _reply(self, data: bytes, transport: str) -> bytes | None:
        query = DNSRecord.parse(data)
        name = str(query.q.qname).lower()
        self.asked.append(Asked(transport, name, QTYPE.get(query.q.qtype)))
        if self.silent:
            return None
        if self.delay:
            time.sleep(self.delay)
        if self.respond_with is not None:
            return self.respond_with(data)
        reply = query.reply()
        if self.rcode is not None:
            reply.header.rcode = self.rcode
            return bytes(reply.pack())
        owned = [rr for rr in self.records if str(rr.rname).lower() == name]
        for rr in owned:
            if rr.rtype == query.q.qtype:
                reply.add_answer(rr)
        if not reply.rr:
            reply.add_auth(self.soa)
            if not owned:
                reply.header.rcode = RCODE.NXDOMAIN
        return bytes(reply.pack())


def _truncated(reply: bytes) -> bytes:
    cut = DNSRecord.parse(reply)
    cut.rr, cut.auth, cut.ar = [], [], []
    cut.header.tc = 1
    return bytes(cut.pack())


def _read(conn: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        if not chunk:
            raise OSError("closed")
        data += chunk
    return data


def _bind_pair(host: str) -> tuple[socket.socket, socket.socket]:
    """A UDP and a TCP socket on the same free port of `host` (a loopback address)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    for _ in range(20):
        udp = socket.socket(family, socket.SOCK_DGRAM)
        tcp = socket.socket(family, socket.SOCK_STREAM)
        try:
            udp.bind((host, 0))
            tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            tcp.bind((host, udp.getsockname()[1]))
            tcp.listen(16)
            return udp, tcp
        except OSError as exc:
            udp.close()
            tcp.close()
            if exc.errno != errno.EADDRINUSE:
                raise
    raise OSError(errno.EADDRINUSE, "no free port pair on loopback")


def dead_address() -> str:
    """A loopback address where nothing listens (a port just freed): ICMP says unreachable."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((HOST, 0))
        return f"{HOST}:{sock.getsockname()[1]}"


@contextmanager
def upstream(*zone: str, **modes: object) -> Iterator[UpstreamServer]:
    """A running UpstreamServer, stopped when the block ends."""
    server = UpstreamServer(zone, **modes)  # type: ignore[arg-type]
    try:
        yield server
    finally:
        server.stop()
