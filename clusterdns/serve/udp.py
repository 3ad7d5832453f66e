"""UDP through asyncio's datagram protocol: one callback and one send per datagram.

The batched path (`batch.py`) is faster where the system has recvmmsg; this one is the
fallback (`--no-batch`, or a system without it) and behaves the same to a client.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Protocol

from ..ops.metrics import Listener
from . import rrl, tcp
from .packed import PackedAnswers
from .rrl import RateLimiter

log = logging.getLogger(__name__)


class Responder(tcp.Responder, Protocol):
    """What the UDP paths need of `server.Responder`: its stored replies besides `respond`."""

    packed: PackedAnswers


class UdpProtocol(asyncio.DatagramProtocol):
    """One UDP listener. `counts` is its address's `Listener`: the fast path bumps
    `counts.udp_hits` once per stored reply sent, and nothing else."""

    def __init__(self, responder: Responder, counts: Listener) -> None:
        self.responder = responder
        self.counts = counts
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
            self.counts.udp_hits += 1
            return
        self._answer(data, addr)

    def _answer(self, data: bytes, addr: tuple[Any, ...]) -> None:
        reply = self.responder.respond(data, addr, False, self.counts)
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


class RateLimitedUdpProtocol(UdpProtocol):
    """A listener beyond loopback: every reply, stored ones too, is charged to an account.

    A separate class, so listeners without a limit keep the bare hot path above.
    """

    def __init__(self, responder: Responder, counts: Listener, limiter: RateLimiter) -> None:
        super().__init__(responder, counts)
        self.limiter = limiter

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        stored = self.responder.packed.udp_exact.get(data[2:])
        if stored is not None:
            self._reply(data, data[:2] + stored, addr)
            self.counts.udp_hits += 1
        else:
            self._answer(data, addr)

    def _reply(self, data: bytes, reply: bytes, addr: tuple[Any, ...]) -> None:
        out = rrl.outcome(self.limiter, addr[0], data, reply)
        if out is not None:
            super()._reply(data, out, addr)
