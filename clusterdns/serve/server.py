"""The network edge: UDP and TCP listeners around one current Zone.

Everything DNS-specific lives in `answer` and `wire`, TCP's connections in `tcp`, rate
limiting in `rrl`; this module only moves bytes, keeps the current zone in one attribute
(so a reload is one assignment), and makes sure no packet, however broken, can stop the
loop or go unanswered when it should be answered.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import signal
import socket
import sys
import time
from collections.abc import Sequence
from typing import Any

from ..source.manifests import FileCache
from ..source.model import Cluster
from ..source.problems import ManifestWarning
from ..source.state import State
from ..zone.answer import FORWARD, Reply, answer
from ..zone.build import Zone
from ..zone.records import BADVERS, FORMERR, NOERROR, NOTIMP, REFUSED, SERVFAIL, TYPE_NAMES, fqdn
from . import debugname, rrl, wire
from .access import DEFAULT_RECURSION_CLIENTS, ClientRanges, exposure_warning
from .cache import Cache
from .config import Config
from .forwarded import Forwarded
from .packed import PackedAnswers
from .reload import Reloader
from .rrl import RateLimit, RateLimiter
from .tcp import LISTEN_BACKLOG, Pending, TcpConnections
from .transfer import Transfers, transfers_for
from .upstream import Forwarder, Question
from .workers import Workers, fork_workers

log = logging.getLogger(__name__)

UDP_RECEIVE_BUFFER = 4 << 20  # the default 208 KiB drops bursts past ~200 queries in flight


class Responder:
    """Turns query bytes into reply bytes from the current zone, or from the upstreams.

    `forwarder` None means forwarding is off: names outside the zone get REFUSED.
    `recursion` says which clients may have names outside the zone resolved.
    """

    def __init__(self, zone: Zone, log_queries: bool = False,
                 forwarder: Forwarder | None = None,
                 recursion: ClientRanges | None = None,
                 transfers: Transfers | None = None) -> None:
        self.zone = zone
        self.packed = PackedAnswers()
        self.log_queries = log_queries
        self.forwarder = forwarder
        self.recursion = (recursion if recursion is not None
                          else ClientRanges.parse(DEFAULT_RECURSION_CLIENTS))
        self.transfers = transfers  # AXFR/IXFR over TCP; None: REFUSED like over UDP

    def swap(self, zone: Zone) -> None:
        """Serve `zone` from now on; everything derived from a zone changes in this one step.

        Called on the event loop, so no query runs between the two assignments.
        """
        old, self.zone, self.packed = self.zone, zone, PackedAnswers()
        if self.transfers is not None:
            self.transfers.swapped(old, zone)

    def respond(self, data: bytes, peer: tuple[Any, ...], tcp: bool) -> bytes | Pending | None:
        """The reply to `data`, a coroutine when it must wait for an upstream, or None."""
        stored = self.packed.reply(data, tcp)
        return stored if stored is not None else self.compute(data, peer, tcp)

    def compute(self, data: bytes, peer: tuple[Any, ...], tcp: bool) -> bytes | Pending | None:
        """`respond` without the stored replies: parse, answer, pack, and store if it may."""
        try:
            query = wire.parse_query(data)
        except (wire.MalformedQuery, RecursionError):
            # Nothing here recurses on packet data; should that ever change, a hostile
            # packet must still cost one FORMERR, not a traceback.
            return wire.error_for_bytes(data, FORMERR)
        try:
            reply = self._respond(query, data, peer, tcp)
        except Exception:  # a bug must cost one SERVFAIL, never the server or silence
            log.exception("answering %s %s failed", query.qname, query.qtype)
            return wire.error_for_bytes(data, SERVFAIL)
        if self.log_queries and isinstance(reply, bytes):
            self._log(query, peer, tcp, reply)
        return reply

    def _respond(
        self, query: wire.Query, data: bytes, peer: tuple[Any, ...], tcp: bool
    ) -> bytes | Pending:
        if query.opcode != wire.OPCODE_QUERY:
            return wire.pack_rcode(query, NOTIMP)
        if query.questions != 1:
            return wire.pack_rcode(query, FORMERR)
        if query.edns is not None and query.edns.version > 0:
            return wire.pack_rcode(query, BADVERS)
        if query.qclass != wire.CLASS_IN:
            return wire.pack_rcode(query, REFUSED)
        explained = debugname.reply(self.zone, query.qname, query.qtype, peer, self.forwarder)
        if explained is not None:  # loopback clients only; never stored: it depends on who asks
            return wire.pack(query, explained, wire.TCP_LIMIT if tcp else query.udp_limit())
        result = answer(self.zone, query.qname, query.qtype)
        if result is FORWARD:
            if not self._may_recurse(peer):
                return wire.pack_rcode(query, REFUSED)
            assert self.forwarder is not None
            question = _question(query, query.qname)
            cached = self.forwarder.cache.get(question)
            if cached is not None:  # answered at once, like the zone's own names: no task
                return cached.render(query, wire.TCP_LIMIT if tcp else query.udp_limit(),
                                     self.forwarder.cache.clock())
            return self._forward(query, question, peer, tcp)
        assert isinstance(result, Reply)
        limit = wire.TCP_LIMIT if tcp else query.udp_limit()
        if result.chase and self._may_recurse(peer):
            return self._chase(query, result, peer, tcp)
        # RA says whether this server recurses at all (RFC 1035 4.1.1), so it is the same
        # for every client and the stored reply stays right for all of them.
        packed = wire.pack(query, result, limit, recursion_available=self.forwarder is not None)
        if not result.chase and not self.log_queries:
            self.packed.store(data, tcp, packed)
        return packed

    def _may_recurse(self, peer: tuple[Any, ...]) -> bool:
        return self.forwarder is not None and self.recursion.allows(str(peer[0]))

    async def _forward(self, query: wire.Query, question: Question, peer: tuple[Any, ...],
                       tcp: bool) -> bytes:
        """The upstreams' answer made the client's; SERVFAIL when none came in time."""
        upstream = await self._resolve(question)
        if upstream is None:
            reply = wire.pack_rcode(query, SERVFAIL, recursion_available=True)
        else:
            reply = upstream.render(query, wire.TCP_LIMIT if tcp else query.udp_limit(),
                                    self._now())
        if self.log_queries:
            self._log(query, peer, tcp, reply)
        return reply

    async def _chase(self, query: wire.Query, result: Reply, peer: tuple[Any, ...],
                     tcp: bool) -> bytes:
        """An ExternalName's CNAME with its target's records from upstream after it.

        When the upstream fails or denies the target, the CNAME alone still goes out, as
        CoreDNS does: the client may resolve the target itself.
        """
        upstream = await self._resolve(_question(query, result.chase))
        chased = (upstream.aged_answer(self._now())
                  if upstream is not None and upstream.rcode == NOERROR else [])
        reply = wire.pack(query, result, wire.TCP_LIMIT if tcp else query.udp_limit(),
                          recursion_available=True, chased=chased)
        if self.log_queries:
            self._log(query, peer, tcp, reply)
        return reply

    def _now(self) -> float:
        assert self.forwarder is not None
        return self.forwarder.cache.clock()

    async def _resolve(self, question: Question) -> Forwarded | None:
        assert self.forwarder is not None
        try:
            return await self.forwarder.resolve(question)
        except Exception:  # a bug must cost one SERVFAIL, never silence
            log.exception("forwarding %s failed", question)
            return None

    def _log(self, query: wire.Query, peer: tuple[Any, ...], tcp: bool, reply: bytes) -> None:
        rcode = reply[3] & 0xF if len(reply) > 3 else -1
        log.info("%s %s %s %s rcode=%d %dB", peer[0], "tcp" if tcp else "udp", query.qname,
                 TYPE_NAMES.get(query.qtype, query.qtype), rcode, len(reply))


def _question(query: wire.Query, name: str) -> Question:
    """What to ask upstream for `name` on behalf of `query`: its type, DO and CD bits."""
    return Question(fqdn(name), query.qtype, dnssec_ok=query.edns is not None and query.edns.do,
                    checking_disabled=query.cd)


class _UdpProtocol(asyncio.DatagramProtocol):
    def __init__(self, responder: Responder) -> None:
        self.responder = responder
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        # The hot path, kept to one dictionary lookup and one send without a Python call
        # in between: at 50k queries/s every call is a percent of the CPU. The rest of
        # `PackedAnswers.reply` (other spellings of the name) comes next.
        stored = self.responder.packed.udp_exact.get(data[2:])
        if stored is not None:
            self.transport.sendto(data[:2] + stored, addr)  # type: ignore[union-attr]
            return
        self._answer(data, addr)

    def _answer(self, data: bytes, addr: tuple[Any, ...]) -> None:
        reply = self.responder.respond(data, addr, tcp=False)
        if isinstance(reply, bytes):
            self._reply(data, reply, addr)
        elif reply is not None:
            task = asyncio.ensure_future(reply)
            task.add_done_callback(lambda t: self._reply_result(data, t, addr))

    def _reply_result(self, data: bytes, task: asyncio.Future[bytes | None],
                      addr: tuple[Any, ...]) -> None:
        if not task.cancelled() and task.exception() is None and task.result():
            self._reply(data, task.result(), addr)  # type: ignore[arg-type]

    def _reply(self, data: bytes, reply: bytes, addr: tuple[Any, ...]) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.sendto(reply, addr)

    def error_received(self, exc: Exception) -> None:
        # ICMP port unreachable from a client that went away: nothing to do.
        log.debug("udp error: %s", exc)


class _RateLimitedUdpProtocol(_UdpProtocol):
    """A listener beyond loopback: every reply, stored ones too, is charged to an account.

    A separate class, so listeners without a limit keep the bare hot path above.
    """

    def __init__(self, responder: Responder, limiter: RateLimiter) -> None:
        super().__init__(responder)
        self.limiter = limiter

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        stored = self.responder.packed.udp_exact.get(data[2:])
        if stored is not None:
            self._reply(data, data[:2] + stored, addr)
        else:
            self._answer(data, addr)

    def _reply(self, data: bytes, reply: bytes, addr: tuple[Any, ...]) -> None:
        verdict = self.limiter.judge(rrl.account(addr[0], data, reply), time.monotonic())
        if verdict == rrl.SEND:
            super()._reply(data, reply, addr)
        elif verdict == rrl.SLIP:
            super()._reply(data, rrl.slipped(reply), addr)


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


class ListenError(OSError):
    """Binding one listen address failed; says which, so the message can name it."""

    def __init__(self, host: str, port: int, cause: OSError) -> None:
        super().__init__(cause.errno, f"{format_address(host, port)}: {cause.strerror}")
        self.host, self.port, self.cause = host, port, cause


def bind_all(
    listen: tuple[tuple[str, int], ...], reuse_port: bool = False
) -> list[tuple[socket.socket, socket.socket]]:
    """A UDP and TCP pair for every listen address; all or nothing."""
    pairs: list[tuple[socket.socket, socket.socket]] = []
    for host, port in listen:
        try:
            pairs.append(bind_sockets(host, port, reuse_port))
        except OSError as exc:
            for udp, tcp in pairs:
                udp.close()
                tcp.close()
            raise ListenError(host, port, exc) from exc
    return pairs


def _grow_receive_buffer(sock: socket.socket) -> None:
    # Python's socket module does not export SO_RCVBUFFORCE; 33 is its Linux number. As
    # root it lifts the net.core.rmem_max cap that plain SO_RCVBUF is held to.
    force = getattr(socket, "SO_RCVBUFFORCE", 33 if sys.platform == "linux" else None)
    try:
        if force is None:
            raise PermissionError
        sock.setsockopt(socket.SOL_SOCKET, force, UDP_RECEIVE_BUFFER)
    except PermissionError:  # not root: the kernel caps SO_RCVBUF at net.core.rmem_max
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, UDP_RECEIVE_BUFFER)


class DnsServer:
    """All listeners of one process, started and stopped together.

    UDP listeners that `rate_limit` covers share one rate limiter; TCP is never limited.
    """

    def __init__(self, responder: Responder, rate_limit: RateLimit | None = None) -> None:
        self.responder = responder
        self.rate_limit = rate_limit if rate_limit is not None else RateLimit()
        self.limiter: RateLimiter | None = None
        self.transports: list[asyncio.BaseTransport] = []
        self.servers: list[asyncio.base_events.Server] = []
        self.addresses: list[tuple[str, int]] = []

    async def start(self, sockets: list[tuple[socket.socket, socket.socket]]) -> None:
        """Serve on bound (UDP, TCP) pairs, as `bind_all` returns them."""
        loop = asyncio.get_running_loop()
        connections = TcpConnections(self.responder)
        for udp, tcp in sockets:
            host = udp.getsockname()[0]
            transport, _ = await loop.create_datagram_endpoint(
                lambda host=host: self._udp_protocol(host), sock=udp
            )
            self.transports.append(transport)
            self.servers.append(await asyncio.start_server(connections.handle, sock=tcp,
                                                           backlog=LISTEN_BACKLOG))
            self.addresses.append((host, udp.getsockname()[1]))

    def _udp_protocol(self, host: str) -> _UdpProtocol:
        rate = self.rate_limit.rate_for(host)
        if not rate:
            return _UdpProtocol(self.responder)
        if self.limiter is None:
            self.limiter = RateLimiter(rate, self.rate_limit.slip, self.rate_limit.window)
        return _RateLimitedUdpProtocol(self.responder, self.limiter)

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


def run(config: Config, zone: Zone, cluster: Cluster | None = None,
        cache: FileCache | None = None, known: State | None = None,
        warnings: Sequence[ManifestWarning] = ()) -> None:
    """Bind, start the extra workers if asked, and serve until SIGINT or SIGTERM.

    Binding happens before forking, so an address in use fails once, in the parent, and
    port 0 becomes one concrete port that every worker then binds too.
    """
    sockets = bind_all(config.listen, reuse_port=config.workers > 1)
    workers = None
    if config.workers > 1:
        concrete = tuple((host, udp.getsockname()[1]) for (host, _), (udp, _) in
                         zip(config.listen, sockets, strict=True))

        def run_worker(index: int) -> int:
            for udp, tcp in sockets:  # the parent's: each worker binds its own
                udp.close()
                tcp.close()
            mine = bind_all(concrete, reuse_port=True)
            asyncio.run(serve(config, zone, cluster, cache, mine, worker=index, known=known,
                              warnings=warnings))
            return 0

        workers = fork_workers(config.workers - 1, run_worker)
    asyncio.run(serve(config, zone, cluster, cache, sockets, workers=workers, known=known,
                      warnings=warnings))


def forwarder_for(config: Config) -> Forwarder | None:
    """The forwarder, with its own answer cache, that `config` asks for; None when off."""
    if not config.upstreams:
        return None
    cache = Cache(config.cache_size, config.cache_max_ttl, config.cache_max_negative_ttl)
    return Forwarder(config.upstreams, cache, config.upstream_timeout, config.upstream_budget)


def _log_forwarding(config: Config, recursion: ClientRanges) -> None:
    if config.upstreams:
        log.info("forwarding names outside %s to %s (cache %d entries)", config.zone.domain,
                 ", ".join(format_address(h, p) for h, p in config.upstreams),
                 config.cache_size)
    else:
        log.info("forwarding off: names outside %s get REFUSED", config.zone.domain)
    warning = exposure_warning(config.listen, recursion, bool(config.upstreams))
    if warning:
        log.warning("%s", warning)


async def serve(
    config: Config, zone: Zone, cluster: Cluster | None = None, cache: FileCache | None = None,
    sockets: list[tuple[socket.socket, socket.socket]] | None = None,
    workers: Workers | None = None, worker: int = 0, known: State | None = None,
    warnings: Sequence[ManifestWarning] = (),
) -> None:
    """Serve until SIGINT or SIGTERM, reloading as the manifests change.

    `cluster` and `cache` are what `zone` was built from, so the first reload re-reads
    only the files that changed. `workers` are the parent's children, to be told about
    SIGHUP and stopped with it; `worker` numbers a child, whose start is logged quietly.
    """
    recursion = ClientRanges.parse(config.recursion_clients)
    transfers = transfers_for(config, zone)
    responder = Responder(zone, config.log_queries, forwarder_for(config), recursion,
                          transfers)
    server = DnsServer(responder, config.rate_limit)
    await server.start(sockets if sockets is not None else bind_all(config.listen))
    if transfers is not None:
        transfers.start()
    reloader = Reloader(config, zone, responder.swap, cluster, cache, known, warnings)
    reloader.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    watching = None
    if workers:
        def reload_all() -> None:
            reloader.request(True)
            workers.signal(signal.SIGHUP)

        loop.add_signal_handler(signal.SIGHUP, reload_all)
        watching = asyncio.ensure_future(workers.watch())
    where = ", ".join(format_address(h, p) for h, p in server.addresses)
    if worker:
        log.debug("worker %d (pid %d) serving on %s", worker, os.getpid(), where)
    else:
        _log_forwarding(config, recursion)
        stats = zone.stats
        log.info(
            "clusterdns serving %s (%d services, %d pods, %d endpoints, %d records%s) "
            "on %s (udp+tcp)", zone.origin, stats["services"], stats["pods"],
            stats["endpoints"], stats["records"],
            f", {config.workers} workers" if config.workers > 1 else "", where,
        )
    await stop.wait()
    log.info("clusterdns stopping")
    if workers:
        assert watching is not None
        watching.cancel()
        await workers.stop()
    await reloader.stop()
    if transfers is not None:
        await transfers.stop()
    await server.close()
