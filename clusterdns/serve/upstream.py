"""Asking upstream resolvers: UDP, TCP when the reply is truncated, failover, a deadline.

One question costs at most `budget` seconds whatever the upstreams do, and each upstream
gets at most `timeout` of it; the caller turns a None result into SERVFAIL, never into
silence or NXDOMAIN. An upstream that does not answer is asked last for
`HOLD_DOWN_SECONDS`, so the next questions go straight to one that works instead of
waiting out the same timeout again (CoreDNS's forward plugin reaches the same end with
health checks).

A reply counts only if it carries the ID and the question that were sent, so a stray or
spoofed datagram is ignored rather than believed. A reply that does carry them but cannot
be read whole (a name over 255 octets, a pointer that does not point back), or is still
truncated over TCP, is that upstream's failure: the next one is asked, and the client
gets SERVFAIL if none does better. Nothing unreadable is cached. Answers go through the
`Cache`, already scrubbed, capped and packed (`forwarded.prepare`), and identical
questions asked while one is in flight wait for that one request.

When none answers, the caller learns why as an Extended DNS Error (RFC 8914): 23 (Network
Error) when an upstream refused, reset or garbled the exchange, 22 (No Reachable
Authority) when they only stayed silent. An upstream's outage is logged when it starts
and when it ends, not at every failed question in between.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import secrets
import socket
import struct
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from ..ops.exposition import Histogram
from ..ops.metrics import RCODE_NAMES, TIME_BUCKETS
from ..resolvconf import nameservers
from ..zone.records import REFUSED, SERVFAIL
from . import message, names
from .cache import Cache
from .forwarded import Forwarded, prepare
from .message import (
    HEADER,
    NETWORK_ERROR,
    NO_REACHABLE_AUTHORITY,
    BadMessage,
    ExtendedError,
    Message,
)

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 2.0
# Under the 5 s that glibc, musl and dig wait before giving up, so the SERVFAIL arrives.
DEFAULT_BUDGET = 4.0
HOLD_DOWN_SECONDS = 10.0
EDNS_SIZE = 1232  # what we advertise upstream: no IP fragmentation (DNS flag day 2020)
DNS_PORT = 53
CLASS_IN = 1


class UpstreamError(Exception):
    """An upstream gave nothing usable: refused connection, closed stream, wrong reply."""


@dataclass(frozen=True)
class Question:
    """What is asked upstream, and the cache key: everything the reply depends on."""

    name: str  # lowercase, with its trailing dot
    qtype: int
    dnssec_ok: bool = False
    checking_disabled: bool = False


@dataclass(frozen=True)
class Request:
    """A query as sent upstream: its ID, its bytes, and its question section's bytes."""

    id: int
    data: bytes
    question: bytes


@dataclass
class Upstream:
    """One resolver to forward to, until when it is asked last, and its outage if any."""

    host: str
    port: int = DNS_PORT
    down_until: float = 0.0
    failing_since: float | None = None  # the clock when its current outage began
    failures: int = 0  # failed exchanges in the current outage

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


