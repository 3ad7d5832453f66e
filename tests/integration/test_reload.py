"""Live reload against the real server: files change on disk the ways editors, `sed -i`,
`kubectl cp` and a ConfigMap volume change them, and the answers follow within a second
without a query lost or answered wrong."""

from __future__ import annotations

import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import dns.rcode
import pytest

from tests.conftest import ServerProcess

SERVICE = ("apiVersion: v1\nkind: Service\nmetadata: {name: %s, namespace: default%s}\n"
           "spec: {clusterIP: %s, ports: [{port: 80}]}\n")
VISIBLE_WITHIN = 1.0  # seconds from a file change to the new answer


def service(name: str, ip: str, note: str = "") -> str:
    """A Service manifest; `note` adds a label that changes the file but not the answer."""
    return SERVICE % (name, f", labels: {{note: {note}}}" if note else "", ip)


def fqdn(name: str) -> str:
    return f"{name}.default.svc.cluster.local"


def answer_of(server: ServerProcess, name: str) -> str:
    """The A record's address, or the rcode's name when there is none."""
    reply = server.query(fqdn(name), timeout=1.0)
    if reply.rcode() != dns.rcode.NOERROR or not reply.answer:
        return dns.rcode.to_text(reply.rcode())
    return reply.answer[0][0].address


def wait_for(server: ServerProcess, name: str, expected: str,
             within: float = VISIBLE_WITHIN) -> float:
    """Poll until `name` answers `expected`; return how long that took after the change."""
    started = time.monotonic()
    seen = ""
    while time.monotonic() - started < within:
        seen = answer_of(server, name)
        if seen == expected:
            return time.monotonic() - started
        time.sleep(0.01)
    raise AssertionError(f"{name} still answers {seen}, not {expected}, after {within} s:\n"
                         + "\n".join(server.lines[-20:]))


def replace_atomically(path: Path, text: str) -> None:
    """What vim (writebackup) and `sed -i` do: write a temporary file, rename it over."""
    temporary = path.parent / f"sed{os.getpid()}x"
    temporary.write_text(text)
    os.replace(temporary, path)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    path = tmp_path / "manifests"
    path.mkdir()
    (path / "a.yaml").write_text(service("a", "10.96.0.1"))
    return path


def test_every_way_a_folder_changes_is_seen(folder: Path, start_server: Callable) -> None:
    server = start_server("--manifests", str(folder))
    assert answer_of(server, "a") == "10.96.0.1"

    (folder / "b.yaml").write_text(service("b", "10.96.0.2"))  # a new file
    wait_for(server, "b", "10.96.0.2")

    (folder / "a.yaml").write_text(service("a", "10.96.0.3"))  # in place
    wait_for(server, "a", "10.96.0.3")

    replace_atomically(folder / "a.yaml", service("a", "10.96.0.4"))
    wait_for(server, "a", "10.96.0.4")

    (folder / "b.yaml").unlink()  # a deleted file
    wait_for(server, "b", "NXDOMAIN")

    (folder / "a.yaml").unlink()  # deleted and written again, as some editors save
    (folder / "a.yaml").write_text(service("a", "10.96.0.5"))
    wait_for(server, "a", "10.96.0.5")

    (folder / "team" / "deeper").mkdir(parents=True)  # a new subfolder, then a file in it
    (folder / "team" / "deeper" / "c.yml").write_text(service("c", "10.96.0.6"))
    wait_for(server, "c", "10.96.0.6")
    (folder / "team" / "deeper" / "c.yml").write_text(service("c", "10.96.0.7"))
    wait_for(server, "c", "10.96.0.7")

    shutil.rmtree(folder / "team")  # a deleted subfolder
    wait_for(server, "c", "NXDOMAIN")
    assert "reload: services +0 -1 ~0, pods +0 -0 ~0, endpoints +0 -0 ~0; " in server.log


def test_a_watched_folder_replaced_or_made_again_is_watched_again(
        folder: Path, start_server: Callable) -> None:
    server = start_server("--manifests", str(folder))
    staged = folder.parent / "manifests.new"  # a deploy that swaps whole folders
    staged.mkdir()
    (staged / "a.yaml").write_text(service("a", "10.96.0.2"))
    folder.rename(folder.parent / "manifests.old")
    staged.rename(folder)
    wait_for(server, "a", "10.96.0.2")
    (folder / "a.yaml").write_text(service("a", "10.96.0.3"))  # the new folder is watched
    wait_for(server, "a", "10.96.0.3")

    shutil.rmtree(folder)
    server.wait_for_log(rf"manifest error: {folder}: cannot read")
    assert answer_of(server, "a") == "10.96.0.3"
    folder.mkdir()
    (folder / "a.yaml").write_text(service("a", "10.96.0.4"))
    wait_for(server, "a", "10.96.0.4")
    (folder / "a.yaml").write_text(service("a", "10.96.0.5"))
    wait_for(server, "a", "10.96.0.5")


