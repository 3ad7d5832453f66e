"""Fuzzing the real server over UDP: mutated queries in, every reply judged.

The rules every packet must follow, whatever was done to it:

- a packet shorter than a header, or with QR set, gets no reply at all (answering a
  reply lets two servers bounce packets forever);
- any other packet gets exactly one reply, with its ID and QR set, that dnspython reads
  whole; it is FORMERR (at most 512 octets), or its question section is the query's
  first question byte for byte (none when the query had none);
- a reply without an OPT record fits in 512 octets, and none passes 1232 over UDP.

Queries go out from `WINDOW` sockets at once; a reply is matched to its query by the
socket it arrives on and the ID it carries, so a reply to a packet that should have had
none is caught even when it comes late. The seed fixes every packet.
"""

from __future__ import annotations

import random
import selectors
import socket
import struct
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import dns.edns
import dns.exception
import dns.flags
import dns.message

HEADER = struct.Struct("!HHHHHH")
FORMERR = 1
WINDOW = 64
REPLY_TIMEOUT = 2.0

SEED_QUESTIONS = [
    ("service1.default.svc.cluster.local", "A"),
    ("headless1.default.svc.cluster.local", "A"),
    ("pod-a.headless1.default.svc.cluster.local", "AAAA"),
    ("_http._tcp.headless1.default.svc.cluster.local", "SRV"),
    ("20-109-5-11.default.pod.cluster.local", "A"),
    ("12.5.109.20.in-addr.arpa", "PTR"),
    ("cluster.local", "SOA"),
    ("cluster.local", "NS"),
    ("cluster.local", "ANY"),
    ("dns-version.cluster.local", "TXT"),
    ("externalname1.default.svc.cluster.local", "A"),
    ("nope.default.svc.cluster.local", "A"),
    ("example.org", "A"),
    ("Service1.Default.SVC.cluster.local", "A"),
]
TRICKY_LABELS = [b"a.b", b"\\065", "é".encode(), b"\xff\xfe", b"xn--a", b"x" * 63, b"A",
                 b"\x00", b"*", b"\xc0\x0c", b" ", b"."]
SUFFIXES = [[b"cluster", b"local"], [b"svc", b"cluster", b"local"], [b"example", b"org"],
            [b"in-addr", b"arpa"], []]
INTERESTING = [0x00, 0x01, 0x3F, 0x40, 0x7F, 0x80, 0xC0, 0xFF]


def seeds() -> list[bytes]:
    """Well-formed queries to start from: each question without EDNS, with, with DO, with
    a cookie option."""
    out = []
    for name, rdtype in SEED_QUESTIONS:
        out.append(dns.message.make_query(name, rdtype, use_edns=False).to_wire())
        out.append(dns.message.make_query(name, rdtype, use_edns=0, payload=4096).to_wire())
        out.append(dns.message.make_query(name, rdtype, want_dnssec=True).to_wire())
        cookie = dns.edns.GenericOption(10, b"\x01" * 8)
        out.append(dns.message.make_query(name, rdtype, use_edns=0,
                                          options=[cookie]).to_wire())
    return out


def _question_end(data: bytes) -> int:
    """Where the first question ends, walking its labels (a pointer ends a name)."""
    offset = HEADER.size
    while offset < len(data) and data[offset]:
        if data[offset] >= 0xC0:
            offset += 1
            break
        offset += 1 + data[offset]
    return min(offset + 5, len(data))


def _set_counts(data: bytes, rng: random.Random) -> bytes:
    counts = [rng.choice([0, 1, 1, 2, 3, 0xFFFF, rng.randrange(65536)]) for _ in range(4)]
    return data[:4] + struct.pack("!4H", *counts) + data[12:]


def _flip_bits(data: bytes, rng: random.Random) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        out[rng.randrange(len(out))] ^= 1 << rng.randrange(8)
    return bytes(out)


def _set_bytes(data: bytes, rng: random.Random) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        out[rng.randrange(len(out))] = rng.choice([*INTERESTING, rng.randrange(256)])
    return bytes(out)


def _truncate(data: bytes, rng: random.Random) -> bytes:
    return data[:rng.randrange(len(data))]


def _append(data: bytes, rng: random.Random) -> bytes:
    return data + rng.randbytes(rng.randint(1, 64))


def _tricky_name(data: bytes, rng: random.Random) -> bytes:
    labels = [rng.choice(TRICKY_LABELS) for _ in range(rng.randint(1, 4))]
    if rng.random() < 0.2:  # near and past the 255-octet limit
        labels += [b"y" * 63] * 3 + [b"z" * rng.randint(40, 62)]
    labels += rng.choice(SUFFIXES)
    name = b"".join(bytes([len(label) & 0xFF]) + label for label in labels) + b"\x00"
    end = _question_end(data)
    return data[:12] + name + data[end - 4:]


