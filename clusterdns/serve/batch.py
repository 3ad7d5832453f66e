"""UDP in batches: one wake-up reads many datagrams, one loop answers them, one call sends.

At parity with dnsmasq a query's cost was no longer the DNS work (a stored reply is one
dictionary lookup) but the event loop's callback and transport work per datagram: a bare
uvloop echo server costs as much. Here a wake-up takes up to `BATCH` datagrams with one
recvmmsg, writes each stored reply over its query in the receive buffer (the query's ID
is already in place), and sends the replies with one sendmmsg.

To a client, and to the metrics, it is the datagram protocol of `udp.py`:
- what the exact table of stored replies holds is answered without a Python call per
  datagram and counted in `Listener.stored_hits`; every other datagram (another spelling
  of a stored name, a miss, a bad packet) goes to `Responder.respond` unchanged, and a
  forwarded answer is sent when it arrives;
- the table is looked up afresh for every batch, so a reload's swap, or a metrics
  sampling window that sets it aside for a moment, is seen by the next;
- a full send buffer (EAGAIN) never blocks the event loop and never loses a reply: what
  the socket refused waits, in order, until it is writable, and nothing new is read
  until it is out.

Where `_batchloop.c` was built (setup.py builds it at install time where there is a
compiler and Python's headers), a native thread per socket (`native.Answerer`) does the
reading: it receives, answers from the table, which lives in C memory
(`native.ReplyTable`), and sends, without ever taking the interpreter lock, and hands the
datagrams it has no reply for to the event loop through an eventfd (`_read_handed_over`).
That is what keeps reloads from delaying answers: a reload thread's single C steps hold
the lock for milliseconds, and an event loop that answered every datagram waited for
each of them. It also costs less per query than a Python callback per wake-up. The
thread's replies and the event loop's leave independently, each in its own order: over
UDP nothing promises more, and clients match replies by ID and question.

Where the module is not built (no compiler, as in python:3.11-slim), when
`compiled=False` asks for it, and for rate-limited listeners, whose every reply goes
through `rrl`, the socket is watched with `loop.add_reader` on the event loop: a wake-up
takes up to `BATCH` datagrams with one recvmmsg through ctypes, writes each stored reply
over its query in the receive buffer (the query's ID is already in place) and sends the
batch with one sendmmsg, in the order the queries came. Either way the slow path, what
the socket refuses of the event loop's replies and their backlog are this module's.
"""

from __future__ import annotations

import asyncio
import collections
import ctypes
import errno
import itertools
import logging
import mmap
import os
import socket
import sys
from collections.abc import Callable
from typing import Any

from ..ops.metrics import Listener
from . import native, rrl
from .rrl import RateLimiter
from .udp import Responder

log = logging.getLogger(__name__)

BATCH = 64  # datagrams per wake-up at most
_SLOT = 1 << 16  # bytes kept per datagram: the largest UDP payload fits, so none is cut
_NAME = 28  # bytes kept per client address: a sockaddr_in6, the largest an IP socket gives
# The address length sendmmsg is given per family; 0 (any other family) sends to the
# peer of a connected socket.
_NAME_LENGTHS = {socket.AF_INET: 16, socket.AF_INET6: 28}


class _Iovec(ctypes.Structure):
    _fields_ = (("base", ctypes.c_void_p), ("len", ctypes.c_size_t))


class _Msghdr(ctypes.Structure):
    _fields_ = (("name", ctypes.c_void_p), ("namelen", ctypes.c_uint32),
                ("iov", ctypes.c_void_p), ("iovlen", ctypes.c_size_t),
                ("control", ctypes.c_void_p), ("controllen", ctypes.c_size_t),
                ("flags", ctypes.c_int))


class _Mmsghdr(ctypes.Structure):
    _fields_ = (("hdr", _Msghdr), ("len", ctypes.c_uint))


_MSG_SIZE = ctypes.sizeof(_Mmsghdr)
# Where datagram i's length is in the receive headers seen as 32-bit words.
_LENGTH_STRIDE = _MSG_SIZE // 4
_LENGTH_AT = _Mmsghdr.len.offset // 4


