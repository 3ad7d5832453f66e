"""`--workers N`: several processes answer on one address and reload together."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import dns.message
import dns.query

from tests.conftest import ServerProcess

SERVICE = """\
kind: Service
metadata: {{name: web}}
spec:
  clusterIP: {ip}
  ports: [{{port: 80}}]
"""
NAME = "web.default.svc.cluster.local"


def children(pid: int) -> list[int]:
    """PIDs whose parent is `pid`, read from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def udp_socket_owners(port: int, pids: list[int]) -> dict[int, int]:
    """Which of `pids` holds a UDP socket bound to `port`: socket inode -> pid."""
    inodes = set()
    for line in Path("/proc/net/udp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[1].split(":")[1], 16) == port:
            inodes.add(fields[9])
    owners = {}
    for pid in pids:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:[") and target[8:-1] in inodes:
                owners[int(target[8:-1])] = pid
    return owners


def answers_from_many_ports(server: ServerProcess, count: int = 64) -> set[str]:
    """Ask from `count` fresh client sockets, so the kernel spreads them over the workers."""
    seen = set()
    for _ in range(count):
        reply = dns.query.udp(dns.message.make_query(NAME, "A"), server.host, port=server.port,
                              timeout=2)
        seen.update(rdata.to_text() for rrset in reply.answer for rdata in rrset)
    return seen


def test_workers_share_the_address_and_reload_together(start_server, tmp_path: Path) -> None:
    manifest = tmp_path / "web.yaml"
    manifest.write_text(SERVICE.format(ip="10.96.0.10"))
    server = start_server("--manifests", str(tmp_path), "--workers", "2", "--no-watch")
    assert "2 workers" in server.wait_for_log("serving")
    workers = children(server.proc.pid)
    assert len(workers) == 1
    owners = udp_socket_owners(server.port, [server.proc.pid, *workers])
    assert sorted(owners.values()) == sorted([server.proc.pid, *workers])
    assert answers_from_many_ports(server) == {"10.96.0.10"}

    manifest.write_text(SERVICE.format(ip="10.96.0.20"))
    server.proc.send_signal(signal.SIGHUP)  # the parent passes it on to every worker
    deadline = time.monotonic() + 5
    while len(server.lines_matching("reload:")) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(server.lines_matching("reload:")) == 2, server.log
    assert answers_from_many_ports(server) == {"10.96.0.20"}

    assert server.stop() == 0
    for pid in workers:
        assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text()


def soa_serials(server: ServerProcess, count: int = 64) -> set[int]:
    """The SOA serials answered to `count` fresh client sockets, spread over the workers."""
    seen = set()
    for _ in range(count):
        reply = dns.query.udp(dns.message.make_query("cluster.local", "SOA"), server.host,
                              port=server.port, timeout=2)
        seen.add(reply.answer[0][0].serial)
    return seen


def rewrite(manifest: Path, ip: str) -> None:
    """New content with a modification time long past: the serial must rise by counting."""
    manifest.write_text(SERVICE.format(ip=ip))
    os.utime(manifest, (1_000_000_000, 1_000_000_000))


def wait_for_reloads(server: ServerProcess, count: int) -> None:
    deadline = time.monotonic() + 5
    while len(server.lines_matching("reload:")) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(server.lines_matching("reload:")) == count, server.log


def test_every_worker_numbers_the_same_zone_alike_whatever_versions_it_saw(
        start_server, tmp_path: Path) -> None:
    manifest = tmp_path / "web.yaml"
    rewrite(manifest, "10.96.0.10")
    server = start_server("--manifests", str(tmp_path), "--workers", "2", "--no-watch")
    server.wait_for_log("serving")
    (worker,) = children(server.proc.pid)
    (first,) = soa_serials(server)

    rewrite(manifest, "10.96.0.20")
    os.kill(worker, signal.SIGHUP)  # one worker sees this version, the other never does
    wait_for_reloads(server, 1)
    rewrite(manifest, "10.96.0.30")
    server.proc.send_signal(signal.SIGHUP)  # both reload to the same files
    wait_for_reloads(server, 3)
    assert answers_from_many_ports(server) == {"10.96.0.30"}
    (serial,) = soa_serials(server)
    assert serial > first

    assert server.stop() == 0
    again = start_server("--manifests", str(tmp_path), "--workers", "2", "--no-watch")
    assert soa_serials(again) == {serial}  # the state file kept what was served