def _pointer_chain(data: bytes, rng: random.Random) -> bytes:
    """A record whose owner is a chain of pointers, each one back (or a forward one)."""
    end = _question_end(data)
    hops = rng.randint(1, 1100)
    start = end + 11
    links = [struct.pack("!H", 0xC000 | rng.choice([4, 12, start]))]
    links += [struct.pack("!H", 0xC000 | (start + 2 * i)) for i in range(hops - 1)]
    rdata = b"".join(links)
    holder = b"\x00" + struct.pack("!HHIH", 65280, 1, 0, len(rdata)) + rdata
    target = start + 2 * (hops - 1) + rng.choice([0, 0, 2, 4, -1])
    chained = struct.pack("!H", 0xC000 | (target & 0x3FFF)) + struct.pack("!HHIH", 1, 1, 0, 0)
    return data[:10] + b"\x00\x02" + data[12:end] + holder + chained


def _random_opt(data: bytes, rng: random.Random) -> bytes:
    end = _question_end(data)
    records = b""
    count = rng.randint(1, 3)
    for _ in range(count):
        owner = b"\x00" if rng.random() < 0.8 else b"\x01x\x00"
        options = b"".join(struct.pack("!HH", rng.randrange(20), n) + rng.randbytes(n)
                           for n in (rng.randint(0, 12) for _ in range(rng.randint(0, 2))))
        if rng.random() < 0.2:
            options = options[:-1] if options else b"\x00"
        ttl = rng.choice([0, 0x8000, 0x10000, rng.randrange(1 << 32)])
        size = rng.choice([0, 512, 1232, 4096, 65535])
        records += owner + struct.pack("!HHIH", 41, size, ttl, len(options)) + options
    return data[:10] + struct.pack("!H", count) + data[12:end] + records


def _two_questions(data: bytes, rng: random.Random) -> bytes:
    end = _question_end(data)
    second = data[12:end] if rng.random() < 0.5 else b"\xc0\x0c" + data[end - 4:end]
    return data[:4] + b"\x00\x02" + data[6:end] + second + data[end:]


def _flags(data: bytes, rng: random.Random) -> bytes:
    flags = (rng.randrange(65536) & 0x7FFF) if rng.random() < 0.7 else rng.randrange(65536)
    return data[:2] + struct.pack("!H", flags) + data[4:]


def _response(data: bytes, rng: random.Random) -> bytes:
    if len(data) < 3:
        return data
    return data[:2] + bytes([data[2] | 0x80]) + data[3:]


def _record(data: bytes, rng: random.Random) -> bytes:
    end = _question_end(data)
    rdata = rng.randbytes(rng.randint(0, 16))
    record = b"\xc0\x0c" + struct.pack("!HHIH", rng.choice([1, 5, 41, 250, 255]), 1, 0,
                                       len(rdata)) + rdata
    return data[:6] + b"\x00\x01" + data[8:end] + record + data[end:]


STRUCTURAL: list[Callable[[bytes, random.Random], bytes]] = [
    _tricky_name, _pointer_chain, _random_opt, _two_questions, _record]
BLIND: list[Callable[[bytes, random.Random], bytes]] = [
    _flip_bits, _set_bytes, _truncate, _append, _set_counts, _flags, _response]


def packets(seed: int) -> Iterator[bytes]:
    """Endless mutated queries: sometimes a seed as it is, usually one structural change
    and one to three blind ones."""
    rng = random.Random(seed)
    bases = seeds()
    while True:
        data = rng.choice(bases)
        roll = rng.random()
        if roll < 0.05:
            yield data
            continue
        if roll < 0.75:
            data = rng.choice(STRUCTURAL)(data, rng)
        for _ in range(rng.randint(0 if roll < 0.75 else 1, 3)):
            if data:
                data = rng.choice(BLIND)(data, rng)
        yield data


def expects_reply(query: bytes) -> bool:
    """Whether the rules call for a reply to `query` at all."""
    return len(query) >= HEADER.size and not query[2] & 0x80


