"""Response rate limiting (RRL) for UDP, as BIND's `rate-limit` and Knot's `mod-rrl` do it.

A spoofed-source attacker can make a DNS server send big answers to a victim. RRL keeps
an account per client network (/24 for IPv4, /56 for IPv6) and per kind of response:
identical answers (same name and type) share one, every NXDOMAIN of a client network
shares one (random names must not buy fresh allowances), and every error shares one.
Each account earns `rate` responses a second, holds at most `rate` in credit, and owes
at most `window` seconds' worth: a flood stays suppressed until it has been quiet for
the window. Of the suppressed responses every `slip`-th goes out truncated (TC set, no
records), so a real client behind a spoofed address retries over TCP and is answered
there; TCP is never limited, since its source cannot be spoofed.

The accounting is pure (the clock is an argument) and cheap: one tuple, one dict lookup
and a few float operations per response.
"""

from __future__ import annotations

import ipaddress
import socket
import time
from collections.abc import Hashable
from dataclasses import dataclass

from ..zone.records import NOERROR, NXDOMAIN
from . import message, names

# Stub resolvers do not cache, and every container behind one Docker bridge shares a
# /24: BIND's and Knot's authoritative-server figures (5-20) would throttle a busy pod.
DEFAULT_RATE = 100
DEFAULT_SLIP = 2  # as BIND: every other suppressed response is truncated
DEFAULT_WINDOW = 15  # as BIND
TABLE_SIZE = 20_000  # accounts kept, as BIND's max-table-size; oldest out first

SEND, DROP, SLIP = 0, 1, 2


class RateLimiter:
    """Accounts of responses sent, by key, with credit earned at `rate` per second."""

    __slots__ = ("_accounts", "_floor", "rate", "slip", "table_size")

    def __init__(self, rate: int, slip: int = DEFAULT_SLIP, window: int = DEFAULT_WINDOW,
                 table_size: int = TABLE_SIZE) -> None:
        self.rate = float(rate)
        self.slip = slip
        self._floor = -float(window * rate)
        self.table_size = table_size
        # key -> [balance, time of the last response, suppressed since the last slip]
        self._accounts: dict[Hashable, list[float]] = {}

    def __len__(self) -> int:
        return len(self._accounts)

    def judge(self, key: Hashable, now: float) -> int:
        """SEND, DROP or SLIP for one more response on `key`'s account at time `now`."""
        account = self._accounts.get(key)
        if account is None:
            if len(self._accounts) >= self.table_size:
                del self._accounts[next(iter(self._accounts))]
            self._accounts[key] = [self.rate - 1.0, now, 0.0]
            return SEND
        balance = account[0] + (now - account[1]) * self.rate
        if balance > self.rate:
            balance = self.rate
        balance -= 1.0
        if balance < self._floor:
            balance = self._floor
        account[0] = balance
        account[1] = now
        if balance >= 0.0:
            return SEND
        if self.slip:
            account[2] += 1.0
            if account[2] >= self.slip:
                account[2] = 0.0
                return SLIP
        return DROP


def client_network(host: str) -> str | bytes:
    """The network a client address is accounted by: its /24, or its /56 for IPv6."""
    if ":" not in host:
        return host.rpartition(".")[0]
    return socket.inet_pton(socket.AF_INET6, host.partition("%")[0])[:7]


def account(host: str, query: bytes, reply: bytes) -> tuple[str | bytes, bytes]:
    """The account a reply to `query` is charged to: the client's network, and the kind.

    An answer (or NODATA) is known by the question's lowercased name and type; every
    NXDOMAIN shares one account, and so does every error (BIND does the same).
    """
    rcode = reply[3] & 0xF
    if rcode == NOERROR:
        end = query.find(0, message.HEADER.size) + 3
        kind = query[message.HEADER.size:end].lower()
    elif rcode == NXDOMAIN:
        kind = b"\x03"
    else:
        kind = b"\x02"
    return client_network(host), kind


def slipped(reply: bytes) -> bytes:
    """`reply` cut to its header and question, with TC set: "ask me again over TCP"."""
    end = message.HEADER.size
    if reply[4:6] != b"\x00\x00":
        try:
            end = names.read(reply, end)[1] + 4
        except names.BadName:
            end = message.HEADER.size
    question = reply[message.HEADER.size:end]
    flags = int.from_bytes(reply[2:4], "big") | message.TC
    return message.HEADER.pack(int.from_bytes(reply[:2], "big"), flags,
                               1 if question else 0, 0, 0, 0) + question


def outcome(limiter: RateLimiter, host: str, query: bytes, reply: bytes) -> bytes | None:
    """What goes out for `reply` to `query` from `host`: the reply, its slip, or nothing."""
    verdict = limiter.judge(account(host, query, reply), time.monotonic())
    if verdict == SEND:
        return reply
    return slipped(reply) if verdict == SLIP else None


@dataclass(frozen=True)
class RateLimit:
    """What was asked for: `rate` None means DEFAULT_RATE beyond loopback, off on it."""

    rate: int | None = None
    slip: int = DEFAULT_SLIP
    window: int = DEFAULT_WINDOW

    def rate_for(self, host: str) -> int:
        """The rate for a listener on `host`; 0 means no limit there."""
        if self.rate is not None:
            return self.rate
        return 0 if ipaddress.ip_address(host.partition("%")[0]).is_loopback else DEFAULT_RATE
