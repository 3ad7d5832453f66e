"""Response rate limiting over real UDP: floods from one prefix are cut, with slips.

Loopback listeners have no limit unless asked, so every server here asks for one; the
flooding client and the innocent one sit in different /24s of 127.0.0.0/8. Each limited
server runs once with UDP in batches (the default) and once with `--no-batch`.
"""

from __future__ import annotations

import socket
import time

import dns.flags
import dns.message
import dns.query
import dns.rcode
import pytest

from tests.conftest import EXAMPLES, ServerProcess

NAME = "headless1.default.svc.cluster.local"
RRL = ("--rrl-responses-per-second", "5", "--rrl-slip", "2", "--rrl-window", "5")


@pytest.fixture(params=["--batch", "--no-batch"])
def udp_path(request: pytest.FixtureRequest) -> str:
    """How the server reads UDP: in batches, or one datagram at a time."""
    return str(request.param)


def flood(server: ServerProcess, source: str, names: list[str]) -> list[dns.message.Message]:
    """Send one query per name at once from `source`; every reply that comes back."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((source, 0))
        for ident, name in enumerate(names):
            query = dns.message.make_query(name, "A")
            query.id = ident
            sock.sendto(query.to_wire(), (server.host, server.port))
        replies = []
        sock.settimeout(0.5)
        try:
            while True:
                replies.append(dns.message.from_wire(sock.recv(65535)))
        except TimeoutError:
            return replies


def test_a_flood_is_limited_with_every_second_suppressed_reply_slipped(start_server,
                                                                       udp_path) -> None:
    server = start_server("--manifests", str(EXAMPLES), *RRL, udp_path)
    replies = flood(server, "127.0.5.9", [NAME] * 100)
    full = [r for r in replies if not r.flags & dns.flags.TC]
    slipped = [r for r in replies if r.flags & dns.flags.TC]
    assert 5 <= len(full) <= 8 and all(r.answer for r in full)
    assert 40 <= len(slipped) <= 50  # slip 2: half of the 92-95 suppressed go out truncated
    for reply in slipped:
        assert not reply.answer and reply.question[0].name.to_text() == NAME + "."
    # TCP is never limited, and another prefix has its own allowance.
    for _ in range(10):
        assert dns.query.tcp(dns.message.make_query(NAME, "A"), server.host, port=server.port,
                             timeout=2, source="127.0.5.9").answer
    assert len(flood(server, "127.0.6.9", [NAME])[0].answer) == 1


def test_nxdomain_floods_share_one_allowance(start_server, udp_path) -> None:
    server = start_server("--manifests", str(EXAMPLES), *RRL, "--rrl-slip", "0", udp_path)
    names = [f"random{i}.default.svc.cluster.local" for i in range(60)]
    replies = flood(server, "127.0.7.9", names)
    assert 5 <= len(replies) <= 8  # slip 0: the rest is dropped
    assert all(r.rcode() == dns.rcode.NXDOMAIN for r in replies)


def test_loopback_listener_is_not_limited_by_default(example_server: ServerProcess) -> None:
    replies = flood(example_server, "127.0.8.9", [NAME] * 100)
    assert len(replies) == 100 and all(r.answer for r in replies)


def test_rate_limit_zero_turns_it_off(start_server, udp_path) -> None:
    server = start_server("--manifests", str(EXAMPLES), "--rrl-responses-per-second", "0",
                          udp_path)
    assert len(flood(server, "127.0.9.9", [NAME] * 50)) == 50


def test_flooded_client_recovers_after_the_window(start_server, udp_path) -> None:
    server = start_server("--manifests", str(EXAMPLES), "--rrl-responses-per-second", "5",
                          "--rrl-window", "1", "--rrl-slip", "0", udp_path)
    assert len(flood(server, "127.0.10.9", [NAME] * 50)) < 10
    time.sleep(1.8)  # the debt is at most one window of responses: 1 s, then 3 more
    assert len(flood(server, "127.0.10.9", [NAME] * 3)) == 3