def judge(query: bytes, reply: bytes) -> str | None:
    """What is wrong with `reply` as the one reply to `query`; None when nothing is."""
    if len(reply) < HEADER.size or reply[:2] != query[:2] or not reply[2] & 0x80:
        return "not a reply to it"
    try:
        # as a QUERY: dnspython reads UPDATE's sections by other rules
        parsed = dns.message.from_wire(reply[:2] + bytes([reply[2] & 0x87]) + reply[3:])
    except dns.exception.DNSException as exc:
        return f"unreadable reply: {type(exc).__name__}"
    if len(reply) > (1232 if parsed.edns >= 0 else 512):
        return f"reply of {len(reply)} octets"
    if parsed.rcode() == FORMERR:
        return None if len(reply) <= 512 else "FORMERR over 512 octets"
    if query[4:6] == b"\x00\x00":
        return None if not parsed.question else "a question nobody asked"
    end = _question_end(reply)
    if len(parsed.question) != 1 or query[HEADER.size:end] != reply[HEADER.size:end]:
        return "question not echoed byte for byte"
    return None


@dataclass
class Tally:
    """What a run saw."""

    packets: int = 0
    replies: int = 0
    no_replies: int = 0  # a reply was due and none came
    silent: int = 0  # no reply was due, and none came
    formerr: int = 0
    problems: Counter[str] = field(default_factory=Counter)
    examples: dict[str, bytes] = field(default_factory=dict)

    def problem(self, what: str, query: bytes) -> None:
        self.problems[what] += 1
        self.examples.setdefault(what, query)


@dataclass
class _Slot:
    sock: socket.socket
    recent: dict[bytes, tuple[bytes, bool]] = field(default_factory=dict)  # ID -> (query, due)
    waiting: bytes | None = None  # the ID of the reply this slot waits for
    since: float = 0.0


def run(host: str, port: int, count: int, seed: int, deadline: float = 1e9) -> Tally:
    """Send `count` mutated packets to host:port (or as many as fit before `deadline`)."""
    tally = Tally()
    source = packets(seed)
    selector = selectors.DefaultSelector()
    slots = []
    for _ in range(WINDOW):
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind(("127.0.0.1", 0))
        sock.setblocking(False)
        slot = _Slot(sock)
        selector.register(sock, selectors.EVENT_READ, slot)
        slots.append(slot)
    sent = 0
    try:
        while True:
            now = time.monotonic()
            for slot in slots:
                if slot.waiting is not None and now - slot.since > REPLY_TIMEOUT:
                    tally.no_replies += 1
                    slot.waiting = None
                if slot.waiting is None and sent < count and now < deadline:
                    sent += 1
                    _send(slot, next(source), host, port, tally)
            finished = sent >= count or now >= deadline
            if finished and all(slot.waiting is None for slot in slots):
                break
            for key, _ in selector.select(0.01 if sent < count else 0.05):
                _receive(key.data, tally)
        _drain(selector, tally)
    finally:
        for slot in slots:
            selector.unregister(slot.sock)
            slot.sock.close()
    tally.silent = tally.packets - tally.replies - tally.no_replies
    return tally


def _send(slot: _Slot, data: bytes, host: str, port: int, tally: Tally) -> None:
    tally.packets += 1
    due = expects_reply(data)
    ident = data[:2]
    if ident in slot.recent or len(slot.recent) > 16:
        slot.recent.pop(next(iter(slot.recent)))
    slot.recent[ident] = (data, due)
    if due:
        slot.waiting, slot.since = ident, time.monotonic()
    slot.sock.sendto(data, (host, port))


def _receive(slot: _Slot, tally: Tally) -> None:
    while True:
        try:
            reply = slot.sock.recv(65535)
        except BlockingIOError:
            return
        ident = reply[:2]
        query, due = slot.recent.get(ident, (b"", False))
        if not due:
            tally.problem("reply to a packet that needed none", query or reply)
            continue
        if slot.waiting != ident:
            tally.problem("second or late reply", query)
            continue
        slot.waiting = None
        tally.replies += 1
        if len(reply) >= 4 and reply[3] & 0xF == FORMERR:
            tally.formerr += 1
        problem = judge(query, reply)
        if problem:
            tally.problem(problem, query)


def _drain(selector: selectors.BaseSelector, tally: Tally) -> None:
    """Anything still arriving after the last reply is a reply that should not exist."""
    for key, _ in selector.select(0.2):
        _receive(key.data, tally)


class NxdomainUpstream:
    """A loopback upstream that denies every name, echoing its question as sent, with a
    root SOA so the denial is cached: forwarded names get exercised without dnslib."""

    SOA = (b"\x00" + struct.pack("!HHIH", 6, 1, 60, 22) + b"\x00\x00"
           + struct.pack("!5I", 1, 2, 3, 4, 60))

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.address = f"127.0.0.1:{self.sock.getsockname()[1]}"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                data, peer = self.sock.recvfrom(65535)
            except TimeoutError:
                continue
            end = _question_end(data)
            header = data[:2] + b"\x81\x83" + struct.pack("!4H", 1, 0, 1, 0)
            self.sock.sendto(header + data[12:end] + self.SOA, peer)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()
