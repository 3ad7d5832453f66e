"""NOTIFY (RFC 1996): tell the secondaries a zone changed, so they fetch it within a second
instead of at their next refresh, hours later.

Each (secondary, zone) pair gets its own NOTIFY over UDP, sent again with a doubling
timeout until the secondary answers: 2, 4, 8, 16 and 32 s, RFC 1996's five
retransmissions spread over about the minute it suggests, so a secondary that is busy or
restarting still hears of the change. A newer version replaces a NOTIFY still waiting
for its answer. It goes out from `--notify-source`, or from the address clusterdns listens
on, because secondaries accept NOTIFY only from the address they know as their primary.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Iterable
from typing import Any

from ..zone.records import NOERROR, SOA, Record
from .transfer_messages import CLASS_IN, HEADER, Message, plain

log = logging.getLogger(__name__)

OPCODE_NOTIFY = 4
AUTHORITATIVE = 0x0400
FIRST_TIMEOUT = 2.0  # seconds before the first retransmission; it doubles after each
RETRANSMISSIONS = 5  # RFC 1996 3.6's suggested maximum for UDP

Address = tuple[str, int]


def address_text(target: Address) -> str:
    """`host:port`, `[v6]:port` for IPv6."""
    host, port = target
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def notify_message(ident: int, soa: Record) -> bytes:
    """A NOTIFY for the zone of `soa`, which goes in the answer section as a hint of the
    new serial (RFC 1996 3.7)."""
    question = plain(soa.name) + SOA.to_bytes(2, "big") + CLASS_IN.to_bytes(2, "big")
    message = Message(ident, OPCODE_NOTIFY << 11 | AUTHORITATIVE, question, soa.name)
    message.add(soa)
    return message.bytes()


class _Answer(asyncio.DatagramProtocol):
    """Waits for the reply to one NOTIFY: a response with its ID and opcode."""

    def __init__(self, ident: int) -> None:
        self.ident = ident
        self.rcode: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        if len(data) < HEADER.size or self.rcode.done():
            return
        ident, flags, *_ = HEADER.unpack_from(data)
        if ident == self.ident and flags & 0x8000 and (flags >> 11) & 0xF == OPCODE_NOTIFY:
            self.rcode.set_result(flags & 0xF)

    def error_received(self, exc: Exception) -> None:
        # ICMP port unreachable: the secondary is not up yet; the next try may find it.
        log.debug("notify: %s", exc)


class Notifier:
    """Sends NOTIFY to every target for every changed zone, until each is acknowledged."""

    def __init__(self, targets: Iterable[Address], source: str = "",
                 first_timeout: float = FIRST_TIMEOUT) -> None:
        self.targets = tuple(targets)
        self.source = source
        self.first_timeout = first_timeout
        self._pending: dict[tuple[Address, str], asyncio.Task[None]] = {}

    def notify(self, soas: Iterable[Record]) -> None:
        """Announce the zones of `soas` at their serials to every target."""
        for soa in soas:
            for target in self.targets:
                key = (target, soa.name)
                older = self._pending.pop(key, None)
                if older is not None:
                    older.cancel()
                task = asyncio.ensure_future(self._send(target, soa))
                self._pending[key] = task
                task.add_done_callback(lambda done, key=key: self._settled(key, done))

    async def close(self) -> None:
        """Stop every NOTIFY still waiting for its answer."""
        tasks = list(self._pending.values())
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def _settled(self, key: tuple[Address, str], task: asyncio.Task[None]) -> None:
        if self._pending.get(key) is task:
            del self._pending[key]

    async def _send(self, target: Address, soa: Record) -> None:
        where = address_text(target)
        serial = soa.data[2]  # type: ignore[index]
        ident = random.getrandbits(16)
        local = (self.source, 0) if self.source and (":" in self.source) == (
            ":" in target[0]) else None
        loop = asyncio.get_running_loop()
        try:
            transport, answer = await loop.create_datagram_endpoint(
                lambda: _Answer(ident), local_addr=local, remote_addr=target)
        except OSError as exc:
            log.warning("notify %s of %s serial %s: cannot send (%s)", where, soa.name,
                        serial, exc.strerror or exc)
            return
        try:
            message = notify_message(ident, soa)
            timeout = self.first_timeout
            for _ in range(1 + RETRANSMISSIONS):
                transport.sendto(message)
                try:
                    rcode = await asyncio.wait_for(asyncio.shield(answer.rcode), timeout)
                except TimeoutError:
                    timeout *= 2
                    continue
                if rcode == NOERROR:
                    log.debug("notify %s of %s serial %s: acknowledged", where, soa.name,
                              serial)
                else:
                    log.warning("notify %s of %s serial %s: answered with rcode %d", where,
                                soa.name, serial, rcode)
                return
            log.warning("notify %s of %s serial %s: no answer after %d tries", where,
                        soa.name, serial, 1 + RETRANSMISSIONS)
        finally:
            transport.close()