def _system_calls() -> tuple[Callable[..., int], Callable[..., int]] | None:
    """recvmmsg and sendmmsg from the C library, or None where there are none.

    Called keeping the interpreter lock (`PyDLL`, not `CDLL`): both are called with
    MSG_DONTWAIT and return at once, and each release of the lock lets a reload's thread
    take it for a switch interval or a long step in C before the loop gets it back.
    Keeping it, a batch waits for the lock once (after the poll), not three times.
    """
    if sys.platform != "linux":  # the structures above are Linux's
        return None
    try:
        libc = ctypes.PyDLL(None, use_errno=True)
        receive, send = libc.recvmmsg, libc.sendmmsg
    except (OSError, AttributeError):
        return None
    receive.argtypes = (ctypes.c_int, ctypes.c_void_p, ctypes.c_uint, ctypes.c_int,
                        ctypes.c_void_p)
    send.argtypes = (ctypes.c_int, ctypes.c_void_p, ctypes.c_uint, ctypes.c_int)
    receive.restype = send.restype = ctypes.c_int
    return receive, send


_CALLS = _system_calls()


def available() -> bool:
    """Whether this system can batch: Linux, with recvmmsg and sendmmsg in its C library."""
    return _CALLS is not None


def compiled_available() -> bool:
    """Whether the answering threads (`_batchloop.c`) were built here and import."""
    return native.available()


def _receive_failed(error: int) -> None:
    """recvmmsg took nothing: EAGAIN (another worker took them) and EINTR are quiet,
    anything else shows at debug."""
    if error not in (errno.EAGAIN, errno.EINTR):
        log.debug("udp receive: %s", os.strerror(error))


def _ipv4_peer(name: bytes) -> tuple[str, int]:
    """The (host, port) Python's socket module gives for a sockaddr_in."""
    return socket.inet_ntop(socket.AF_INET, name[4:8]), int.from_bytes(name[2:4], "big")


def _ipv6_peer(name: bytes) -> tuple[str, int, int, int]:
    """The (host, port, flowinfo, scope_id) Python's socket module gives for a sockaddr_in6."""
    return (socket.inet_ntop(socket.AF_INET6, name[8:24]), int.from_bytes(name[2:4], "big"),
            int.from_bytes(name[4:8], "big"), int.from_bytes(name[24:28], sys.byteorder))


