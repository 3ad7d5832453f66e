"""--workers N seen as one server: each child's counters, asked for at scrape time.

Every worker counts what it answers itself (plain integers, never shared memory). When
/metrics is scraped, the first process asks each child over a socket pair made before
the fork, and adds the children's counters to its own: one consistent view, the sum, as
one CoreDNS process would show, so every dashboard query and alert works unchanged. A
child that does not answer in time, or has died, counts with what it said last, so no
counter ever goes down.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Callable, Sequence

from .exposition import Samples, decode, encode
from .metrics import FAMILIES

log = logging.getLogger(__name__)

ASK = b"?"
ANSWER_SECONDS = 2.0
_LENGTH = 4


class WorkerLinks:
    """One socket pair per child, made before the fork; each side keeps its own end."""

    def __init__(self, children: int) -> None:
        self.pairs = [socket.socketpair() for _ in range(children)]

    def for_child(self, index: int) -> socket.socket:
        """Child `index` (1-based) keeps its end and closes every other socket of the pairs."""
        mine = self.pairs[index - 1][1]
        for parent_end, child_end in self.pairs:
            parent_end.close()
            if child_end is not mine:
                child_end.close()
        return mine

    def for_parent(self) -> list[socket.socket]:
        """The parent keeps its ends and closes the children's (once they are forked)."""
        for _, child_end in self.pairs:
            child_end.close()
        return [parent_end for parent_end, _ in self.pairs]


class WorkerCounters:
    """The parent's side: asks every child for its counters and keeps the last answers."""

    def __init__(self, ends: Sequence[socket.socket]) -> None:
        self.ends = ends
        self._streams: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        self._locks: list[asyncio.Lock] = []
        self.last: list[Samples] = [{} for _ in ends]

    async def start(self) -> None:
        for end in self.ends:
            self._streams.append(await asyncio.open_connection(sock=end))
            self._locks.append(asyncio.Lock())

    async def gather(self) -> list[Samples]:
        """Every child's counters: fresh where it answered in time, else as last seen."""
        await asyncio.gather(*(self._ask(i) for i in range(len(self._streams))))
        return self.last

    async def _ask(self, index: int) -> None:
        reader, writer = self._streams[index]
        async with self._locks[index]:
            if writer.is_closing():  # this child stopped answering once: keep its last word
                return
            try:
                async with asyncio.timeout(ANSWER_SECONDS):
                    writer.write(ASK)
                    await writer.drain()
                    length = int.from_bytes(await reader.readexactly(_LENGTH), "big")
                    self.last[index] = decode(await reader.readexactly(length), FAMILIES)
            except (TimeoutError, ConnectionError, asyncio.IncompleteReadError) as exc:
                # A late answer would pass for the answer to the next question, so the
                # link is closed, and the child counts with what it said last.
                log.warning("worker %d did not report its counters (%s); keeping its last "
                            "report", index + 1, type(exc).__name__)
                writer.close()

    def close(self) -> None:
        for _, writer in self._streams:
            writer.close()


async def answer_counters(end: socket.socket, counters: Callable[[], Samples]) -> None:
    """The child's side: answer each question on `end` with `counters()`, until the
    parent closes its end."""
    reader, writer = await asyncio.open_connection(sock=end)
    try:
        while True:
            await reader.readexactly(len(ASK))
            data = encode(counters())
            writer.write(len(data).to_bytes(_LENGTH, "big") + data)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()
