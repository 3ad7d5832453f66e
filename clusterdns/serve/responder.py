"""Query bytes in, reply bytes out: the current zone, the stored replies, the upstreams.

The transports (`udp`, `batch`, `tcp`) hand every datagram or message they cannot answer
from the stored replies to `Responder.respond`, and send what it returns; the current
zone is one attribute, so a reload is one assignment. A bug on the answer path costs one
SERVFAIL, never the server or silence.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from ..ops import metrics
from ..ops.metrics import Listener, StoredMix, reply_rcode, stored_key
from ..ops.querylog import Entry, QueryLog
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
from .access import DEFAULT_RECURSION_CLIENTS, ClientRanges
from .autopath import Autopath
from .forwarded import Forwarded
from .message import NOT_AUTHORITATIVE, PROHIBITED, ExtendedError
from .packed import PackedAnswers
from .tcp import Pending
from .transfer import Transfers
from .upstream import Forwarder, Question

log = logging.getLogger(__name__)

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
        old, self.zone, self.packed = self.zone, zone, self.packed.renewed()
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
                      and fqdn(query.qname).lower().endswith(f".svc.{self.zone.origin}"))
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
