"""DNS over TCP (RFC 7766): framing, deadlines, and a fair share of connections per client.

One client must not be able to hold every connection (RFC 7766 section 6.2.3): each
address may keep `MAX_PER_CLIENT`, and a client over its share loses its own idlest
connection. When the server as a whole is full, the idlest connection anywhere makes
room: a newcomer is always served, and what is lost is a connection nobody was using.

"Idle" counts from the last whole message a connection delivered, so a client that
trickles bytes looks as idle as one that sends nothing, and a message must arrive whole
within `MESSAGE_SECONDS` of its first byte: no one holds a slot by being slow on purpose.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..ops.metrics import Listener

IDLE_SECONDS = 10.0  # RFC 7766 suggests seconds, not minutes, for idle connections
MESSAGE_SECONDS = 2.0  # from a message's first byte to its last
MAX_CONNECTIONS = 256
MAX_PER_CLIENT = 16
# Above MAX_CONNECTIONS, so a burst of newcomers waits in the kernel until eviction
# makes room instead of being refused there.
LISTEN_BACKLOG = 1024

Pending = Coroutine[Any, Any, bytes | None]


class Responder(Protocol):
    def respond(self, data: bytes, peer: tuple[Any, ...], tcp: bool,
                listener: Listener | None = None) -> bytes | Pending | None:
        ...


@dataclass(eq=False)
class Connection:
    """One open connection as the bookkeeping sees it."""

    client: str
    last_active: float
    close: Callable[[], None] = field(repr=False)


class Slots:
    """Which connections are open, by client, and which to close to make room. Pure."""

    def __init__(self, total: int = MAX_CONNECTIONS, per_client: int = MAX_PER_CLIENT) -> None:
        self.total = total
        self.per_client = per_client
        self._by_client: dict[str, set[Connection]] = {}
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def admit(self, connection: Connection) -> Connection | None:
        """Count `connection` in; the connection to close to make room for it, if any."""
        mine = self._by_client.get(connection.client, set())
        victim = None
        if len(mine) >= self.per_client:
            victim = min(mine, key=_idle_since)
        elif self._count >= self.total:
            victim = min((c for group in self._by_client.values() for c in group),
                         key=_idle_since)
        if victim is not None:
            self.release(victim)
        self._by_client.setdefault(connection.client, set()).add(connection)
        self._count += 1
        return victim

    def release(self, connection: Connection) -> None:
        """Count `connection` out (it closed, or was chosen to make room); twice is harmless."""
        group = self._by_client.get(connection.client)
        if group is None or connection not in group:
            return
        group.discard(connection)
        self._count -= 1
        if not group:
            del self._by_client[connection.client]


def _idle_since(connection: Connection) -> float:
    return connection.last_active


class TcpConnections:
    """Serves every TCP connection of one process: `handle` is the stream callback."""

    def __init__(self, responder: Responder, slots: Slots | None = None) -> None:
        self.responder = responder
        self.slots = slots if slots is not None else Slots()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                     listener: Listener | None = None) -> None:
        """Serve one connection; `listener` counts what it answers (see ops.metrics)."""
        loop = asyncio.get_running_loop()
        peer = writer.get_extra_info("peername") or ("?", 0)
        connection = Connection(str(peer[0]), loop.time(), writer.close)
        victim = self.slots.admit(connection)
        if victim is not None:
            victim.close()
        pending: set[asyncio.Task[None]] = set()
        try:
            while True:
                data = await _read_message(reader)
                if data is None:
                    break
                connection.last_active = loop.time()
                transfers = self.responder.transfers
                if transfers is not None and transfers.claims(data):  # AXFR/IXFR, streamed
                    await transfers.stream(data, peer, writer)
                    connection.last_active = loop.time()
                    continue
                reply = self.responder.respond(data, peer, True, listener)
                if isinstance(reply, bytes):
                    if not await _send(writer, reply):
                        break
                elif reply is not None:
                    task = asyncio.ensure_future(_send_later(reply, writer))
                    pending.add(task)
                    task.add_done_callback(pending.discard)
        finally:
            for task in pending:
                task.cancel()
            self.slots.release(connection)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()


async def _read_message(reader: asyncio.StreamReader) -> bytes | None:
    """The next length-prefixed message; None when the client is gone, idle or too slow."""
    try:
        async with asyncio.timeout(IDLE_SECONDS):
            first = await reader.readexactly(1)
        async with asyncio.timeout(MESSAGE_SECONDS):
            second = await reader.readexactly(1)
            return await reader.readexactly((first[0] << 8) | second[0])
    except (asyncio.IncompleteReadError, TimeoutError, ConnectionError):
        return None


async def _send(writer: asyncio.StreamWriter, reply: bytes) -> bool:
    """Write one framed reply; False when the connection is gone.

    A client may reset the connection while its replies are being written: uvloop then
    raises RuntimeError (the handle is closed) rather than ConnectionError. Either way
    there is nobody left to answer, and nothing worth a log line.
    """
    if writer.is_closing():
        return False
    try:
        writer.write(struct.pack("!H", len(reply)) + reply)
        await writer.drain()
    except (ConnectionError, RuntimeError):
        return False
    return True


async def _send_later(reply: Pending, writer: asyncio.StreamWriter) -> None:
    data = await reply
    if data:
        await _send(writer, data)
