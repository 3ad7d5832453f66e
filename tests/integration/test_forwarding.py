"""Forwarding through the real server to real upstreams on loopback.

Every upstream here is a `tests.upstream_server.UpstreamServer` or a dnsmasq that the
test starts on 127.0.0.1 or ::1; no question ever leaves the machine.
"""

from __future__ import annotations

import concurrent.futures
import getpass
import shutil
import socket
import struct
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import dns.reversename
import pytest
from dnslib import RR, DNSRecord

from tests.conftest import EXAMPLES, ServerProcess, dig, rrset_values
from tests.upstream_server import dead_address, upstream

ZONE = (
    "github.io. 300 IN A 185.199.108.153",
    "github.io. 300 IN A 185.199.109.153",
    "github.io. 300 IN AAAA 2606:50c0:8000::153",
    "8.8.8.8.in-addr.arpa. 300 IN PTR dns.google.",
    "example.org. 300 IN A 192.0.2.80",
)
EXTERNAL = "externalname1.default.svc.cluster.local"
FAST = ("--upstream-timeout", "0.3", "--upstream-budget", "1")


def serve(start_server, *upstreams: str, extra: tuple[str, ...] = FAST) -> ServerProcess:
    args = ["--manifests", str(EXAMPLES), *extra]
    for address in upstreams:
        args += ["--upstream", address]
    return start_server(*args)


def test_a_aaaa_and_ptr_are_forwarded_with_the_clients_id_and_ra(start_server) -> None:
    with upstream(*ZONE) as up:
        server = serve(start_server, up.address)
        reply = server.query("GitHub.io", "A")
        assert rrset_values(reply) == {"github.io. A 185.199.108.153",
                                       "github.io. A 185.199.109.153"}
        assert reply.answer[0].name.to_text() == "GitHub.io."  # the client's spelling
        assert reply.flags & dns.flags.RA and not reply.flags & dns.flags.AA
        assert rrset_values(server.query("github.io", "AAAA")) == {
            "github.io. AAAA 2606:50c0:8000::153"}
        ptr = server.query(dns.reversename.from_address("8.8.8.8").to_text(), "PTR")
        assert rrset_values(ptr) == {"8.8.8.8.in-addr.arpa. PTR dns.google."}
        in_zone = server.query("service1.default.svc.cluster.local", "A")
        assert in_zone.flags & dns.flags.RA and in_zone.flags & dns.flags.AA


def test_dig_sees_a_forwarded_answer(start_server) -> None:
    with upstream(*ZONE) as up:
        server = serve(start_server, up.address)
        out = dig(server, "example.org", "A")
        assert "status: NOERROR" in out and "192.0.2.80" in out
        assert " ra" in out.split("flags:")[1].split(";")[0]


def test_nxdomain_is_forwarded_and_then_served_from_the_cache(start_server) -> None:
    with upstream(*ZONE) as up:
        server = serve(start_server, up.address)
        for _ in range(2):
            reply = server.query("nope.example.org", "A")
            assert reply.rcode() == dns.rcode.NXDOMAIN
            assert reply.authority[0].rdtype == dns.rdatatype.SOA
        assert up.count("nope.example.org") == 1


def test_answer_is_cached_with_its_ttl_counting_down(start_server) -> None:
    with upstream(*ZONE) as up:
        server = serve(start_server, up.address)
        first = server.query("example.org", "A")
        time.sleep(1.1)  # one whole second must pass for the TTL to drop by one
        second = server.query("example.org", "A", tcp=True)
        assert rrset_values(first) == rrset_values(second)
        assert first.answer[0].ttl == 300 and second.answer[0].ttl in (298, 299)
        assert up.count("example.org") == 1


def test_cached_answer_outlives_the_upstream(start_server) -> None:
    with upstream(*ZONE) as up:
        server = serve(start_server, up.address)
        assert server.query("example.org", "A").answer
    # The upstream is gone now; the cache still answers, a new name does not.
    assert rrset_values(server.query("example.org", "A")) == {"example.org. A 192.0.2.80"}
    assert server.query("github.io", "A").rcode() == dns.rcode.SERVFAIL


def test_dead_first_upstream_fails_over_to_the_next(start_server) -> None:
    with upstream(*ZONE) as up:
        server = serve(start_server, dead_address(), up.address)
        started = time.monotonic()
        assert rrset_values(server.query("example.org", "A")) == {"example.org. A 192.0.2.80"}
        assert time.monotonic() - started < 1.0


