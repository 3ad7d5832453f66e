"""The network edge: UDP and TCP listeners around one current Zone.

Everything DNS-specific lives in `answer` and `wire`; this module only moves bytes,
keeps the current zone in one attribute (so a reload is one assignment), and makes sure
no packet, however broken, can stop the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import signal
import socket
import struct
from collections.abc import Callable, Coroutine
from typing import Any

from . import wire
from .answer import FORWARD, Reply, answer
from .config import Config
from .manifests import FileCache
from .model import Cluster
from .records import BADVERS, FORMERR, NOTIMP, REFUSED, SERVFAIL, TYPE_NAMES
from .reload import Reloader
from .zone import Zone

log = logging.getLogger(__name__)

TCP_IDLE_SECONDS = 10.0  # RFC 7766 suggests seconds, not minutes, for idle connections
TCP_MAX_CONNECTIONS = 256
UDP_RECEIVE_BUFFER = 4 << 20  # the default 208 KiB drops bursts past ~200 queries in flight

Pending = Coroutine[Any, Any, bytes | None]


class Responder:
    """Turns query bytes into reply bytes from the current zone."""

    def __init__(self, zone: Zone, log_queries: bool = False) -> None:
        self.zone = zone
        self.log_queries = log_queries

    def swap(self, zone: Zone) -> None:
        """Serve `zone` from now on; everything derived from a zone changes in this one step."""
        self.zone = zone

    def respond(self, data: bytes, peer: tuple[Any, ...], tcp: bool) -> bytes | Pending | None:
        """The reply to `data`, a coroutine when it must wait for an upstream, or None."""
        try:
            query = wire.parse_query(data)
        except wire.MalformedQuery:
            return wire.error_for_bytes(data, FORMERR)
        try:
            reply = self._respond(query, peer, tcp)
        except Exception:  # a bug must cost one SERVFAIL, never the server
            log.exception("answering %s %s failed", query.qname, query.qtype)
            return wire.pack_rcode(query, SERVFAIL)
        if self.log_queries and isinstance(reply, bytes):
            self._log(query, peer, tcp, reply)
        return reply

    def _respond(self, query: wire.Query, peer: tuple[Any, ...], tcp: bool) -> bytes | Pending:
        if query.opcode != wire.OPCODE_QUERY:
            return wire.pack_rcode(query, NOTIMP)
        if query.questions != 1:
            return wire.pack_rcode(query, FORMERR)
        if query.edns is not None and query.edns.version > 0:
            return wire.pack_rcode(query, BADVERS)
        if query.qclass != wire.CLASS_IN:
            return wire.pack_rcode(query, REFUSED)
        result = answer(self.zone, query.qname, query.qtype)
        if result is FORWARD:
            return wire.pack_rcode(query, REFUSED)
        assert isinstance(result, Reply)
        limit = wire.TCP_LIMIT if tcp else query.udp_limit()
        return wire.pack(query, result, limit)

    def _log(self, query: wire.Query, peer: tuple[Any, ...], tcp: bool, reply: bytes) -> None:
        rcode = reply[3] & 0xF if len(reply) > 3 else -1
        log.info("%s %s %s %s rcode=%d %dB", peer[0], "tcp" if tcp else "udp", query.qname,
                 TYPE_NAMES.get(query.qtype, query.qtype), rcode, len(reply))


class _UdpProtocol(asyncio.DatagramProtocol):
    def __init__(self, responder: Responder) -> None:
        self.responder = responder
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        reply = self.responder.respond(data, addr, tcp=False)
        if isinstance(reply, bytes):
            self._send(reply, addr)
        elif reply is not None:
            task = asyncio.ensure_future(reply)
            task.add_done_callback(lambda t: self._send_result(t, addr))

    def _send_result(self, task: asyncio.Future[bytes | None], addr: tuple[Any, ...]) -> None:
        if not task.cancelled() and task.exception() is None and task.result():
            self._send(task.result(), addr)  # type: ignore[arg-type]

    def _send(self, reply: bytes, addr: tuple[Any, ...]) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.sendto(reply, addr)

    def error_received(self, exc: Exception) -> None:
        # ICMP port unreachable from a client that went away: nothing to do.
        log.debug("udp error: %s", exc)


class _TcpConnections:
    """RFC 7766 framing: several length-prefixed queries per connection, idle timeout."""

    def __init__(self, responder: Responder) -> None:
        self.responder = responder
        self.open = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername") or ("?", 0)
        if self.open >= TCP_MAX_CONNECTIONS:
            writer.close()
            return
        self.open += 1
        pending: set[asyncio.Task[None]] = set()
        try:
            while True:
                try:
                    prefix = await asyncio.wait_for(reader.readexactly(2), TCP_IDLE_SECONDS)
                    (length,) = struct.unpack("!H", prefix)
                    data = await asyncio.wait_for(reader.readexactly(length), TCP_IDLE_SECONDS)
                except (asyncio.IncompleteReadError, TimeoutError, ConnectionError):
                    break
                reply = self.responder.respond(data, peer, tcp=True)
                if isinstance(reply, bytes):
                    writer.write(struct.pack("!H", len(reply)) + reply)
                    await writer.drain()
                elif reply is not None:
                    task = asyncio.ensure_future(self._write_later(reply, writer))
                    pending.add(task)
                    task.add_done_callback(pending.discard)
        except ConnectionError:
            pass
        finally:
            for task in pending:
                task.cancel()
            self.open -= 1
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    @staticmethod
    async def _write_later(reply: Pending, writer: asyncio.StreamWriter) -> None:
        data = await reply
        if data and not writer.is_closing():
            writer.write(struct.pack("!H", len(data)) + data)


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def bind_sockets(
    host: str, port: int, reuse_port: bool = False
) -> tuple[socket.socket, socket.socket]:
    """A UDP and a TCP socket on the same address (port 0 picks one free for both)."""
    family = _family(host)
    for _ in range(20):
        udp = socket.socket(family, socket.SOCK_DGRAM)
        tcp = socket.socket(family, socket.SOCK_STREAM)
        try:
            for sock in (udp, tcp):
                if family == socket.AF_INET6:
                    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                if reuse_port:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            _grow_receive_buffer(udp)
            udp.bind((host, port))
            tcp.bind((host, udp.getsockname()[1]))
            tcp.listen(128)
            udp.setblocking(False)
            tcp.setblocking(False)
            return udp, tcp
        except OSError as exc:
            udp.close()
            tcp.close()
            # With port 0 the TCP half may find the UDP port taken: pick another.
            if port != 0 or exc.errno != errno.EADDRINUSE:
                raise
    raise OSError(errno.EADDRINUSE, f"no free port pair on {host}")


def _grow_receive_buffer(sock: socket.socket) -> None:
    force = getattr(socket, "SO_RCVBUFFORCE", None)
    try:
        if force is None:
            raise PermissionError
        sock.setsockopt(socket.SOL_SOCKET, force, UDP_RECEIVE_BUFFER)
    except PermissionError:  # not root: the kernel caps SO_RCVBUF at net.core.rmem_max
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, UDP_RECEIVE_BUFFER)


class DnsServer:
    """All listeners of one process, started and stopped together."""

    def __init__(self, responder: Responder) -> None:
        self.responder = responder
        self.transports: list[asyncio.BaseTransport] = []
        self.servers: list[asyncio.base_events.Server] = []
        self.addresses: list[tuple[str, int]] = []

    async def start(self, listen: tuple[tuple[str, int], ...], reuse_port: bool = False) -> None:
        loop = asyncio.get_running_loop()
        connections = _TcpConnections(self.responder)
        for host, port in listen:
            udp, tcp = bind_sockets(host, port, reuse_port)
            transport, _ = await loop.create_datagram_endpoint(
                lambda: _UdpProtocol(self.responder), sock=udp
            )
            self.transports.append(transport)
            self.servers.append(await asyncio.start_server(connections.handle, sock=tcp))
            self.addresses.append((host, udp.getsockname()[1]))

    async def close(self) -> None:
        for transport in self.transports:
            transport.close()
        for server in self.servers:
            server.close()
        for server in self.servers:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 1)


def format_address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


async def serve(
    config: Config, zone: Zone, ready: Callable[[DnsServer], None] | None = None,
    cluster: Cluster | None = None, cache: FileCache | None = None,
) -> None:
    """Run until SIGINT or SIGTERM, reloading as the manifests change.

    `cluster` and `cache` are what `zone` was built from, so the first reload re-reads
    only the files that changed.
    """
    responder = Responder(zone, config.log_queries)
    server = DnsServer(responder)
    await server.start(config.listen)
    reloader = Reloader(config, zone, responder.swap, cluster, cache)
    reloader.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    where = ", ".join(format_address(h, p) for h, p in server.addresses)
    stats = zone.stats
    log.info(
        "clusterdns serving %s (%d services, %d pods, %d endpoints, %d records) on %s (udp+tcp)",
        zone.origin, stats["services"], stats["pods"], stats["endpoints"], stats["records"], where,
    )
    if ready:
        ready(server)
    await stop.wait()
    log.info("clusterdns stopping")
    await reloader.stop()
    await server.close()
