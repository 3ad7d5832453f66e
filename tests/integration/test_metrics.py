"""/metrics scraped by a real Prometheus (Debian's), and checked by promtool.

One Prometheus per module, on loopback, scraping one clusterdns every second; it is
stopped by its PID, and keeps its data in the module's temporary folder.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import dns.message
import dns.query
import pytest

from clusterdns.ops.metrics import SAMPLE_MIN, SAMPLE_WAIT
from tests.conftest import EXAMPLES, ServerProcess, terminate
from tests.upstream_server import upstream

IN_ZONE = "service1.default.svc.cluster.local"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def fetch(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.read().decode()


def series_sum(text: str, name: str) -> float:
    """The sum of every series of `name` in an exposition."""
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith(name + "{") or line.startswith(name + " "))


class Prometheus:
    """`prometheus` scraping `target` every second, until `stop()`."""

    def __init__(self, target: str, folder: Path) -> None:
        binary = shutil.which("prometheus")
        if binary is None:
            pytest.fail("prometheus is missing: `make test` installs Debian's prometheus")
        config = folder / "prometheus.yml"
        config.write_text(
            "global: {scrape_interval: 1s, scrape_timeout: 1s}\n"
            "scrape_configs:\n"
            f"  - job_name: clusterdns\n    static_configs: [{{targets: ['{target}']}}]\n")
        self.address = f"127.0.0.1:{free_port()}"
        self.proc = subprocess.Popen(
            [binary, f"--config.file={config}", f"--storage.tsdb.path={folder / 'data'}",
             f"--web.listen-address={self.address}", "--log.level=warn"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                fetch(f"http://{self.address}/-/ready")
                return
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("prometheus did not start")

    def value(self, query: str) -> float | None:
        """The one value of an instant `query`, None when it has no series."""
        url = f"http://{self.address}/api/v1/query?" + urllib.parse.urlencode({"query": query})
        result = json.loads(fetch(url))["data"]["result"]
        return float(result[0]["value"][1]) if result else None

    def stop(self) -> None:
        terminate(self.proc)


@pytest.fixture(scope="module")
def scraped(tmp_path_factory: pytest.TempPathFactory
            ) -> Iterator[tuple[ServerProcess, Prometheus]]:
    with upstream("example.org. 300 IN A 192.0.2.80") as up:
        server = ServerProcess(["serve", "--manifests", str(EXAMPLES), "--listen",
                                "127.0.0.1:0", "--metrics", "127.0.0.1:0", "--upstream",
                                up.address])
        target = server.url("/metrics").removeprefix("http://").removesuffix("/metrics")
        prometheus = Prometheus(target, tmp_path_factory.mktemp("prometheus"))
        yield server, prometheus
        prometheus.stop()
        server.stop()


def stored_hits(server: ServerProcess) -> float:
    return series_sum(fetch(server.url("/metrics")), "clusterdns_stored_reply_hits_total")


def send_mixed_queries(server: ServerProcess) -> int:
    """Stored replies, most of them sent by the fast path, TCP, NXDOMAIN, EDNS, forwarded,
    a cache hit and a FORMERR; the number of queries sent.

    A sampling window is open when the server starts and closes once it has counted
    SAMPLE_MIN stored replies in full; then the fast path serves for a second.
    """
    query = dns.message.make_query(IN_ZONE, "A")
    for _ in range(SAMPLE_MIN + 50):
        dns.query.udp(query, server.host, port=server.port, timeout=2)
    time.sleep(2 * SAMPLE_WAIT)  # the window closes
    sent = SAMPLE_MIN + 50
    before = stored_hits(server)
    for index in range(40):
        query = dns.message.make_query(IN_ZONE, "A", use_edns=0 if index % 2 else False)
        dns.query.udp(query, server.host, port=server.port, timeout=2)
        sent += 1
    assert stored_hits(server) - before >= 38  # the first of each form is computed
    for name in (IN_ZONE, "nope.default.svc.cluster.local", "example.org", "example.org"):
        server.query(name, "A", tcp=name == IN_ZONE)
        sent += 1
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as raw:
        raw.settimeout(2)
        raw.sendto(b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x03abc", (server.host,
                                                                                 server.port))
        assert raw.recv(512)[3] & 0xF == 1  # FORMERR, and counted like any reply
        sent += 1
    return sent


def test_prometheus_sees_requests_rise_by_exactly_the_queries_sent(scraped) -> None:
    server, prometheus = scraped
    deadline = time.monotonic() + 15
    while prometheus.value('up{job="clusterdns"}') != 1.0:
        assert time.monotonic() < deadline, "prometheus never scraped clusterdns"
        time.sleep(0.2)
    before = prometheus.value("sum(coredns_dns_requests_total)") or 0.0
    sent = send_mixed_queries(server)
    deadline = time.monotonic() + 15
    while prometheus.value("sum(coredns_dns_requests_total)") != before + sent:
        assert time.monotonic() < deadline, (
            f"requests went from {before} to {prometheus.value('sum(coredns_dns_requests_total)')}"
            f" after {sent} queries")
        time.sleep(0.2)
    time.sleep(2.5)  # two more scrapes: nothing is counted twice, late or by the scrapes
    assert prometheus.value("sum(coredns_dns_requests_total)") == before + sent
    assert prometheus.value("sum(coredns_dns_responses_total)") == before + sent
    assert prometheus.value('sum(coredns_dns_requests_total{proto="tcp"})') == 1
    assert prometheus.value('sum(coredns_dns_responses_total{rcode="FORMERR",'
                            'zone="dropped"})') == 1
    assert prometheus.value('sum(coredns_cache_hits_total{type="success"})') == 1
    assert prometheus.value("sum(coredns_dns_request_duration_seconds_count)") == before + sent


def test_promtool_accepts_the_live_exposition(scraped) -> None:
    server, _ = scraped
    send_mixed_queries(server)
    text = fetch(server.url("/metrics"))
    for family in ("coredns_dns_requests_total", "coredns_dns_responses_total",
                   "coredns_dns_request_duration_seconds_bucket", "coredns_cache_entries",
                   "coredns_proxy_request_duration_seconds_bucket", "clusterdns_zone_records",
                   "process_resident_memory_bytes", "coredns_reload_failed_total"):
        assert f"\n{family}" in text, family
    checked = subprocess.run(["promtool", "check", "metrics"], input=text, text=True,
                             capture_output=True, timeout=20)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_workers_show_one_sum(start_server) -> None:
    server = start_server("--manifests", str(EXAMPLES), "--workers", "2", "--metrics",
                          "127.0.0.1:0")
    url = server.url("/metrics")
    query = dns.message.make_query(IN_ZONE, "A")
    for _ in range(64):  # fresh source ports, so the kernel spreads them over both workers
        dns.query.udp(query, server.host, port=server.port, timeout=2)
    assert series_sum(fetch(url), "coredns_dns_requests_total") == 64
    for _ in range(6):
        dns.query.udp(query, server.host, port=server.port, timeout=2)
    assert series_sum(fetch(url), "coredns_dns_requests_total") == 70
