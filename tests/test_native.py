"""The C part (serve/_batchloop.c) on its own: the reply table against its Python model,
and an answering thread's hand-over and stop, over real loopback sockets.

What clients see through a running server is tested in integration/test_udp.py.
"""

from __future__ import annotations

import select
import socket
import struct
import sys
import threading
import time
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clusterdns.serve import native
from clusterdns.serve.packed import FifoTable

pytestmark = pytest.mark.skipif(not native.available(), reason="_batchloop is not built here")

keys = st.binary(min_size=0, max_size=6)
operations = st.lists(st.one_of(
    st.tuples(st.just("put"), keys, st.binary(max_size=40)),
    st.tuples(st.just("get"), keys),
    st.tuples(st.just("clear")),
), max_size=60)


@settings(max_examples=300, deadline=None)
@given(limit=st.integers(1, 5), steps=operations)
def test_the_c_table_keeps_what_the_python_table_keeps(limit: int, steps: list[tuple]) -> None:
    """First in, first out at the limit; a new value for a key keeps the key's place."""
    table, model = native.ReplyTable(limit), FifoTable[bytes](limit)
    for step in steps:
        if step[0] == "put":
            table.put(step[1], step[2])
            model.put(step[1], step[2])
        elif step[0] == "get":
            assert table.get(step[1]) == model.get(step[1])
            assert (step[1] in table) == (step[1] in model)
        else:
            table.clear()
            model.clear()
        assert len(table) == len(model)
    assert {key: table.get(key) for key in model} == dict(model)


def test_the_table_refuses_what_no_datagram_holds() -> None:
    table = native.ReplyTable(2)
    with pytest.raises(TypeError):
        table.put("text", b"reply")
    with pytest.raises(ValueError):
        table.put(b"key", bytes(65537))
    with pytest.raises(ValueError):
        native.ReplyTable(0)
    assert table.limit == 2 and not table.paused


def query_bytes(ident: int, body: bytes) -> bytes:
    return struct.pack("!H", ident) + body


@pytest.fixture(name="pair")
def fixture_pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    """A non-blocking server socket and a client socket on loopback."""
    server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    server.bind(("127.0.0.1", 0))
    server.setblocking(False)
    client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    client.bind(("127.0.0.1", 0))
    client.settimeout(2)
    yield server, client
    server.close()
    client.close()


def taken(answerer: object, count: int, seconds: float = 2) -> list[tuple[bytes, bytes]]:
    """`count` handed-over datagrams, waiting up to `seconds` for them."""
    got: list[tuple[bytes, bytes]] = []
    deadline = time.monotonic() + seconds
    while len(got) < count and time.monotonic() < deadline:
        got += answerer.take(64)  # type: ignore[attr-defined]
        time.sleep(0.005)
    return got


def test_the_thread_answers_hits_and_hands_over_the_rest_with_their_sender(
        pair: tuple[socket.socket, socket.socket]) -> None:
    server, client = pair
    table = native.ReplyTable(10)
    table.put(b"question", b"answer")
    answerer = native.Answerer(server.fileno(), table)
    try:
        client.sendto(query_bytes(7, b"question"), server.getsockname())
        assert client.recv(100) == query_bytes(7, b"answer")  # the asker's ID, the reply
        client.sendto(query_bytes(8, b"other"), server.getsockname())
        client.sendto(b"\x01", server.getsockname())  # a runt: handed over too
        got = taken(answerer, 2)
        assert [data for data, _ in got] == [query_bytes(8, b"other"), b"\x01"]
        port = client.getsockname()[1]
        for _, name in got:
            assert int.from_bytes(name[:2], sys.byteorder) == socket.AF_INET
            assert struct.unpack("!H", name[2:4])[0] == port
            assert socket.inet_ntoa(name[4:8]) == "127.0.0.1"
        assert answerer.hits == 1 and answerer.received == 3 and answerer.sent == 1
        table.paused = True  # a metrics sample: everything goes to the event loop
        client.sendto(query_bytes(9, b"question"), server.getsockname())
        assert [data for data, _ in taken(answerer, 1)] == [query_bytes(9, b"question")]
        assert answerer.hits == 1
    finally:
        answerer.close()


def test_the_wake_descriptor_is_readable_exactly_while_datagrams_wait(
        pair: tuple[socket.socket, socket.socket]) -> None:
    server, client = pair
    answerer = native.Answerer(server.fileno(), native.ReplyTable(1))
    try:
        assert select.select([answerer.wake], [], [], 0)[0] == []
        client.sendto(b"miss", server.getsockname())
        assert select.select([answerer.wake], [], [], 2)[0] == [answerer.wake]
        assert answerer.take(1) != []
        assert select.select([answerer.wake], [], [], 0)[0] == []
    finally:
        answerer.close()
    assert answerer.wake == -1


def test_close_ends_a_thread_that_waits_for_the_event_loop(
        pair: tuple[socket.socket, socket.socket]) -> None:
    """Nobody takes the misses: the hand-over queue fills and the thread waits for room;
    close() must still end it at once, and the socket stays the caller's."""
    server, client = pair
    server.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    answerer = native.Answerer(server.fileno(), native.ReplyTable(1))
    for number in range(1500):
        client.sendto(query_bytes(number, b"miss"), server.getsockname())
    time.sleep(0.2)
    closing = threading.Thread(target=answerer.close, daemon=True)
    started = time.monotonic()
    closing.start()
    closing.join(5)
    assert not closing.is_alive() and time.monotonic() - started < 1
    assert server.fileno() >= 0
    with pytest.raises(ValueError):
        native.Answerer(-1, native.ReplyTable(1))
