"""/health, /ready and /metrics over HTTP/1.1, as CoreDNS's health, ready and prometheus
plugins answer them.

- /health: 200 `OK` while the process serves, lameduck included ("We're always healthy").
- /ready: 200 `OK` once the zone is loaded and the DNS listeners are bound; before that
  503 with the names of what is not ready, as CoreDNS lists its plugins (`kubernetes`:
  the zone); 503 `Shutting down` from the first moment of shutdown.
- /metrics: the Prometheus text exposition.

One small listener per address; several paths may share one address. Every request is
bounded: its head must arrive whole within `REQUEST_SECONDS` and fit in `REQUEST_BYTES`,
the reply must be taken within `REQUEST_SECONDS`, at most `MAX_CONNECTIONS` are served
at once, and every reply closes its connection, so no keep-alive connection can go on
hearing `OK` from /ready after shutdown began (coredns#4099).

The sockets are bound before the zone is loaded, so a port in use fails at once and
probes get their 503 while a large zone loads (`serving_while_starting`).
"""

from __future__ import annotations

import asyncio
import contextlib
import selectors
import socket
import threading
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass

HEALTH, READY, METRICS = "/health", "/ready", "/metrics"
REQUEST_BYTES = 8192
REQUEST_SECONDS = 5.0  # CoreDNS's health and ready servers: Read/Write/IdleTimeout 5 s
MAX_CONNECTIONS = 64
POLL_SECONDS = 0.05  # how often the start-up thread looks whether it should stop
BACKLOG = 128
TEXT = "text/plain; charset=utf-8"
EXPOSITION = "text/plain; version=0.0.4; charset=utf-8"
_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found",
            431: "Request Header Fields Too Large", 503: "Service Unavailable"}


@dataclass(frozen=True)
class Response:
    status: int
    body: str
    content_type: str = TEXT


Page = Callable[[], Awaitable[Response]]
NOT_FOUND = Response(404, "404 page not found\n")  # Go's http.NotFound


class Probes:
    """What /health and /ready say: the process's state, changed by whoever knows it."""

    def __init__(self) -> None:
        self.loaded = False  # the zone is loaded and the DNS listeners are bound
        self.shutting_down = False

    async def health(self) -> Response:
        return Response(200, "OK")

    async def ready(self) -> Response:
        if self.shutting_down:
            return Response(503, "Shutting down")
        if not self.loaded:
            return Response(503, "kubernetes")  # what CoreDNS says until its zone syncs
        return Response(200, "OK")


class BindError(OSError):
    """An HTTP address could not be bound; says which, so the message can name it."""

    def __init__(self, host: str, port: int, cause: OSError) -> None:
        super().__init__(cause.errno, f"{host}:{port}: {cause.strerror}")
        self.host, self.port, self.cause = host, port, cause


def bind(paths: Mapping[str, Sequence[tuple[str, int]]]
         ) -> list[tuple[socket.socket, tuple[str, ...]]]:
    """A listening socket for every address named, with the paths it serves there.

    `paths` maps /health, /ready, /metrics to their addresses; paths that share an
    address share its socket. All or nothing.
    """
    by_address: dict[tuple[str, int], list[str]] = {}
    for path, addresses in paths.items():
        for address in addresses:
            by_address.setdefault(address, []).append(path)
    bound: list[tuple[socket.socket, tuple[str, ...]]] = []
    for (host, port), served in by_address.items():
        try:
            bound.append((_listen(host, port), tuple(served)))
        except OSError as exc:
            for sock, _ in bound:
                sock.close()
            raise BindError(host, port, exc) from exc
    return bound


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(BACKLOG)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


