"""The HTTP listener behind /health, /ready and /metrics, over real loopback sockets."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable

import pytest

from clusterdns.ops import http
from clusterdns.ops.http import HttpListener, Probes, Response


async def exchange(port: int, request: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request)
    await writer.drain()
    data = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    return data


def with_listener(test: Callable[[int, Probes], Awaitable[None]]) -> None:
    """Run `test` against a listener serving the three paths on one loopback port."""
    async def main() -> None:
        probes = Probes()

        async def exposition() -> Response:
            return Response(200, "up 1\n", http.EXPOSITION)

        [(sock, paths)] = http.bind({http.HEALTH: [("127.0.0.1", 0)],
                                     http.READY: [("127.0.0.1", 0)],
                                     http.METRICS: [("127.0.0.1", 0)]})
        assert paths == (http.HEALTH, http.READY, http.METRICS)
        pages = {http.HEALTH: probes.health, http.READY: probes.ready,
                 http.METRICS: exposition}
        listener = HttpListener([(sock, pages)])
        await listener.start()
        try:
            await test(sock.getsockname()[1], probes)
        finally:
            await listener.close()

    asyncio.run(main())


def get(path: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode()


def test_health_ready_and_metrics_share_one_address() -> None:
    async def test(port: int, probes: Probes) -> None:
        assert await exchange(port, get("/health")) == (
            b"HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\n"
            b"Content-Length: 2\r\nConnection: close\r\n\r\nOK")
        assert (await exchange(port, get("/ready"))).endswith(b"\r\n\r\nkubernetes")
        probes.loaded = True
        assert (await exchange(port, get("/ready?verbose"))).endswith(b"\r\n\r\nOK")
        probes.shutting_down = True
        ready = await exchange(port, get("/ready"))
        assert ready.startswith(b"HTTP/1.1 503 Service Unavailable\r\n")
        assert ready.endswith(b"\r\n\r\nShutting down")
        assert (await exchange(port, get("/health"))).endswith(b"\r\n\r\nOK")
        metrics = await exchange(port, get("/metrics"))
        assert b"Content-Type: text/plain; version=0.0.4; charset=utf-8" in metrics
        assert metrics.endswith(b"up 1\n")
    with_listener(test)


def test_head_unknown_paths_and_broken_requests() -> None:
    async def test(port: int, _: Probes) -> None:
        head = await exchange(port, b"HEAD /health HTTP/1.1\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 OK") and head.endswith(b"\r\n\r\n")
        assert (await exchange(port, get("/nope"))).endswith(b"404 page not found\n")
        assert (await exchange(port, b"hello\r\n\r\n")).startswith(b"HTTP/1.1 400 ")
        huge = b"GET /health HTTP/1.1\r\nX: " + b"a" * (2 * http.REQUEST_BYTES) + b"\r\n\r\n"
        assert (await exchange(port, huge)).startswith(b"HTTP/1.1 431 ")
    with_listener(test)


def test_a_silent_client_is_let_go(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(http, "REQUEST_SECONDS", 0.2)

    async def test(port: int, _: Probes) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /health HTTP/1.1\r\n")  # never finished
        assert await asyncio.wait_for(reader.read(), 3) == b""
        writer.close()
    with_listener(test)


def test_probes_answer_while_starting_and_the_socket_outlives_it() -> None:
    [(sock, paths)] = http.bind({http.READY: [("127.0.0.1", 0)],
                                 http.METRICS: [("127.0.0.1", 0)]})
    port = sock.getsockname()[1]
    with http.serving_while_starting([(sock, paths)]):
        assert asyncio.run(exchange(port, get("/ready"))).endswith(b"\r\n\r\nkubernetes")
        assert asyncio.run(exchange(port, get("/metrics"))).startswith(b"HTTP/1.1 503 ")
    waiting = socket.create_connection(("127.0.0.1", port), timeout=2)  # in the backlog
    waiting.sendall(get("/ready"))

    async def later() -> bytes:
        probes = Probes()
        probes.loaded = True
        listener = HttpListener([(sock, {http.READY: probes.ready})])
        await listener.start()
        data = await asyncio.get_running_loop().sock_recv(waiting, 4096)
        await listener.close()
        return data

    waiting.setblocking(False)
    assert asyncio.run(later()).endswith(b"\r\n\r\nOK")
    waiting.close()


def test_an_address_in_use_names_itself() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(http.BindError) as failed:
            http.bind({http.HEALTH: [("127.0.0.1", 0)], http.METRICS: [("127.0.0.1", port)]})
    assert (failed.value.host, failed.value.port) == ("127.0.0.1", port)
