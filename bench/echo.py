"""The control of `make bench`: a bare uvloop UDP server that sends every query back.

It does no DNS work at all (the reply is the query with QR set, which dnsperf counts as
an answer), on the same kind of socket clusterdns binds. What it costs is the floor of
answering one datagram per event-loop callback: clusterdns's `--no-batch` path cannot go
below it, and the batched path shows how far below it batching goes.

    python bench/echo.py PORT
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import uvloop

from clusterdns.serve.sockets import bind_sockets


class Echo(asyncio.DatagramProtocol):
    """Each datagram back to its sender, QR set."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: asyncio.DatagramTransport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        self.transport.sendto(data[:2] + bytes((data[2] | 0x80,)) + data[3:], addr)


async def serve(port: int) -> None:
    """Echo on 127.0.0.1:`port` until killed."""
    udp, _tcp = bind_sockets("127.0.0.1", port)
    await asyncio.get_running_loop().create_datagram_endpoint(Echo, sock=udp)
    await asyncio.Event().wait()


if __name__ == "__main__":
    uvloop.run(serve(int(sys.argv[1])))