def test_a_single_file_survives_atomic_renames(folder: Path, start_server: Callable) -> None:
    path = folder / "a.yaml"
    server = start_server("--manifests", str(path))
    for last in range(2, 5):  # the watch must outlive the inode it started with
        replace_atomically(path, service("a", f"10.96.0.{last}"))
        wait_for(server, "a", f"10.96.0.{last}")
    path.write_text(service("a", "10.96.0.9"))
    wait_for(server, "a", "10.96.0.9")
    (folder / "other.yaml").write_text(service("other", "10.96.0.10"))  # not what we serve
    assert answer_of(server, "other") == "NXDOMAIN"


class ConfigMapVolume:
    """A folder laid out as the kubelet mounts a ConfigMap, updated as it updates one.

    Files live in a timestamped hidden folder, `..data` points at it, and each visible
    name is a symlink through `..data`; an update writes a new folder and swaps `..data`
    with a rename, so every file changes at once.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self.version = 0
        root.mkdir(exist_ok=True)

    def publish(self, files: dict[str, str]) -> None:
        self.version += 1
        current = self.root / f"..2026_11_26_03_00_00.{self.version:09d}"
        current.mkdir()
        for name, text in files.items():
            (current / name).write_text(text)
        old = (self.root / "..data").resolve() if (self.root / "..data").exists() else None
        (self.root / "..data_tmp").symlink_to(current.name)
        os.replace(self.root / "..data_tmp", self.root / "..data")
        for name in files:
            if not (self.root / name).is_symlink():
                (self.root / name).symlink_to(f"..data/{name}")
        if old is not None:
            shutil.rmtree(old)


@pytest.mark.parametrize("watched", ["folder", "file"])
def test_a_configmap_volume_update_is_seen(tmp_path: Path, start_server: Callable,
                                           watched: str) -> None:
    volume = ConfigMapVolume(tmp_path / "config")
    volume.publish({"svc.yaml": service("a", "10.96.0.1")})
    target = volume.root if watched == "folder" else volume.root / "svc.yaml"
    server = start_server("--manifests", str(target))
    assert answer_of(server, "a") == "10.96.0.1"
    for last in (2, 3):
        volume.publish({"svc.yaml": service("a", f"10.96.0.{last}")})
        wait_for(server, "a", f"10.96.0.{last}")


def test_a_broken_file_keeps_the_last_good_zone_until_fixed(
        folder: Path, start_server: Callable) -> None:
    server = start_server("--manifests", str(folder))
    (folder / "b.yaml").write_text(service("b", "10.96.0.2"))
    wait_for(server, "b", "10.96.0.2")

    half = service("b", "10.96.0.3")
    (folder / "b.yaml").write_text(half[: len(half) // 2])  # a half-written file
    (folder / "a.yaml").write_text(service("a", "10.96.0.300"))  # and a wrong field
    line = server.wait_for_log(r"zone stale: \d+ problem\(s\); serving the zone loaded at ")
    assert "zone stale: 2 problem(s)" in line, server.log
    server.wait_for_log(rf"manifest error: {folder}/a.yaml: document 1: spec.clusterIP: "
                        r"'10.96.0.300' is not an IP address")
    server.wait_for_log(rf"manifest error: {folder}/b.yaml: document 1: invalid YAML")
    assert answer_of(server, "a") == "10.96.0.1"
    assert answer_of(server, "b") == "10.96.0.2"

    (folder / "a.yaml").write_text(service("a", "10.96.0.4"))  # one fixed, one still broken
    server.wait_for_log(r"zone stale: 1 problem\(s\)")
    assert answer_of(server, "a") == "10.96.0.1"

    (folder / "b.yaml").write_text(half)
    wait_for(server, "a", "10.96.0.4")
    assert answer_of(server, "b") == "10.96.0.3"
    server.wait_for_log(r"reload: services \+0 -0 ~2, .*; \d+ records; [\d.]+ ms \(was stale\)")


def test_sighup_reloads_when_watching_is_off(folder: Path, start_server: Callable) -> None:
    server = start_server("--manifests", str(folder), "--no-watch")
    (folder / "a.yaml").write_text(service("a", "10.96.0.2"))
    time.sleep(0.5)  # what a watcher would have needed; nothing may happen here
    assert answer_of(server, "a") == "10.96.0.1"
    assert "reload" not in server.log
    server.proc.send_signal(signal.SIGHUP)
    wait_for(server, "a", "10.96.0.2")


# Asks one name QUESTIONS times, once each (no retry), paced over about SECONDS, and
# prints how many went unanswered or were answered wrong.
CLIENT = r"""
import json, socket, sys, time
import dns.message, dns.rcode
host, port, name, expected, count, seconds = sys.argv[1:7]
count, seconds = int(count), float(seconds)
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.settimeout(1.0)
lost = wrong = 0
slowest = 0.0
problems = []
start = time.monotonic()
for i in range(count):
    pause = start + i * seconds / count - time.monotonic()
    if pause > 0:
        time.sleep(pause)
    query = dns.message.make_query(name, "A")
    sent = time.monotonic()
    sock.sendto(query.to_wire(), (host, int(port)))
    try:
        while True:  # a late reply to an earlier question is not this one's answer
            reply = dns.message.from_wire(sock.recv(4096))
            if reply.id == query.id:
                break
    except TimeoutError:
        lost += 1
        continue
    slowest = max(slowest, time.monotonic() - sent)
    addresses = [r.address for rrset in reply.answer for r in rrset]
    if reply.rcode() != dns.rcode.NOERROR or addresses != [expected]:
        wrong += 1
        problems.append(f"{dns.rcode.to_text(reply.rcode())} {addresses}")
