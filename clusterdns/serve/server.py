"""Where `serve` is put together: listeners, the responder, reloads, workers, HTTP pages.

The parts live in their own modules: answering in `responder`, binding in `sockets`,
TCP's connections in `tcp`, UDP's datagrams in `udp` and `batch`, rate limiting in
`rrl`, transfers in `transfer`, what is watched in `ops/`; this module wires them for one
process (and forks the workers) and runs until SIGINT or SIGTERM.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import signal
import socket
from collections.abc import Sequence

from ..ops import metrics
from ..ops.exposition import Samples, merge, render
from ..ops.gather import WorkerCounters, WorkerLinks, answer_counters
from ..ops.http import EXPOSITION, HEALTH, METRICS, READY, HttpListener, Probes, Response
from ..ops.metrics import Listener, sample_stored
from ..ops.querylog import JSON, QueryLog
from ..source.manifests import FileCache
from ..source.model import Cluster
from ..source.problems import ManifestWarning
from ..source.state import State
from ..zone.build import Zone
from .access import ClientRanges, exposure_warning
from .autopath import Autopath
from .batch import BatchedUdp, RateLimitedBatchedUdp, compiled_available
from .batch import available as batching_available
from .cache import Cache
from .config import Config
from .reload import Reloader
from .responder import Responder
from .rrl import RateLimit, RateLimiter
from .sockets import bind_all, format_address
from .tcp import LISTEN_BACKLOG, TcpConnections
from .transfer import transfers_for
from .udp import RateLimitedUdpProtocol, UdpProtocol
from .upstream import Forwarder
from .workers import Workers, fork_workers

log = logging.getLogger(__name__)


class DnsServer:
    """All listeners of one process, started and stopped together.

    UDP listeners that `rate_limit` covers share one rate limiter; TCP is never limited.
    UDP is answered in batches (`batch.py`) unless `batch` is False or the system cannot,
    by a native thread per listener without a limit unless `compiled` is False or the C
    part was not built.
    """

    def __init__(self, responder: Responder, rate_limit: RateLimit | None = None,
                 batch: bool = True, compiled: bool = True) -> None:
        self.responder = responder
        self.rate_limit = rate_limit if rate_limit is not None else RateLimit()
        self.limiter: RateLimiter | None = None
        self.batching = batch and batching_available()
        self.compiled = self.batching and compiled and compiled_available()
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
                    BatchedUdp(udp, self.responder, counts, self.compiled) if limiter is None else
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


def _udp_path(server: DnsServer) -> str:
    """How `server` reads UDP, for the start-up log."""
    if not server.batching:
        return "one datagram at a time"
    return "in batches (C threads)" if server.compiled else "in batches (Python loop)"


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
    server = DnsServer(responder, config.rate_limit, config.batch, config.compiled)
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
    if worker:
        log.debug("worker %d (pid %d) serving on %s, UDP %s", worker, os.getpid(), where,
                  _udp_path(server))
    else:  # said once: every worker reads UDP the same way
        if config.batch and not server.batching:
            log.info("no recvmmsg/sendmmsg here: UDP is answered one datagram at a time")
        elif config.batch and config.compiled and not server.compiled:
            log.info("the C answering threads were not built at install (no compiler or no "
                     "Python headers): UDP batches are answered in Python")
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
