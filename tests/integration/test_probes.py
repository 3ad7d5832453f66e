"""/health and /ready through start-up, a broken manifest, and a SIGTERM with lameduck."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import dns.message
import dns.query
import dns.rcode

from tests.conftest import EXAMPLES, ROOT, ServerProcess

IN_ZONE = "service1.default.svc.cluster.local"


def probe(url: str) -> tuple[int, str]:
    """Status and body of a GET, 5xx included."""
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def test_ready_says_503_until_the_zone_is_loaded(tmp_path: Path) -> None:
    """The manifests come from standard input, held open: start-up lasts until it closes."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "clusterdns", "serve", "--manifests", "-", "--listen",
         "127.0.0.1:0", "--upstream", "none", "--health", "127.0.0.1:0", "--ready",
         "127.0.0.1:0"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        cwd=ROOT, env={**os.environ, "XDG_STATE_HOME": str(tmp_path)})
    assert proc.stdin is not None and proc.stdout is not None
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(proc.stdout or ()), daemon=True).start()
    try:
        urls: dict[str, str] = {}
        deadline = time.monotonic() + 10
        while len(urls) < 2:
            assert time.monotonic() < deadline, "".join(lines)
            for line in list(lines):
                found = re.search(r"answering (.+) on (http://\S+)", line)
                if found:  # both on one address, as they were given the same
                    urls.update((path, found[2] + path) for path in found[1].split())
            time.sleep(0.05)
        assert probe(urls["/health"]) == (200, "OK")
        assert probe(urls["/ready"]) == (503, "kubernetes")
        time.sleep(0.3)
        assert probe(urls["/ready"]) == (503, "kubernetes")  # still loading: stdin is open
        proc.stdin.write((EXAMPLES / "service1.yaml").read_text())
        proc.stdin.close()
        deadline = time.monotonic() + 10
        while probe(urls["/ready"]) != (200, "OK"):
            assert time.monotonic() < deadline, "".join(lines)
            time.sleep(0.05)
        assert any("clusterdns serving" in line for line in lines)
        assert probe(urls["/health"]) == (200, "OK")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(10)


def test_a_broken_manifest_stays_ready_and_shows_stale_in_metrics(start_server,
                                                                  tmp_path: Path) -> None:
    folder = tmp_path / "manifests"
    folder.mkdir()
    (folder / "svc.yaml").write_text((EXAMPLES / "service1.yaml").read_text())
    server = start_server("--manifests", str(folder), "--ready", "127.0.0.1:0",
                          "--metrics", "127.0.0.1:0")
    ready, metrics = server.url("/ready"), server.url("/metrics")
    assert probe(ready) == (200, "OK")
    assert "clusterdns_zone_stale 0\n" in probe(metrics)[1]
    (folder / "broken.yaml").write_text("kind: Service\nmetadata: {name: [oops\n")
    server.wait_for_log(r"zone stale: 1 problem")
    assert probe(ready) == (200, "OK")
    text = probe(metrics)[1]
    assert "clusterdns_zone_stale 1\n" in text
    assert "clusterdns_manifest_problems 1\n" in text
    assert "coredns_reload_failed_total 1\n" in text
    assert server.query(IN_ZONE).rcode() == dns.rcode.NOERROR  # the last good zone answers


def test_sigterm_with_lameduck_turns_ready_off_at_once_and_keeps_answering(
        start_server) -> None:
    server: ServerProcess = start_server("--manifests", str(EXAMPLES), "--lameduck", "2",
                                         "--health", "127.0.0.1:0", "--ready", "127.0.0.1:0")
    health, ready = server.url("/health"), server.url("/ready")
    assert probe(ready) == (200, "OK")
    server.proc.send_signal(signal.SIGTERM)
    started = time.monotonic()
    server.wait_for_log(r"going into lameduck mode for 2s")
    assert probe(ready) == (503, "Shutting down")
    assert probe(health) == (200, "OK")
    request = dns.message.make_query(IN_ZONE, "A")
    for tcp in (False, True):
        send = dns.query.tcp if tcp else dns.query.udp
        assert send(request, server.host, port=server.port, timeout=2).answer
    assert server.proc.poll() is None and time.monotonic() - started < 1.5
    assert server.proc.wait(10) == 0
    assert time.monotonic() - started >= 1.9