class BatchedUdp:
    """One bound, non-blocking UDP socket answered in batches on the running event loop.

    Datagram i of a batch sits in slot i of one buffer and its sender's address in slot i
    of another; the receive and the send headers of slot i point at both, so a reply
    written over its query goes back to the query's sender with nothing copied but the
    reply itself. Where `_batchloop` was built (and `compiled` is not False) a native
    thread reads the socket and only its misses come through these slots; the attribute
    `compiled` says which.
    """

    def __init__(self, sock: socket.socket, responder: Responder, counts: Listener,
                 compiled: bool = True) -> None:
        if _CALLS is None:
            raise OSError(errno.ENOSYS, "recvmmsg and sendmmsg are not available here")
        self._recvmmsg, self._sendmmsg = _CALLS
        self.sock = sock
        self.responder = responder
        self.counts = counts  # the listen address's metrics (ops.metrics)
        self._fd = sock.fileno()
        self._loop = asyncio.get_running_loop()
        self._name_length = _NAME_LENGTHS.get(sock.family, 0)
        self._peer: Callable[[bytes], tuple[Any, ...]] = (
            _ipv4_peer if sock.family == socket.AF_INET else _ipv6_peer)
        # Anonymous memory: only the pages datagrams touch become resident.
        self._buffer = mmap.mmap(-1, BATCH * _SLOT)
        self._names = ctypes.create_string_buffer(BATCH * _NAME)
        self._received = (_Mmsghdr * BATCH)()
        self._sending = (_Mmsghdr * BATCH)()
        self._receive_iov = (_Iovec * BATCH)()
        self._send_iov = (_Iovec * BATCH)()
        # Exported to ctypes, the mapping can be neither closed nor resized under the kernel.
        self._buffer_start = ctypes.c_char.from_buffer(self._buffer)
        buffer_at = ctypes.addressof(self._buffer_start)
        names_at = ctypes.addressof(self._names)
        for i in range(BATCH):
            self._receive_iov[i].base = self._send_iov[i].base = buffer_at + i * _SLOT
            self._receive_iov[i].len = _SLOT
            for headers, iov, name_length in ((self._received, self._receive_iov, _NAME),
                                              (self._sending, self._send_iov,
                                               self._name_length)):
                header = headers[i].hdr
                header.name = names_at + i * _NAME
                header.namelen = name_length
                header.iov = ctypes.addressof(iov[i])
                header.iovlen = 1
        self._received_at = ctypes.addressof(self._received)
        self._sending_at = ctypes.addressof(self._sending)
        self._lengths = memoryview(self._received).cast("B").cast("I")
        self._sizes = memoryview(self._send_iov).cast("B").cast("N")  # slot i's at 2i + 1
        # Replies the socket refused (EAGAIN) and forwarded answers, with their addresses.
        self._backlog: collections.deque[tuple[bytes, bytes]] = collections.deque()
        self._paused = False  # reading stopped until the backlog is out
        self.compiled = compiled and native.available()
        self._read: Callable[[], None] = self._read_in_python
        self._reading = self._fd  # what the event loop watches for work
        self._answerer: Any = None
        if self.compiled:
            # The thread holds the UDP exact table for good: each zone's
            # `PackedAnswers.renewed` empties that one table.
            self._answerer = native.Answerer(self._fd, responder.packed.udp_table)
            counts.threads.append(self._answerer)
            self._read, self._reading = self._read_handed_over, self._answerer.wake
        self._loop.add_reader(self._reading, self._read)

    @property
    def waiting(self) -> int:
        """Replies the socket refused for now (EAGAIN) and those queued behind them."""
        held = self._answerer.unsent if self._answerer is not None else 0
        return len(self._backlog) + held

    def close(self) -> None:
        """Stop reading and sending, and close the socket; replies still waiting are lost."""
        self._loop.remove_reader(self._reading)
        self._loop.remove_writer(self._fd)
        if self._answerer is not None:
            self._answerer.close()  # the thread has ended when this returns
        self._backlog.clear()
        self.sock.close()

    def _read_in_python(self) -> None:
        """One wake-up: receive, answer, count the stored replies, send."""
        count = self._recvmmsg(self._fd, self._received_at, BATCH, socket.MSG_DONTWAIT, None)
        if count <= 0:
            if count < 0:
                _receive_failed(ctypes.get_errno())
            return
        hits, gaps = self._answer_batch(count)
        self.counts.udp_hits += hits  # the fast path's one counter, once per batch
        self._send(count, gaps)

    def _read_handed_over(self) -> None:
        """What the answering thread had no stored reply for, answered the slow way.

        The thread receives into its own buffers; here each datagram's sender goes into
        a slot of this object's, so replies leave through `_send` and its backlog as the
        Python loop's do.
        """
        waiting = self._answerer.take(BATCH)
        names = self._names
        for slot, (_, name) in enumerate(waiting):
            names[slot * _NAME:slot * _NAME + len(name)] = name
        gaps = [slot for slot, (data, _) in enumerate(waiting) if not self._answer(slot, data)]
        self._send(len(waiting), gaps)

    def _answer_batch(self, count: int) -> tuple[int, list[int]]:
        """Write a reply into every slot that has one now; (stored replies, slots without).

        The loop every query runs through: a hit costs a slice, a lookup and a copy.
        """
        buffer, lengths, sizes = self._buffer, self._lengths, self._sizes
        exact = self.responder.packed.udp_exact
        misses = []
        for i in range(count):
            start = i * _SLOT
            end = start + lengths[i * _LENGTH_STRIDE + _LENGTH_AT]
            stored = exact.get(buffer[start + 2:end])
            if stored is None:
                misses.append(i)
                continue
            stop = start + 2 + len(stored)
            buffer[start + 2:stop] = stored
            sizes[2 * i + 1] = stop - start
        gaps = [i for i in misses if not self._answer(i, self._datagram(i))]
        return count - len(misses), gaps

    def _answer(self, slot: int, data: bytes) -> bool:
        """The slow path for one datagram; whether its slot now holds a reply to send."""
        name = self._name(slot)
        try:
            reply = self.responder.respond(data, self._peer(name), False, self.counts)
        except Exception:  # one datagram's bug must not cost its batch every other reply
            log.exception("answering a datagram failed")
            return False
        if isinstance(reply, bytes):
            return self._put(slot, data, reply, name)
        if reply is not None:
            task = asyncio.ensure_future(reply)
            task.add_done_callback(lambda done: self._answered(done, data, name))
        return False

    def _answered(self, task: asyncio.Future[bytes | None], data: bytes, name: bytes) -> None:
        """A forwarded answer arrived: it goes out behind anything still waiting."""
        if self.sock.fileno() < 0 or task.cancelled() or task.exception() is not None:
            return
        reply = task.result()
        if reply:
            out = self._outgoing(data, reply, name)
            if out is not None:
                self._queue([(out, name)])

    def _outgoing(self, data: bytes, reply: bytes, name: bytes) -> bytes | None:
        """What is sent for `reply` to the query `data` from `name`: here, the reply."""
        return reply

    def _put(self, slot: int, data: bytes, reply: bytes, name: bytes) -> bool:
        """Write what goes out for `reply` into `slot`; False when nothing does."""
        out = self._outgoing(data, reply, name)
        if out is None:
            return False
        start = slot * _SLOT
        self._buffer[start:start + len(out)] = out
        self._sizes[2 * slot + 1] = len(out)
        return True

    def _datagram(self, slot: int) -> bytes:
        start = slot * _SLOT
        return self._buffer[start:start + self._lengths[slot * _LENGTH_STRIDE + _LENGTH_AT]]

    def _name(self, slot: int) -> bytes:
        return self._names[slot * _NAME:slot * _NAME + self._name_length]

    def _send(self, count: int, gaps: list[int], start: int = 0) -> None:
        """Send slots `start` to `count` but `gaps`, in order; what the socket refuses
        waits."""
        for stop in (*gaps, count):
            while start < stop:
                sent = self._sendmmsg(self._fd, self._sending_at + start * _MSG_SIZE,
                                      stop - start, socket.MSG_DONTWAIT)
                if sent > 0:
                    start += sent
                elif self._refused():
                    skipped = set(gaps)
                    self._queue([self._taken(i) for i in range(start, count)
                                 if i not in skipped])
                    return
                else:
                    start += 1  # that reply is lost, as the datagram transport loses it
            start = stop + 1

    def _refused(self) -> bool:
        """After a failed send: True when the socket is full and the reply must wait;
        False when the reply cannot be sent at all (logged, as `udp.py` logs it)."""
        error = ctypes.get_errno()
        if error in (errno.EAGAIN, errno.EINTR):
            return True
        log.debug("udp error: %s", os.strerror(error))
        return False

    def _taken(self, slot: int) -> tuple[bytes, bytes]:
        """Slot `slot`'s reply and address, copied out to wait in the backlog."""
        start = slot * _SLOT
        return self._buffer[start:start + self._sizes[2 * slot + 1]], self._name(slot)

    def _queue(self, replies: list[tuple[bytes, bytes]]) -> None:
        """Send `replies` after whatever already waits."""
        first = not self._backlog
        self._backlog.extend(replies)
        if first:
            self._flush()

    def _flush(self) -> None:
        """Send what waits, oldest first, as far as the socket takes it.

        Runs between batches, so the slots are free to carry the replies. When the socket
        is full, reading stops and the flush waits for it to be writable: the kernel keeps
        new queries meanwhile, and no reply overtakes one that waits.
        """
        backlog = self._backlog
        while backlog:
            waiting = list(itertools.islice(backlog, BATCH))
            for slot, (reply, name) in enumerate(waiting):
                start = slot * _SLOT
                self._buffer[start:start + len(reply)] = reply
                self._sizes[2 * slot + 1] = len(reply)
                self._names[slot * _NAME:slot * _NAME + len(name)] = name
            sent = self._sendmmsg(self._fd, self._sending_at, len(waiting), socket.MSG_DONTWAIT)
            if sent <= 0 and self._refused():
                if not self._paused:
                    self._paused = True
                    self._loop.remove_reader(self._reading)
                    self._loop.add_writer(self._fd, self._flush)
                return
            for _ in range(max(sent, 1)):
                backlog.popleft()
        if self._paused:
            self._paused = False
            self._loop.remove_writer(self._fd)
            self._loop.add_reader(self._reading, self._read)


class RateLimitedBatchedUdp(BatchedUdp):
    """A listener beyond loopback: every reply, stored ones too, is charged to an account.

    A separate class, so listeners without a limit keep the plain loop above; its loop is
    always the Python one, which goes through `_outgoing` for every reply.
    """

    def __init__(self, sock: socket.socket, responder: Responder, counts: Listener,
                 limiter: RateLimiter) -> None:
        super().__init__(sock, responder, counts, compiled=False)
        self.limiter = limiter

    def _answer_batch(self, count: int) -> tuple[int, list[int]]:
        exact = self.responder.packed.udp_exact
        hits, gaps = 0, []
        for i in range(count):
            data = self._datagram(i)
            stored = exact.get(data[2:])
            if stored is None:
                answered = self._answer(i, data)
            else:
                hits += 1
                answered = self._put(i, data, data[:2] + stored, self._name(i))
            if not answered:
                gaps.append(i)
        return hits, gaps

    def _outgoing(self, data: bytes, reply: bytes, name: bytes) -> bytes | None:
        return rrl.outcome(self.limiter, self._peer(name)[0], data, reply)