def test_silent_first_upstream_is_skipped_after_it_failed(start_server) -> None:
    with upstream(silent=True) as silent, upstream(*ZONE) as up:
        server = serve(start_server, silent.address, up.address)
        assert server.query("example.org", "A").answer
        started = time.monotonic()
        assert server.query("github.io", "A").answer
        assert time.monotonic() - started < 0.25  # not another 0.3 s on the silent one
        assert silent.count("github.io") == 0
        server.wait_for_log(r"upstream 127\.0\.0\.1:\d+ failed")


def test_truncated_upstream_reply_is_retried_over_tcp(start_server) -> None:
    with upstream(*ZONE, truncate_udp=True) as up:
        server = serve(start_server, up.address)
        assert len(rrset_values(server.query("github.io", "A"))) == 2
        assert up.count("github.io", "udp") == 1 and up.count("github.io", "tcp") == 1


def test_ipv6_upstream(start_server) -> None:
    with upstream(*ZONE, host="::1") as up:
        assert up.address.startswith("[::1]:")
        server = serve(start_server, up.address)
        assert rrset_values(server.query("example.org", "A")) == {"example.org. A 192.0.2.80"}


def test_all_upstreams_silent_gives_servfail_within_the_budget(start_server) -> None:
    with upstream(silent=True) as one, upstream(silent=True) as two:
        server = serve(start_server, one.address, two.address,
                       extra=("--upstream-timeout", "0.3", "--upstream-budget", "0.5"))
        started = time.monotonic()
        reply = server.query("example.org", "A", timeout=3)
        elapsed = time.monotonic() - started
        assert reply.rcode() == dns.rcode.SERVFAIL and reply.flags & dns.flags.RA
        assert elapsed < 1.0
        assert one.count("example.org") == 1 and two.count("example.org") == 1


def test_identical_questions_at_once_share_one_upstream_request(start_server) -> None:
    with upstream(*ZONE, delay=0.15) as up:
        server = serve(start_server, up.address)
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            replies = list(pool.map(lambda _: server.query("example.org", "A"), range(8)))
        assert all(r.answer for r in replies)
        assert up.count("example.org") == 1


def test_external_name_gets_its_target_addresses_in_one_answer(start_server) -> None:
    with upstream(*ZONE) as up:
        server = serve(start_server, up.address)
        out = dig(server, "+noall", "+answer", EXTERNAL, "A")
        lines = [line.split() for line in out.splitlines() if line.strip()]
        assert [(f[0], f[3], f[4]) for f in lines] == [
            (f"{EXTERNAL}.", "CNAME", "github.io."),
            ("github.io.", "A", "185.199.108.153"),
            ("github.io.", "A", "185.199.109.153"),
        ]
        assert up.count("github.io") == 1


def test_external_name_keeps_its_cname_when_the_upstream_fails(start_server) -> None:
    server = serve(start_server, dead_address())
    reply = server.query(EXTERNAL, "A")
    assert reply.rcode() == dns.rcode.NOERROR
    assert rrset_values(reply) == {f"{EXTERNAL}. CNAME github.io."}


def query_from(server: ServerProcess, source: str, name: str) -> dns.message.Message:
    return dns.query.udp(dns.message.make_query(name, "A"), server.host, port=server.port,
                         timeout=2, source=source)


def test_recursion_only_for_allowed_clients(start_server) -> None:
    with upstream(*ZONE) as up:
        server = serve(start_server, up.address,
                       extra=(*FAST, "--allow-recursion", "127.0.0.1/32"))
        outsider = query_from(server, "127.0.0.2", "example.org")
        assert outsider.rcode() == dns.rcode.REFUSED
        assert query_from(server, "127.0.0.2", "service1.default.svc.cluster.local").answer
        assert rrset_values(query_from(server, "127.0.0.2", EXTERNAL)) == {
            f"{EXTERNAL}. CNAME github.io."}  # in-zone: answered, but not chased
        assert query_from(server, "127.0.0.1", "example.org").answer
        assert up.count("example.org") == 1 and up.count("github.io") == 0


def test_upstream_none_denies_names_outside_the_zone(start_server) -> None:
    server = start_server("--manifests", str(EXAMPLES), "--upstream", "none")
    outside = server.query("example.org", "A")
    assert outside.rcode() == dns.rcode.NXDOMAIN and not outside.flags & dns.flags.AA
    in_zone = server.query("service1.default.svc.cluster.local", "A")
    assert in_zone.answer and not in_zone.flags & dns.flags.RA
    server.wait_for_log("forwarding off")