def address_text(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class HttpListener:
    """Serves `pages` on bound listening sockets until closed."""

    def __init__(self, sockets: Sequence[tuple[socket.socket, Mapping[str, Page]]]) -> None:
        self.sockets = sockets
        self._servers: list[asyncio.base_events.Server] = []
        self._handlers: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        for sock, pages in self.sockets:
            self._servers.append(await asyncio.start_server(
                lambda r, w, pages=pages: self._accept(r, w, pages), sock=sock,
                limit=REQUEST_BYTES))

    async def close(self) -> None:
        for server in self._servers:
            server.close()
        for task in list(self._handlers):
            task.cancel()
        for server in self._servers:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 1)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                      pages: Mapping[str, Page]) -> None:
        if len(self._handlers) >= MAX_CONNECTIONS:
            writer.close()
            return
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        try:
            async with asyncio.timeout(REQUEST_SECONDS):
                await self._serve(reader, writer, pages)
        except (TimeoutError, ConnectionError, asyncio.IncompleteReadError):
            pass  # a slow, silent or vanished client: nothing to answer
        finally:
            self._handlers.discard(task)
            writer.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                     pages: Mapping[str, Page]) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.LimitOverrunError:
            await _send(writer, "GET", Response(431, "request header too large\n"))
            return
        method, target, version = _request_line(head)
        if not version.startswith("HTTP/1."):
            await _send(writer, "GET", Response(400, "malformed request\n"))
            return
        page = pages.get(target.partition("?")[0])
        await _send(writer, method, await page() if page is not None else NOT_FOUND)


def _request_line(head: bytes) -> tuple[str, str, str]:
    parts = head.split(b"\r\n", 1)[0].decode("latin-1").split(" ")
    return (parts[0], parts[1], parts[2]) if len(parts) == 3 else ("GET", "", "")


async def _send(writer: asyncio.StreamWriter, method: str, response: Response) -> None:
    writer.write(_response_bytes(method, response))
    await writer.drain()


def _response_bytes(method: str, response: Response) -> bytes:
    body = response.body.encode()
    head = (f"HTTP/1.1 {response.status} {_REASONS[response.status]}\r\n"
            f"Content-Type: {response.content_type}\r\n"
            f"Content-Length: {len(body)}\r\n"
            "Connection: close\r\n\r\n").encode()
    return head if method == "HEAD" else head + body


STARTING = {HEALTH: Response(200, "OK"), READY: Response(503, "kubernetes"),
            METRICS: Response(503, "starting: the zone is not loaded yet\n")}


@contextlib.contextmanager
def serving_while_starting(sockets: Sequence[tuple[socket.socket, tuple[str, ...]]]
                           ) -> Iterator[None]:
    """Answer probes from a thread of their own while the caller loads the zone.

    The event loop that will serve them does not exist yet (workers fork before any
    loop), so a plain thread answers one connection at a time, within the same bounds:
    /health 200, /ready 503 `kubernetes`, /metrics 503. It finishes the connection it
    holds before it stops, and never accepts one it will not answer, so the handover to
    the event loop loses no request: later ones wait in the socket's backlog.
    """
    if not sockets:
        yield
        return
    stop = threading.Event()
    thread = threading.Thread(target=_answer_starting, args=(sockets, stop),
                              name="clusterdns-probes", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(REQUEST_SECONDS + 1)


def _answer_starting(sockets: Sequence[tuple[socket.socket, tuple[str, ...]]],
                     stop: threading.Event) -> None:
    paths = {sock.fileno(): served for sock, served in sockets}
    with selectors.DefaultSelector() as selector:
        for sock, _ in sockets:
            selector.register(sock, selectors.EVENT_READ)
        while not stop.is_set():
            for key, _ in selector.select(POLL_SECONDS):
                listening: socket.socket = key.fileobj  # type: ignore[assignment]
                try:
                    conn, _ = listening.accept()
                except BlockingIOError:  # another accept took it first
                    continue
                with conn:
                    _answer_one(conn, paths[listening.fileno()])


def _answer_one(conn: socket.socket, served: tuple[str, ...]) -> None:
    conn.settimeout(REQUEST_SECONDS)
    head = b""
    try:
        while b"\r\n\r\n" not in head:
            chunk = conn.recv(REQUEST_BYTES)
            if not chunk or len(head) + len(chunk) > REQUEST_BYTES:
                return
            head += chunk
        method, target, version = _request_line(head)
        path = target.partition("?")[0]
        response = (Response(400, "malformed request\n") if not version.startswith("HTTP/1.")
                    else STARTING[path] if path in served else NOT_FOUND)
        conn.sendall(_response_bytes(method, response))
    except OSError:
        return  # a slow or vanished client: nothing more to do
