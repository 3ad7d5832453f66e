"""The network edge: UDP and TCP listeners around one current Zone.

Everything DNS-specific lives in `answer` and `wire`, TCP's connections in `tcp`, UDP's
datagrams in `udp`, rate limiting in `rrl`; this module only moves bytes, keeps the
current zone in one attribute (so a reload is one assignment), and makes sure no packet,
however broken, can stop the loop or go unanswered when it should be answered.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import functools
import logging
import os
import signal
import socket
import sys
import time
from collections.abc import Sequence
from typing import Any

from ..ops import metrics
from ..ops.exposition import Samples, merge, render
from ..ops.gather import WorkerCounters, WorkerLinks, answer_counters
from ..ops.http import EXPOSITION, HEALTH, METRICS, READY, HttpListener, Probes, Response
from ..ops.metrics import Listener, StoredMix, reply_rcode, sample_stored, stored_key
from ..ops.querylog import JSON, Entry, QueryLog
from ..source.manifests import FileCache
from ..source.model import Cluster
from ..source.problems import ManifestWarning
from ..source.state import State
from ..zone.answer import FORWARD, Reply, answer
from ..zone.build import Zone
from ..zone.records import (
    BADVERS,
    CNAME,
    FORMERR,
    NOERROR,
    NOTIMP,
    NXDOMAIN,
    REFUSED,
    SERVFAIL,
    Record,
    fqdn,
)
from . import debugname, wire
from .access import DEFAULT_RECURSION_CLIENTS, ClientRanges, exposure_warning
from .autopath import Autopath
from .batch import BatchedUdp, RateLimitedBatchedUdp
from .batch import available as batching_available
from .cache import Cache
from .config import Config
from .forwarded import Forwarded
from .message import NOT_AUTHORITATIVE, PROHIBITED, ExtendedError
from .packed import PackedAnswers
from .reload import Reloader
from .rrl import RateLimit, RateLimiter
from .tcp import LISTEN_BACKLOG, Pending, TcpConnections
from .transfer import Transfers, transfers_for
from .udp import RateLimitedUdpProtocol, UdpProtocol
from .upstream import Forwarder, Question
from .workers import Workers, fork_workers

log = logging.getLogger(__name__)

UDP_RECEIVE_BUFFER = 4 << 20  # the default 208 KiB drops bursts past ~200 queries in flight
_RECURSION_PROHIBITED = ExtendedError(PROHIBITED, "recursion is not allowed for this client")
# With forwarding off, a name outside every zone served is NXDOMAIN at once: musl and glibc
# wait out their whole timeout on REFUSED, so a hermetic set-up would crawl.
_FORWARDING_OFF = ExtendedError(NOT_AUTHORITATIVE, "forwarding is off (--upstream none): "
                                "clusterdns answers only the names it serves")


class Responder:
    """Turns query bytes into reply bytes from the current zone, or from the upstreams.

    `forwarder` None means forwarding is off: names outside the zone get REFUSED.
    `recursion` says which clients may have names outside the zone resolved. `query_log`
    gets every answered query; `counting` turns on the metrics beyond the fast path's
    one integer (`ops.metrics`): each reply is then recorded on the `Listener` of the
    address it came in on.
    """

    def __init__(self, zone: Zone, query_log: QueryLog | None = None,
                 forwarder: Forwarder | None = None,
                 recursion: ClientRanges | None = None,
                 transfers: Transfers | None = None, counting: bool = False,
                 autopath: Autopath | None = None) -> None:
        self.zone = zone
        self.packed = PackedAnswers()
        self.query_log = query_log
        self.forwarder = forwarder
        self.recursion = (recursion if recursion is not None
                          else ClientRanges.parse(DEFAULT_RECURSION_CLIENTS))
        self.transfers = transfers  # AXFR/IXFR over TCP; None: REFUSED like over UDP
        self.autopath = autopath  # server-side search for pods; None: off
        self.mix = StoredMix() if counting else None
        self.panics = 0  # answers a bug turned into SERVFAIL (CoreDNS's coredns_panics_total)

    def swap(self, zone: Zone) -> None:
        """Serve `zone` from now on; everything derived from a zone changes in this one step.

        Called on the event loop, so no query runs between the two assignments.
        """
        old, self.zone, self.packed = self.zone, zone, PackedAnswers()
        if self.transfers is not None:
            self.transfers.swapped(old, zone)

    def respond(self, data: bytes, peer: tuple[Any, ...], tcp: bool,
                listener: Listener | None = None) -> bytes | Pending | None:
        """The reply to `data`, a coroutine when it must wait for an upstream, or None."""
        if self.mix is None or listener is None:
            stored = self.packed.reply(data, tcp)
            return stored if stored is not None else self.compute(data, peer, tcp, listener)
        started = time.perf_counter()
        stored = self.packed.reply(data, tcp)
        if stored is None:
            return self.compute(data, peer, tcp, listener, started)
        seconds = time.perf_counter() - started
        key, asked, sent = stored_key(data, stored)
        listener.record_stored(tcp, key, asked, sent, seconds)
        self.mix.hit(key, asked, sent, seconds, sample=not tcp)
        return stored

    def compute(self, data: bytes, peer: tuple[Any, ...], tcp: bool,
                listener: Listener | None = None, started: float | None = None,
                ) -> bytes | Pending | None:
        """`respond` without the stored replies: parse, answer, pack, and store if it may."""
        if started is None:
            started = time.perf_counter()
        try:
            query = wire.parse_query(data)
        except (wire.MalformedQuery, RecursionError):
            # Nothing here recurses on packet data; should that ever change, a hostile
            # packet must still cost one FORMERR, not a traceback.
            error = wire.error_for_bytes(data, FORMERR)
            if error is not None:
                self._done(None, data, peer, tcp, listener, started, error, metrics.DROPPED,
                           metrics.SERVER)
            return error
        try:
            reply, zone, plugin = self._respond(query, data, peer, tcp, listener, started)
        except Exception:  # a bug must cost one SERVFAIL, never the server or silence
            self.panics += 1
            log.exception("answering %s %s failed", query.qname, query.qtype)
            reply, zone, plugin = (wire.error_for_bytes(data, SERVFAIL), metrics.ZONE,
                                   metrics.SERVER)
        if isinstance(reply, bytes):
            self._done(query, data, peer, tcp, listener, started, reply, zone, plugin)
        return reply

    def _respond(
        self, query: wire.Query, data: bytes, peer: tuple[Any, ...], tcp: bool,
        listener: Listener | None, started: float,
    ) -> tuple[bytes | Pending, str, str]:
        """The reply, and the zone and plugin labels it is counted under."""
        if query.opcode != wire.OPCODE_QUERY:
            return wire.pack_rcode(query, NOTIMP), metrics.DROPPED, metrics.SERVER
        if query.questions != 1:
            return wire.pack_rcode(query, FORMERR), metrics.DROPPED, metrics.SERVER
        if query.edns is not None and query.edns.version > 0:
            return wire.pack_rcode(query, BADVERS), metrics.DROPPED, metrics.SERVER
        if query.qclass != wire.CLASS_IN:
            return wire.pack_rcode(query, REFUSED), metrics.DROPPED, metrics.SERVER
        explained = debugname.reply(self.zone, query.qname, query.qtype, peer, self.forwarder)
        if explained is not None:  # loopback clients only; never stored: it depends on who asks
            reply = wire.pack(query, explained, wire.TCP_LIMIT if tcp else query.udp_limit())
            return reply, metrics.ZONE, metrics.KUBERNETES
        result = answer(self.zone, query.qname, query.qtype)
        if result is FORWARD:
            if self.forwarder is None:
                unserved = Reply(NXDOMAIN, authoritative=False)
                return (wire.pack(query, unserved, error=_FORWARDING_OFF), metrics.ZONE,
                        metrics.SERVER)
            if not self._may_recurse(peer):
                return (wire.pack_rcode(query, REFUSED, error=_RECURSION_PROHIBITED),
                        metrics.ZONE, metrics.SERVER)
            assert self.forwarder is not None
            question = _question(query, query.qname)
            cached = self.forwarder.cache.get(question)
            if self.mix is not None and listener is not None:
                listener.cache_lookup(cached is not None, cached is not None and (
                    cached.rcode == NXDOMAIN or not cached.answer))
            if cached is not None:  # answered at once, like the zone's own names: no task
                return (cached.render(query, wire.TCP_LIMIT if tcp else query.udp_limit(),
                                      self.forwarder.cache.clock()), metrics.ZONE, metrics.CACHE)
            return (self._forward(query, question, data, peer, tcp, listener, started),
                    metrics.ZONE, metrics.FORWARD)
        assert isinstance(result, Reply)
        limit = wire.TCP_LIMIT if tcp else query.udp_limit()
        if self.autopath is not None and result.rcode == NXDOMAIN:
            walk = self.autopath.walk(self.zone, query.qname, str(peer[0]))
            if walk is not None:
                return (self._autopath(query, result, walk, data, peer, tcp, listener, started),
                        metrics.ZONE, metrics.KUBERNETES)
        if result.chase and self._may_recurse(peer):
            return (self._chase(query, result, data, peer, tcp, listener, started),
                    metrics.ZONE, metrics.KUBERNETES)
        # RA says whether this server recurses at all (RFC 1035 4.1.1), so it is the same
        # for every client and the stored reply stays right for all of them.
        packed = wire.pack(query, result, limit, recursion_available=self.forwarder is not None)
        # With autopath a pod gets another answer for an NXDOMAIN below svc.<zone> than
        # other clients do, so such an answer is not stored for all of them.
        per_client = (self.autopath is not None and result.rcode == NXDOMAIN
                      and query.qname.lower().rstrip(".").endswith(f".svc.{self.zone.origin}"
                                                                  .rstrip(".")))
        if (not result.chase and not per_client and self.query_log is None
                and self.packed.store(data, tcp, packed) and self.mix is not None and not tcp):
            self.mix.written(data, packed)
        return packed, metrics.ZONE, metrics.KUBERNETES

    def _may_recurse(self, peer: tuple[Any, ...]) -> bool:
        return self.forwarder is not None and self.recursion.allows(str(peer[0]))

    async def _forward(self, query: wire.Query, question: Question, data: bytes,
                       peer: tuple[Any, ...], tcp: bool, listener: Listener | None,
                       started: float) -> bytes:
        """The upstreams' answer made the client's; SERVFAIL, and why, when none came."""
        upstream = await self._resolve(question)
        if isinstance(upstream, Forwarded):
            reply = upstream.render(query, wire.TCP_LIMIT if tcp else query.udp_limit(),
                                    self._now())
            plugin = metrics.FORWARD
        else:  # as in CoreDNS, the server writes this SERVFAIL: no plugin did
            reply = wire.pack_rcode(query, SERVFAIL, recursion_available=True, error=upstream)
            plugin = metrics.SERVER
        self._done(query, data, peer, tcp, listener, started, reply, metrics.ZONE, plugin)
        return reply

    async def _chase(self, query: wire.Query, result: Reply, data: bytes,
                     peer: tuple[Any, ...], tcp: bool, listener: Listener | None,
                     started: float) -> bytes:
        """An ExternalName's CNAME with its target's records from upstream after it.

        When the upstream fails or denies the target, the CNAME alone still goes out, as
        CoreDNS does: the client may resolve the target itself.
        """
        upstream = await self._resolve(_question(query, result.chase))
        chased = (upstream.aged_answer(self._now())
                  if isinstance(upstream, Forwarded) and upstream.rcode == NOERROR else [])
        reply = wire.pack(query, result, wire.TCP_LIMIT if tcp else query.udp_limit(),
                          recursion_available=True, chased=chased)
        self._done(query, data, peer, tcp, listener, started, reply, metrics.ZONE,
                   metrics.KUBERNETES)
        return reply

    async def _autopath(self, query: wire.Query, first: Reply, walk: list[str], data: bytes,
                        peer: tuple[Any, ...], tcp: bool, listener: Listener | None,
                        started: float) -> bytes:
        """Walk the rest of a pod's search path; the first name that is not NXDOMAIN
        answers, behind a CNAME from the asked name. Every one NXDOMAIN: the first answer,
        and the client walks its path itself (CoreDNS's autopath, as cname.go writes it).
        """
        assert self.autopath is not None
        limit = wire.TCP_LIMIT if tcp else query.udp_limit()
        asked = fqdn(query.qname).lower()
        reply = None
        for candidate in walk:
            found = answer(self.zone, candidate, query.qtype)
            if isinstance(found, Reply):
                if found.rcode == NXDOMAIN:
                    continue
                # A name that exists without the type: the empty answer, no CNAME.
                records = ((Record(asked, CNAME, found.answer[0].ttl, candidate),
                            *found.answer) if found.answer else ())
                reply = wire.pack(query, Reply(NOERROR, records, found.authority,
                                               found.additional),
                                  limit, recursion_available=self.forwarder is not None)
                break
            if not self._may_recurse(peer):
                continue
            upstream = await self._resolve(_question(query, candidate))
            if not isinstance(upstream, Forwarded) or upstream.rcode == NXDOMAIN:
                continue
            chased = upstream.aged_answer(self._now())
            cname = ((Record(asked, CNAME, chased[0].ttl, candidate),) if chased else ())
            reply = wire.pack(query, Reply(upstream.rcode, cname, authoritative=False), limit,
                              recursion_available=True, chased=chased)
            break
        if reply is None:
            reply = wire.pack(query, first, limit, recursion_available=self.forwarder is not None)
        else:
            self.autopath.successes += 1
        self._done(query, data, peer, tcp, listener, started, reply, metrics.ZONE,
                   metrics.KUBERNETES)
        return reply

    def _now(self) -> float:
        assert self.forwarder is not None
        return self.forwarder.cache.clock()

    async def _resolve(self, question: Question) -> Forwarded | ExtendedError | None:
        """The upstream answer, why there is none, or None when a bug got in the way."""
        assert self.forwarder is not None
        try:
            return await self.forwarder.resolve(question)
        except Exception:  # a bug must cost one SERVFAIL, never silence
            self.panics += 1
            log.exception("forwarding %s failed", question)
            return None

    def _done(self, query: wire.Query | None, data: bytes, peer: tuple[Any, ...], tcp: bool,
              listener: Listener | None, started: float, reply: bytes, zone: str,
              plugin: str) -> None:
        """Count the reply and log the query, if either is on; `query` None: unreadable."""
        if self.mix is None and self.query_log is None:
            return
        seconds = time.perf_counter() - started
        edns = query.edns if query is not None else None
        rcode = reply_rcode(reply, edns.version if edns is not None else 0)
        if self.mix is not None and listener is not None:
            listener.record(zone, tcp, query.qtype if query is not None else None,
                            edns is not None and edns.do, rcode, plugin, seconds, len(data),
                            len(reply))
        if self.query_log is not None and query is not None:
            self.query_log.add(Entry(
                str(peer[0]), int(peer[1]), tcp, query.id, query.question,
                (edns.udp_size, edns.do) if edns is not None else None, len(data), reply,
                seconds, rcode, time.time()))


def _question(query: wire.Query, name: str) -> Question:
    """What to ask upstream for `name` on behalf of `query`: its type, DO and CD bits."""
    return Question(fqdn(name), query.qtype, dnssec_ok=query.edns is not None and query.edns.do,
                    checking_disabled=query.cd)


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
    UDP is answered in batches (`batch.py`) unless `batch` is False or the system cannot.
    """

    def __init__(self, responder: Responder, rate_limit: RateLimit | None = None,
                 batch: bool = True) -> None:
        self.responder = responder
        self.rate_limit = rate_limit if rate_limit is not None else RateLimit()
        self.limiter: RateLimiter | None = None
        self.batching = batch and batching_available()
        self.batched: list[BatchedUdp] = []
        self.transports: list[asyncio.BaseTransport] = []
        self.servers: list[asyncio.base_events.Server] = []
        self.addresses: list[tuple[str, int]] = []
        self.listeners: list[Listener] = []  # what each address answered, for /metrics

    async def start(self, sockets: list[tuple[socket.socket, socket.socket]]) -> None:
        """Serve on bound (UDP, TCP) pairs, as `bind_all` returns them."""
        loop = asyncio.get_running_loop()
        connections = TcpConnections(self.responder)
        for udp, tcp in sockets:
            host, port = udp.getsockname()[:2]
            counts = Listener(host, port)
            limiter = self._limiter(host)
            if self.batching:
                self.batched.append(
                    BatchedUdp(udp, self.responder, counts) if limiter is None else
                    RateLimitedBatchedUdp(udp, self.responder, counts, limiter))
            else:
                transport, _ = await loop.create_datagram_endpoint(
                    lambda counts=counts, limiter=limiter: self._udp_protocol(counts, limiter),
                    sock=udp)
                self.transports.append(transport)
            self.servers.append(await asyncio.start_server(
                functools.partial(connections.handle, listener=counts), sock=tcp,
                backlog=LISTEN_BACKLOG))
            self.addresses.append((host, port))
            self.listeners.append(counts)

    def _limiter(self, host: str) -> RateLimiter | None:
        """The rate limiter of a UDP listener on `host`, shared by all; None: no limit."""
        rate = self.rate_limit.rate_for(host)
        if not rate:
            return None
        if self.limiter is None:
            self.limiter = RateLimiter(rate, self.rate_limit.slip, self.rate_limit.window)
        return self.limiter

    def _udp_protocol(self, counts: Listener, limiter: RateLimiter | None) -> UdpProtocol:
        if limiter is None:
            return UdpProtocol(self.responder, counts)
        return RateLimitedUdpProtocol(self.responder, counts, limiter)

    async def close(self) -> None:
        for batched in self.batched:
            batched.close()
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
        warnings: Sequence[ManifestWarning] = (),
        http: Sequence[tuple[socket.socket, tuple[str, ...]]] = ()) -> None:
    """Bind, start the extra workers if asked, and serve until SIGINT or SIGTERM.

    Binding happens before forking, so an address in use fails once, in the parent, and
    port 0 becomes one concrete port that every worker then binds too. `http` are the
    bound /health, /ready and /metrics sockets (`ops.http.bind`): the first process
    alone serves them, and with metrics on it asks the other workers for their counters.
    """
    sockets = bind_all(config.listen, reuse_port=config.workers > 1)
    workers = None
    links = WorkerLinks(config.workers - 1 if config.metrics else 0)
    if config.workers > 1:
        concrete = tuple((host, udp.getsockname()[1]) for (host, _), (udp, _) in
                         zip(config.listen, sockets, strict=True))

        def run_worker(index: int) -> int:
            for udp, tcp in sockets:  # the parent's: each worker binds its own
                udp.close()
                tcp.close()
            for sock, _ in http:
                sock.close()
            link = links.for_child(index) if config.metrics else None
            mine = bind_all(concrete, reuse_port=True)
            asyncio.run(serve(config, zone, cluster, cache, mine, worker=index, known=known,
                              warnings=warnings, link=link))
            return 0

        workers = fork_workers(config.workers - 1, run_worker)
    asyncio.run(serve(config, zone, cluster, cache, sockets, workers=workers, known=known,
                      warnings=warnings, http=http, children=links.for_parent()))


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
    http: Sequence[tuple[socket.socket, tuple[str, ...]]] = (),
    children: Sequence[socket.socket] = (), link: socket.socket | None = None,
) -> None:
    """Serve until SIGINT or SIGTERM, reloading as the manifests change.

    `cluster` and `cache` are what `zone` was built from, so the first reload re-reads
    only the files that changed. `workers` are the parent's children, to be told about
    SIGHUP and stopped with it; `worker` numbers a child, whose start is logged quietly.
    `http` are the probe and metrics sockets (the first process's), `children` its ends of
    the links to the workers' counters, `link` a worker's end.

    SIGTERM with `config.lameduck` turns /ready to 503 at once and keeps DNS and /health
    answering for that long before stopping; a second signal cuts it short.
    """
    recursion = ClientRanges.parse(config.recursion_clients)
    transfers = transfers_for(config, zone)
    query_log = QueryLog(config.log_format == JSON) if config.log_queries else None
    if query_log is not None:
        query_log.start()
    responder = Responder(zone, query_log, forwarder_for(config), recursion, transfers,
                          counting=bool(config.metrics),
                          autopath=Autopath(config.host_search) if config.autopath else None)
    server = DnsServer(responder, config.rate_limit, config.batch)
    await server.start(sockets if sockets is not None else bind_all(config.listen))
    if transfers is not None:
        transfers.start()
    reloader = Reloader(config, zone, responder.swap, cluster, cache, known, warnings)
    reloader.start()
    background = []
    if responder.mix is not None:
        background.append(asyncio.ensure_future(
            sample_stored(lambda: responder.packed, responder.mix)))
    if link is not None:
        background.append(asyncio.ensure_future(answer_counters(
            link, lambda: _counters(responder, server, query_log, first=False))))
    probes = Probes()
    probes.loaded = True  # the zone is here and every listener is bound
    pages = await _start_pages(config, http, probes, responder, server, reloader, query_log,
                               children)
    stop = asyncio.Event()
    hurry = asyncio.Event()
    signals: list[int] = []
    loop = asyncio.get_running_loop()

    def stopping(sig: int) -> None:
        if signals:
            hurry.set()
        signals.append(sig)
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopping, sig)
    watching = None
    if workers:
        def reload_all() -> None:
            reloader.request(True)
            workers.signal(signal.SIGHUP)

        loop.add_signal_handler(signal.SIGHUP, reload_all)
        watching = asyncio.ensure_future(workers.watch())
    where = ", ".join(format_address(h, p) for h, p in server.addresses)
    if config.batch and not server.batching:
        log.info("no recvmmsg/sendmmsg here: UDP is answered one datagram at a time")
    if worker:
        log.debug("worker %d (pid %d) serving on %s, UDP %s", worker, os.getpid(), where,
                  "in batches" if server.batching else "one datagram at a time")
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
    probes.shutting_down = True
    if config.lameduck and signals[0] == signal.SIGTERM and not worker:
        log.info("going into lameduck mode for %gs: /ready says 503, DNS and /health "
                 "still answer", config.lameduck)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(hurry.wait(), config.lameduck)
    log.info("clusterdns stopping")
    if workers:
        assert watching is not None
        watching.cancel()
        await workers.stop()
    for task in background:
        task.cancel()
    await reloader.stop()
    if transfers is not None:
        await transfers.stop()
    await server.close()
    if pages is not None:
        await pages.close()
    if query_log is not None:
        query_log.close()