def test_bad_upstream_and_range_stop_serve_with_a_message(start_server) -> None:
    for args, message in (
        (["--upstream", "none", "--upstream", "127.0.0.1"], "cannot be combined"),
        (["--upstream", "resolver.example"], "is not HOST:PORT"),
        (["--allow-recursion", "10.0.0.0/33"], "not an address range"),
        (["--upstream", "127.0.0.1:5399", "--listen", "127.0.0.1:5399"], "clusterdns itself"),
    ):
        with pytest.raises(RuntimeError, match=message):
            start_server("--manifests", str(EXAMPLES), *args)



@pytest.fixture
def dnsmasq(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """dnsmasq on a free loopback port, serving github.io, logging every query it gets."""
    binary = shutil.which("dnsmasq") or shutil.which("dnsmasq", path="/usr/sbin:/sbin")
    if not binary:
        pytest.fail("dnsmasq is missing: `make test` installs dnsmasq-base")
    log = tmp_path / "dnsmasq.log"
    # A port free for UDP a moment ago may be taken for TCP, or taken since: dnsmasq then
    # exits at once, and another port is tried.
    for _ in range(5):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        proc = subprocess.Popen(
            [binary, "-k", "-p", str(port), "--listen-address=127.0.0.1", "--bind-interfaces",
             "--no-resolv", "--no-hosts", "--pid-file=", f"--user={getpass.getuser()}",
             "--host-record=github.io,185.199.108.153,2606:50c0:8000::153",
             "--local=/example.org/", "--local-ttl=300",  # its default, 0, is never cached
             "--log-queries", f"--log-facility={log}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 5
        while proc.poll() is None and time.monotonic() < deadline:
            if log.exists() and "started" in log.read_text():
                break
            time.sleep(0.02)
        if proc.poll() is None:
            break
        assert proc.stderr is not None
        error = proc.stderr.read()
        assert "in use" in error, f"dnsmasq did not start: {error}"
    try:
        wait_for_line(log, "started")
        yield f"127.0.0.1:{port}", log
    finally:
        proc.terminate()
        proc.wait(5)


def wait_for_line(log: Path, text: str, timeout: float = 5.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if log.exists() and text in log.read_text():
            return log.read_text()
        time.sleep(0.02)
    raise AssertionError(f"{text!r} never appeared in {log}")


def test_dnsmasq_as_the_upstream(start_server, dnsmasq: tuple[str, Path]) -> None:
    address, log = dnsmasq
    server = serve(start_server, address)
    assert rrset_values(server.query("github.io", "A")) == {"github.io. A 185.199.108.153"}
    assert rrset_values(server.query("github.io", "AAAA")) == {
        "github.io. AAAA 2606:50c0:8000::153"}
    reverse = dns.reversename.from_address("185.199.108.153").to_text()
    assert rrset_values(server.query(reverse, "PTR")) == {f"{reverse.lower()} PTR github.io."}
    assert server.query("nope.example.org", "A").rcode() == dns.rcode.NXDOMAIN
    assert server.query("github.io", "A").answer  # from clusterdns's cache this time
    server.query("github.io", "TXT")  # dnsmasq logs in order: this line comes last
    text = wait_for_line(log, "query[TXT] github.io")
    assert text.count("query[A] github.io from 127.0.0.1") == 1


def test_truncated_reply_over_tcp_too_is_servfail(start_server) -> None:
    with upstream(*ZONE, truncate_udp=True, truncate_tcp=True) as up:
        server = serve(start_server, up.address)
        reply = server.query("github.io", "A")
        assert reply.rcode() == dns.rcode.SERVFAIL and not reply.answer
        assert up.count("github.io", "tcp") == 1
        server.query("github.io", "A")
        assert up.count("github.io", "tcp") == 2  # never cached


def long_cname_reply(query: bytes) -> bytes:
    """A reply whose CNAME target is 300 octets long: no name may pass 255."""
    end = query.index(b"\x00", 12) + 5
    target = b"".join(b"\x3b" + b"x" * 59 for _ in range(5)) + b"\x00"
    record = b"\xc0\x0c" + struct.pack("!HHIH", 5, 1, 300, len(target)) + target
    return query[:2] + b"\x81\x80\x00\x01\x00\x01\x00\x00\x00\x00" + query[12:end] + record


def test_unusable_upstream_answer_gets_every_client_a_reply_and_is_not_cached(
        start_server) -> None:
    with upstream(respond_with=long_cname_reply) as up:
        server = serve(start_server, up.address)
        for asked in (1, 2):
            started = time.monotonic()
            reply = server.query("long.example.org", "A", timeout=3)
            assert reply.rcode() == dns.rcode.SERVFAIL
            assert time.monotonic() - started < 1.5
            assert up.count("long.example.org") == asked  # asked again: nothing cached
        server.wait_for_log(r"upstream 127\.0\.0\.1:\d+ .*long\.example\.org")
        assert "Traceback" not in server.log


def test_first_forwarded_answer_is_capped_like_the_cached_ones(start_server) -> None:
    with upstream("capped.example. 86400 IN A 192.0.2.7", negative_ttl=60) as up:
        server = serve(start_server, up.address, extra=(*FAST, "--cache-max-ttl", "3600"))
        first, second = (server.query("capped.example", "A") for _ in range(2))
        assert first.answer[0].ttl == 3600 and 3598 <= second.answer[0].ttl <= 3600
        denials = [server.query("nope.capped.example", "A") for _ in range(2)]
        # The SOA's TTL (3600) is above its MINIMUM (60): the denial holds 60 s, and says so.
        assert denials[0].authority[0].ttl == 60
        assert 58 <= denials[1].authority[0].ttl <= 60


def chain_with_strangers(query: bytes) -> bytes:
    """www.example.org's CNAME chain, with records for other names in every section."""
    reply = DNSRecord.parse(query).reply()
    for line in ("www.example.org. 300 IN CNAME web.example.org.",
                 "web.example.org. 300 IN A 192.0.2.80",
                 "www.victim.com. 300 IN A 6.6.6.6"):  # a name nobody asked for
        reply.add_answer(*RR.fromZone(line))
    for line in ("com. 300 IN NS ns.evil.com.", "example.org. 300 IN NS ns.example.org."):
        reply.add_auth(*RR.fromZone(line))
    for line in ("ns.evil.com. 300 IN A 6.6.6.6", "mail.victim.com. 300 IN A 6.6.6.6",
                 "ns.example.org. 300 IN A 192.0.2.53"):
        reply.add_ar(*RR.fromZone(line))
    return bytes(reply.pack())


def test_records_outside_the_answer_chain_are_dropped(start_server) -> None:
    with upstream(respond_with=chain_with_strangers) as up:
        server = serve(start_server, up.address)
        for _ in range(2):  # from the upstream, then from the cache
            reply = server.query("WWW.example.org", "A")
            assert rrset_values(reply) == {"www.example.org. CNAME web.example.org.",
                                           "web.example.org. A 192.0.2.80"}
            assert rrset_values(reply, "authority") == {"example.org. NS ns.example.org."}
            assert rrset_values(reply, "additional") == {"ns.example.org. A 192.0.2.53"}
        assert up.count("www.example.org") == 1


BIG = tuple(f"big.example.org. 300 IN A 10.{i // 250}.{i % 250}.1" for i in range(4000))


def tcp_exchange(server: ServerProcess, name: str) -> bytes:
    """The raw reply to an A query over TCP, read but not parsed (parsing 4,000 records
    takes dnspython longer than the server needs to answer)."""
    query = dns.message.make_query(name, "A").to_wire()
    with socket.create_connection((server.host, server.port), timeout=5) as sock:
        sock.sendall(struct.pack("!H", len(query)) + query)
        data = b""
        while len(data) < 2 or len(data) < 2 + struct.unpack("!H", data[:2])[0]:
            chunk = sock.recv(65535)
            assert chunk
            data += chunk
    return data[2:]


def test_a_cached_64k_answer_is_not_packed_again_on_every_hit(start_server) -> None:
    with upstream(*BIG) as up:
        server = serve(start_server, up.address)
        first = dns.message.from_wire(tcp_exchange(server, "big.example.org"))
        assert len(first.answer[0]) > 3000
        timings = []
        for _ in range(5):
            started = time.monotonic()
            reply = tcp_exchange(server, "big.example.org")
            timings.append(time.monotonic() - started)
            assert len(reply) > 50_000 and struct.unpack("!H", reply[6:8])[0] > 3000
        assert up.count("big.example.org") == 1
        assert sorted(timings)[2] < 0.02, timings
