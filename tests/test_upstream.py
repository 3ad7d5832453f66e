"""The forwarder against real test servers on loopback: failover, TCP, deadlines, sharing."""

from __future__ import annotations

import asyncio
import logging
import socket
import struct
import time

import pytest
from dnslib import QTYPE, RCODE, DNSRecord

from clusterdns.serve.cache import Cache
from clusterdns.serve.forwarded import Forwarded
from clusterdns.serve.message import NETWORK_ERROR, NO_REACHABLE_AUTHORITY, ExtendedError
from clusterdns.serve.upstream import (
    HOLD_DOWN_SECONDS,
    Forwarder,
    Question,
    UpstreamError,
    build_request,
    default_upstreams,
    is_own_address,
    matches,
)
from tests.upstream_server import dead_address, upstream

GITHUB = "github.io. 300 IN A 185.199.108.153"


def endpoint(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host, int(port)


def forwarder(*addresses: str, timeout: float = 0.3, budget: float = 1.0,
              cache: Cache | None = None) -> Forwarder:
    kept = Cache() if cache is None else cache  # an empty Cache is falsy: no `or` here
    return Forwarder([endpoint(a) for a in addresses], kept, timeout, budget)


def resolve(fwd: Forwarder, name: str = "github.io.", qtype: int = QTYPE.A
            ) -> Forwarded | ExtendedError:
    return asyncio.run(fwd.resolve(Question(name, qtype)))


def addresses(answer: Forwarded | ExtendedError) -> list[str]:
    assert isinstance(answer, Forwarded)
    return [socket.inet_ntoa(r.rdata) for r in answer.answer]


def test_answer_comes_from_the_upstream_and_then_from_the_cache() -> None:
    with upstream(GITHUB) as server:
        fwd = forwarder(server.address)
        assert addresses(resolve(fwd)) == ["185.199.108.153"]
        assert addresses(resolve(fwd)) == ["185.199.108.153"]
        assert server.count("github.io") == 1


def test_dead_first_upstream_fails_over_and_is_then_asked_last() -> None:
    with upstream(GITHUB) as silent, upstream(GITHUB) as live:
        silent.silent = True
        fwd = forwarder(silent.address, live.address, cache=Cache(capacity=0))
        assert addresses(resolve(fwd)) == ["185.199.108.153"]
        started = time.monotonic()
        assert addresses(resolve(fwd)) == ["185.199.108.153"]
        assert time.monotonic() - started < 0.25  # no second wait on the silent one
        assert silent.count("github.io") == 1 and live.count("github.io") == 2


def test_refused_port_fails_over_at_once() -> None:
    with upstream(GITHUB) as live:
        fwd = forwarder(dead_address(), live.address, timeout=2.0, budget=3.0)
        started = time.monotonic()
        assert addresses(resolve(fwd)) == ["185.199.108.153"]
        assert time.monotonic() - started < 1.0


def test_truncated_udp_reply_is_retried_over_tcp() -> None:
    with upstream(GITHUB, truncate_udp=True) as server:
        assert addresses(resolve(forwarder(server.address))) == ["185.199.108.153"]
        assert server.count("github.io", "udp") == 1 and server.count("github.io", "tcp") == 1


def test_stray_reply_with_another_id_is_ignored() -> None:
    with upstream(GITHUB, stray_first=True) as server:
        assert addresses(resolve(forwarder(server.address))) == ["185.199.108.153"]


def test_all_silent_gives_no_reachable_authority_within_the_budget() -> None:
    with upstream(silent=True) as one, upstream(silent=True) as two:
        fwd = forwarder(one.address, two.address, timeout=0.3, budget=0.5)
        started = time.monotonic()
        assert resolve(fwd) == ExtendedError(NO_REACHABLE_AUTHORITY,
                                             "no upstream answered in time")
        elapsed = time.monotonic() - started
        assert 0.45 < elapsed < 0.8
        assert one.count("github.io") == 1 and two.count("github.io") == 1


def test_servfail_from_one_upstream_asks_the_next() -> None:
    with upstream(GITHUB, rcode=RCODE.SERVFAIL) as failing, upstream(GITHUB) as live:
        assert addresses(resolve(forwarder(failing.address, live.address))) == [
            "185.199.108.153"]
        assert failing.count("github.io") == 1
        only = resolve(forwarder(failing.address))
        assert only is not None and only.rcode == RCODE.SERVFAIL


def test_identical_questions_in_flight_share_one_request() -> None:
    async def five(fwd: Forwarder) -> list[Forwarded | None]:
        return await asyncio.gather(*(fwd.resolve(Question("github.io.", QTYPE.A))
                                      for _ in range(5)))

    with upstream(GITHUB, delay=0.2) as server:
        replies = asyncio.run(five(forwarder(server.address, timeout=1.0, cache=Cache(0))))
        assert all(addresses(r) == ["185.199.108.153"] for r in replies)
        assert server.count("github.io") == 1


def test_nxdomain_is_passed_on_and_cached_by_its_soa() -> None:
    with upstream(negative_ttl=30) as server:
        fwd = forwarder(server.address)
        for _ in range(2):
            reply = resolve(fwd, "nope.example.")
            assert reply is not None and reply.rcode == RCODE.NXDOMAIN
        assert server.count("nope.example") == 1


def test_reply_must_carry_the_id_and_question_that_were_sent() -> None:
    request = build_request(Question("github.io.", QTYPE.A))
    sent = DNSRecord.parse(request.data)
    assert sent.header.rd and sent.q.qname == "github.io." and sent.ar[0].rtype == QTYPE.OPT
    reply = sent.reply()
    assert matches(request, bytes(reply.pack())) is not None
    other_id = sent.reply()
    other_id.header.id ^= 1
    other_name = DNSRecord.question("gitlab.io").reply()
    other_name.header.id = request.id
    for bad in (bytes(other_id.pack()), bytes(other_name.pack()), request.data,
                b"\x00\x01garbage"):
        assert matches(request, bad) is None


def test_the_reply_to_our_question_that_cannot_be_read_is_an_error() -> None:
    request = build_request(Question("github.io.", QTYPE.A))
    reply = bytes(DNSRecord.parse(request.data).reply().pack())
    # Our ID and question, then an answer whose owner is a pointer forwards (to 48).
    forward = reply[:6] + b"\x00\x01" + reply[8:] + b"\xc0\x30" + \
        struct.pack("!HHIH", 1, 1, 60, 4) + bytes(4)
    with pytest.raises(UpstreamError, match=r"github\.io"):
        matches(request, forward)


def test_truncated_over_tcp_too_is_a_failure_and_not_cached() -> None:
    with upstream(GITHUB, truncate_udp=True, truncate_tcp=True) as server:
        fwd = forwarder(server.address)
        failed = resolve(fwd)
        assert isinstance(failed, ExtendedError) and failed.code == NETWORK_ERROR
        assert failed.text == "upstream failed: truncated reply over TCP for github.io."
        assert len(fwd.cache) == 0 and server.count("github.io", "tcp") == 1


def test_a_refused_connection_is_a_network_error() -> None:
    failed = resolve(forwarder(dead_address(), timeout=0.3, budget=0.5))
    assert failed == ExtendedError(NETWORK_ERROR, "upstream failed: connection refused")


def test_an_outage_is_logged_when_it_starts_and_when_it_ends(caplog) -> None:
    caplog.set_level(logging.INFO, logger="clusterdns.serve.upstream")
    with upstream(GITHUB, silent=True) as server:
        fwd = forwarder(server.address, timeout=0.2, budget=0.3)
        for name in ("a.github.io", "b.github.io"):
            assert isinstance(resolve(fwd, name), ExtendedError)
        server.silent = False
        assert addresses(resolve(fwd)) == ["185.199.108.153"]
    lines = [r.getMessage() for r in caplog.records]
    assert lines == [
        f"upstream {server.address} failed (timed out); asking it last until it answers again",
        f"upstream {server.address} answers again after "
        f"{lines[1].split(' after ')[1].split(' s ')[0]} s and 2 failed question(s)",
    ]


RESOLV_CONF = "nameserver 127.0.0.1\nnameserver 10.0.0.2\nnameserver 192.168.5.5\n"


@pytest.mark.parametrize(("listen", "expected"), [
    ([("127.0.0.1", 5353)], ["127.0.0.1", "10.0.0.2", "192.168.5.5"]),
    ([("127.0.0.1", 53)], ["10.0.0.2", "192.168.5.5"]),
    ([("0.0.0.0", 53)], ["10.0.0.2"]),  # 192.168.5.5 is local here, so it is us
    ([("::", 53)], ["127.0.0.1", "10.0.0.2", "192.168.5.5"]),
])
def test_default_upstreams_leave_out_our_own_addresses(
        listen: list[tuple[str, int]], expected: list[str]) -> None:
    found = default_upstreams(RESOLV_CONF, listen, is_local=lambda host: host == "192.168.5.5")
    assert found == tuple((host, 53) for host in expected)


def test_held_down_upstream_is_asked_first_again_once_its_time_is_up() -> None:
    now = [1000.0]
    with upstream(GITHUB, silent=True) as silent, upstream(GITHUB) as live:
        fwd = Forwarder([endpoint(silent.address), endpoint(live.address)], Cache(0),
                        timeout=0.3, budget=1.0, clock=lambda: now[0])
        assert addresses(resolve(fwd)) == ["185.199.108.153"]
        assert addresses(resolve(fwd)) == ["185.199.108.153"]
        assert silent.count("github.io") == 1  # held down: the live one went first
        now[0] += HOLD_DOWN_SECONDS
        assert addresses(resolve(fwd)) == ["185.199.108.153"]
        assert silent.count("github.io") == 2 and live.count("github.io") == 3


@pytest.mark.parametrize(("upstream_address", "listen", "own"), [
    (("127.0.0.1", 5353), [("127.0.0.1", 5353)], True),
    (("127.0.0.1", 53), [("127.0.0.1", 5353)], False),
    (("127.0.0.1", 53), [("0.0.0.0", 53)], True),
    (("::1", 53), [("0.0.0.0", 53)], False),
    (("::1", 53), [("::", 53)], True),
])
def test_own_address(upstream_address: tuple[str, int], listen: list[tuple[str, int]],
                     own: bool) -> None:
    assert is_own_address(*upstream_address, listen, is_local=lambda host: False) is own
