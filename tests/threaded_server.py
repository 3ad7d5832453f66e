"""The real DnsServer on an event loop in a thread of the test process, on loopback port 0.

A subprocess (`conftest.ServerProcess`) is what a user runs; this one lets a test reach
the server's objects: hand it a zone, swap one in, read the responder's counters, and hold
the event loop still so that the datagrams sent meanwhile arrive as one batch.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import socket
import threading
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, TypeVar

import uvloop

from clusterdns.serve.responder import Responder
from clusterdns.serve.rrl import RateLimit
from clusterdns.serve.server import DnsServer
from clusterdns.serve.sockets import bind_all

T = TypeVar("T")


class LoopThread:
    """A uvloop event loop running in a daemon thread until `close()`."""

    def __init__(self) -> None:
        self.loop = uvloop.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()

    def call(self, function: Callable[..., T], *args: Any) -> T:
        """`function(*args)` run on the loop, between two of its callbacks."""
        done: concurrent.futures.Future[T] = concurrent.futures.Future()

        def run() -> None:
            try:
                done.set_result(function(*args))
            except Exception as exc:
                done.set_exception(exc)

        self.loop.call_soon_threadsafe(run)
        return done.result(5)

    def wait(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """The result of `coroutine`, run on the loop."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(5)

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        """The loop stopped in a callback while the block runs: datagrams sent meanwhile
        wait in their socket, and the next wake-up finds them all."""
        holding, release = threading.Event(), threading.Event()

        def hold() -> None:
            holding.set()
            release.wait(10)

        self.loop.call_soon_threadsafe(hold)
        assert holding.wait(5)
        try:
            yield
        finally:
            release.set()

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)
        self.loop.close()


class ThreadedServer(LoopThread):
    """`DnsServer(responder, rate_limit, batch, compiled)` on `host` port 0; `address` is
    where."""

    def __init__(self, responder: Responder, batch: bool = True, host: str = "127.0.0.1",
                 rate_limit: RateLimit | None = None, compiled: bool = True) -> None:
        super().__init__()
        self.responder = responder
        self.server = DnsServer(responder, rate_limit, batch, compiled)
        self.wait(self.server.start(bind_all(((host, 0),))))
        self.address = self.server.addresses[0]

    def client(self) -> socket.socket:
        """A UDP socket of the listener's family, bound to loopback, 2 s timeout."""
        family = socket.AF_INET6 if ":" in self.address[0] else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_DGRAM)
        sock.bind((self.address[0], 0))
        sock.settimeout(2)
        return sock

    def ask(self, data: bytes) -> bytes:
        """The one reply to `data`, from a fresh client socket."""
        with self.client() as sock:
            sock.sendto(data, self.address)
            return sock.recv(65535)

    def close(self) -> None:
        self.wait(self.server.close())
        super().close()


@contextlib.contextmanager
def threaded_server(responder: Responder, batch: bool = True, host: str = "127.0.0.1",
                    rate_limit: RateLimit | None = None, compiled: bool = True
                    ) -> Iterator[ThreadedServer]:
    """A `ThreadedServer` closed when the block ends."""
    server = ThreadedServer(responder, batch, host, rate_limit, compiled)
    try:
        yield server
    finally:
        server.close()