print(json.dumps({"asked": count, "lost": lost, "wrong": wrong, "slowest": slowest,
                  "seconds": time.monotonic() - start, "problems": problems[:5]}))
"""


def test_no_question_is_lost_or_answered_wrong_while_files_change(
        folder: Path, start_server: Callable) -> None:
    (folder / "steady.yaml").write_text(service("steady", "10.96.0.100"))
    server = start_server("--manifests", str(folder))
    client = subprocess.Popen(
        [sys.executable, "-c", CLIENT, server.host, str(server.port), fqdn("steady"),
         "10.96.0.100", "12000", "10"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    latencies = []
    try:
        for step in range(20):
            name = f"extra{step}"
            kind = step % 4
            if kind == 0:  # another service added
                (folder / f"{name}.yaml").write_text(service(name, f"10.97.1.{step}"))
                latencies.append(wait_for(server, name, f"10.97.1.{step}"))
            elif kind == 1:  # the last one removed again
                (folder / f"extra{step - 1}.yaml").unlink()
                latencies.append(wait_for(server, f"extra{step - 1}", "NXDOMAIN"))
            elif kind == 2:  # the steady name's own file, rewritten with the same answer
                replace_atomically(folder / "steady.yaml",
                                   service("steady", "10.96.0.100", note=f"r{step}"))
                (folder / "a.yaml").write_text(service("a", f"10.97.2.{step}"))
                latencies.append(wait_for(server, "a", f"10.97.2.{step}"))
            else:  # many services in one new file
                (folder / f"{name}.yaml").write_text("---\n".join(
                    service(f"{name}-{i}", f"10.98.{step}.{i}") for i in range(1, 51)))
                latencies.append(wait_for(server, f"{name}-50", f"10.98.{step}.50"))
        out, err = client.communicate(timeout=30)
    finally:
        if client.poll() is None:
            client.kill()
            client.wait()
    assert client.returncode == 0, err
    result = json.loads(out)
    reloads = server.log.count("reload: services")
    print(f"\n{result['asked']} questions in {result['seconds']:.1f} s: {result['lost']} lost, "
          f"{result['wrong']} wrong, slowest {result['slowest'] * 1000:.1f} ms; "
          f"{reloads} reloads; file write to new answer: "
          f"median {statistics.median(latencies) * 1000:.0f} ms, "
          f"max {max(latencies) * 1000:.0f} ms")
    assert result["lost"] == 0 and result["wrong"] == 0, result
    assert result["asked"] >= 10000
    assert reloads >= 20


def test_sigterm_during_a_long_reload_stops_at_once(start_server, tmp_path: Path) -> None:
    """The reload runs in a thread the exit does not wait for: stopping never waits for
    a slow build, or a read stuck in the kernel."""
    folder = tmp_path / "manifests"
    folder.mkdir()
    (folder / "a.yaml").write_text(service("a", "10.96.0.1"))
    server = start_server("--manifests", str(folder))
    big = "---\n".join(service(f"s{i}", f"10.{97 + i // 60000}.{i // 250 % 240}.{i % 250 + 1}")
                       for i in range(30_000))
    (folder / "big.yaml").write_text(big)  # several seconds of loading and building
    time.sleep(0.5)  # past the quiet period: the reload is under way
    assert not server.lines_matching(r"reload: services")
    started = time.monotonic()
    assert server.stop() == 0
    assert time.monotonic() - started < 1.5