class Forwarder:
    """Resolves questions through a cache and a list of upstreams, in order."""

    def __init__(self, upstreams: Iterable[tuple[str, int]], cache: Cache,
                 timeout: float = DEFAULT_TIMEOUT, budget: float = DEFAULT_BUDGET,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.upstreams = [Upstream(host, port) for host, port in upstreams]
        self.cache = cache
        self.timeout = timeout
        self.budget = budget
        self.clock = clock
        self._in_flight: dict[Question, asyncio.Future[Forwarded | ExtendedError]] = {}
        # How long each upstream took to answer, by upstream and rcode: CoreDNS's
        # coredns_proxy_request_duration_seconds, read at scrape time.
        self.timings: dict[tuple[str, str], Histogram] = {}

    async def resolve(self, question: Question) -> Forwarded | ExtendedError:
        """The upstream answer to `question` (from the cache if it may), or why none came."""
        cached = self.cache.get(question)
        if cached is not None:
            return cached
        shared = self._in_flight.get(question)
        if shared is None:
            shared = asyncio.ensure_future(self._fetch(question))
            self._in_flight[question] = shared
            shared.add_done_callback(lambda _: self._in_flight.pop(question, None))
        # Shielded: a client that goes away must not cancel the others' request.
        return await asyncio.shield(shared)

    async def _fetch(self, question: Question) -> Forwarded | ExtendedError:
        reply = await self._ask(question)
        if isinstance(reply, ExtendedError):
            return reply
        answer = prepare(question.name, question.qtype, reply, self.cache.max_ttl,
                         self.cache.max_negative_ttl, self.cache.clock())
        self.cache.put(question, answer)
        return answer

    async def _ask(self, question: Question) -> Message | ExtendedError:
        deadline = self.clock() + self.budget
        fallback = None
        unreachable = None  # a network error, if any upstream failed with one
        for upstream in self._in_order():
            remaining = deadline - self.clock()
            if remaining <= 0:
                break
            try:
                reply = await self._exchange(upstream, question, remaining)
            except (UpstreamError, OSError, TimeoutError) as exc:
                self._mark_down(upstream, exc)
                if not isinstance(exc, TimeoutError):
                    unreachable = exc
                continue
            self._mark_up(upstream)
            if reply.rcode in (SERVFAIL, REFUSED):
                if fallback is None:  # another upstream may do better
                    fallback = reply
                continue
            return reply
        if fallback is not None:
            return fallback
        if unreachable is not None:
            return ExtendedError(NETWORK_ERROR, f"upstream failed: {_reason(unreachable)}")
        return ExtendedError(NO_REACHABLE_AUTHORITY, "no upstream answered in time")

    async def _exchange(self, upstream: Upstream, question: Question,
                        remaining: float) -> Message:
        request = build_request(question)
        started = self.clock()
        async with asyncio.timeout(min(self.timeout, remaining)):
            reply = await exchange_udp(upstream.host, upstream.port, request)
        if not reply.flags & message.TC:
            self._timed(upstream, reply, started)
            return reply
        left = remaining - (self.clock() - started)
        if left <= 0:
            raise TimeoutError
        async with asyncio.timeout(min(self.timeout, left)):
            reply = await exchange_tcp(upstream.host, upstream.port, request)
        if reply.flags & message.TC:
            # Nothing more to retry with: passing it on would give the client an empty
            # NOERROR, or a partial answer it may cache as whole.
            raise UpstreamError(f"truncated reply over TCP for {question.name}")
        self._timed(upstream, reply, started)
        return reply

    def _timed(self, upstream: Upstream, reply: Message, started: float) -> None:
        """Count one answered exchange, as CoreDNS's proxy does (answers only)."""
        key = (str(upstream), RCODE_NAMES.get(reply.rcode, str(reply.rcode)))
        timing = self.timings.get(key)
        if timing is None:
            timing = self.timings[key] = Histogram(TIME_BUCKETS)
        timing.observe(self.clock() - started)

    def _in_order(self) -> list[Upstream]:
        """Healthy upstreams in the order given, then the held-down ones, soonest back first."""
        now = self.clock()
        healthy = [u for u in self.upstreams if u.down_until <= now]
        held = sorted((u for u in self.upstreams if u.down_until > now),
                      key=lambda u: u.down_until)
        return healthy + held

    def _mark_down(self, upstream: Upstream, exc: BaseException) -> None:
        """Ask `upstream` last for a while; say so when this starts an outage."""
        now = self.clock()
        if upstream.failing_since is None:
            upstream.failing_since = now
            log.warning("upstream %s failed (%s); asking it last until it answers again",
                        upstream, _reason(exc))
        upstream.failures += 1
        upstream.down_until = now + HOLD_DOWN_SECONDS

    def _mark_up(self, upstream: Upstream) -> None:
        """`upstream` answered: its outage, if it had one, ends here, and the log says so."""
        upstream.down_until = 0.0
        if upstream.failing_since is None:
            return
        log.info("upstream %s answers again after %.1f s and %d failed question(s)",
                    upstream, self.clock() - upstream.failing_since, upstream.failures)
        upstream.failing_since, upstream.failures = None, 0


def _reason(exc: BaseException) -> str:
    """What went wrong, in a few words for the log and an Extended DNS Error's text."""
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    return str(exc) or type(exc).__name__


def build_request(question: Question) -> Request:
    """The query sent upstream: a fresh random ID, RD, EDNS0 with DO/CD as the client set."""
    ident = secrets.randbelow(1 << 16)
    flags = message.RD | (message.CD if question.checking_disabled else 0)
    asked = names.from_text(question.name) + struct.pack("!HH", question.qtype, CLASS_IN)
    opt = message.opt_record(EDNS_SIZE, 0, question.dnssec_ok)
    return Request(ident, HEADER.pack(ident, flags, 1, 0, 0, 1) + asked + opt, asked)


def matches(request: Request, data: bytes) -> Message | None:
    """`data` read whole, if it is the reply to `request` (same ID and question), else None.

    Raises `UpstreamError` when it is the reply but cannot be read whole: the upstream
    answered, badly, and waiting on would only turn that into a timeout.
    """
    end = HEADER.size + len(request.question)
    if (len(data) < end or data[:2] != request.data[:2] or not data[2] & 0x80
            or data[4:6] != b"\x00\x01" or data[HEADER.size:end].lower() != request.question):
        return None
    try:
        return message.read(data)
    except BadMessage as exc:
        name = names.to_text(request.question[:-4])
        raise UpstreamError(f"unreadable reply for {name}: {exc}") from None


class _UdpExchange(asyncio.DatagramProtocol):
    """One request on a connected UDP socket: the first matching datagram wins."""

    def __init__(self, request: Request, reply: asyncio.Future[Message]) -> None:
        self.request = request
        self.reply = reply

    def datagram_received(self, data: bytes, addr: tuple[object, ...]) -> None:
        if self.reply.done():
            return
        try:
            answer = matches(self.request, data)
        except UpstreamError as exc:
            self.reply.set_exception(exc)
            return
        if answer is not None:
            self.reply.set_result(answer)

    def error_received(self, exc: Exception) -> None:
        # ICMP port unreachable: nothing listens there, so fail now instead of timing out.
        if not self.reply.done():
            self.reply.set_exception(exc)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.reply.done():
            self.reply.set_exception(exc or UpstreamError("socket closed"))


async def exchange_udp(host: str, port: int, request: Request) -> Message:
    """Send `request` over UDP and wait for its reply; cancel to stop."""
    loop = asyncio.get_running_loop()
    reply: asyncio.Future[Message] = loop.create_future()
    # Connected, so the kernel drops datagrams from any other address; a fresh socket
    # also gets a fresh random source port.
    transport, _ = await loop.create_datagram_endpoint(
        lambda: _UdpExchange(request, reply), remote_addr=(host, port))
    try:
        transport.sendto(request.data)
        return await reply
    finally:
        transport.close()


async def exchange_tcp(host: str, port: int, request: Request) -> Message:
    """Send `request` over a new TCP connection (RFC 1035 length prefix), read the reply."""
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(struct.pack("!H", len(request.data)) + request.data)
        await writer.drain()
        (length,) = struct.unpack("!H", await reader.readexactly(2))
        message = matches(request, await reader.readexactly(length))
    except asyncio.IncompleteReadError:
        raise UpstreamError("connection closed before the reply") from None
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()
    if message is None:
        raise UpstreamError("reply does not match the question")
    return message


def default_upstreams(resolv_conf: str, listen: Sequence[tuple[str, int]],
                      is_local: Callable[[str], bool]) -> tuple[tuple[str, int], ...]:
    """The nameservers `resolv_conf` names (port 53), minus clusterdns's own addresses.

    A resolv.conf that points at clusterdns itself would otherwise make every forwarded
    question come back as a new question: a loop.
    """
    return tuple((server, DNS_PORT) for server in nameservers(resolv_conf)
                 if not is_own_address(server, DNS_PORT, listen, is_local))


def is_own_address(host: str, port: int, listen: Sequence[tuple[str, int]],
                   is_local: Callable[[str], bool]) -> bool:
    """Whether `host`:`port` reaches clusterdns itself, listening on `listen`.

    An unspecified listen address (0.0.0.0, ::) is every local address of its family.
    """
    ip = ipaddress.ip_address(host)
    for listen_host, listen_port in listen:
        own = ipaddress.ip_address(listen_host)
        if listen_port != port or own.version != ip.version:
            continue
        if ip == own or (own.is_unspecified and (ip.is_loopback or is_local(host))):
            return True
    return False


def is_local_address(host: str) -> bool:
    """Whether `host` is an address of this machine (binding to it succeeds)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        try:
            sock.bind((host, 0))
        except OSError:
            return False
    return True