async def _start_pages(config: Config, http: Sequence[tuple[socket.socket, tuple[str, ...]]],
                       probes: Probes, responder: Responder, server: DnsServer,
                       reloader: Reloader, query_log: QueryLog | None,
                       children: Sequence[socket.socket]) -> HttpListener | None:
    """Serve /health, /ready and /metrics on their sockets; None when none was asked for."""
    if not http:
        return None
    gathered = WorkerCounters(children)
    await gathered.start()
    plugins = sorted({"kubernetes", "prometheus"}
                     | ({"forward", "cache"} if config.upstreams else set())
                     | ({"log"} if config.log_queries else set())
                     | ({"health"} if config.health else set())
                     | ({"ready"} if config.ready else set()))

    async def exposition() -> Response:
        samples = _counters(responder, server, query_log, first=True)
        for other in await gathered.gather():
            merge(samples, other)
        merge(samples, metrics.served_zone(responder.zone.stats, reloader.state,
                                           [c.server for c in server.listeners], plugins))
        return Response(200, render(samples), EXPOSITION)

    pages = {HEALTH: probes.health, READY: probes.ready, METRICS: exposition}
    listener = HttpListener([(sock, {path: pages[path] for path in paths})
                             for sock, paths in http])
    await listener.start()
    return listener


def _counters(responder: Responder, server: DnsServer, query_log: QueryLog | None,
              first: bool) -> Samples:
    """What this process counted, in the families every worker adds to the sum."""
    assert responder.mix is not None
    samples = metrics.answered(server.listeners, responder.mix, responder.panics)
    merge(samples, metrics.stored(responder.packed.sizes(),
                                  query_log.lost() if query_log is not None else 0))
    if responder.forwarder is not None:
        merge(samples, metrics.forwarding(server.listeners[0].server,
                                          responder.forwarder.cache.kinds(),
                                          responder.forwarder.timings))
    if responder.autopath is not None:
        merge(samples, metrics.autopath(server.listeners[0].server,
                                        responder.autopath.successes))
    merge(samples, metrics.process(first))
    return samples
