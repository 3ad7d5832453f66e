"""Shared test helpers: the real server as a subprocess on a free loopback port."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import dns.message
import dns.query
import dns.rdatatype
import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "manifests"
FIXTURES = Path(__file__).resolve().parent / "manifests"
_READY = re.compile(r"serving \S+ .* on (?P<addrs>.+) \(udp\+tcp\)")
# A server turns every exception on the answer path into SERVFAIL and goes on, so a bug
# shows only in its log: these lines fail the test that started it, unless it expects them.
BUG_IN_LOG = re.compile(r"Traceback \(most recent call last\)|answering .* failed|"
                        r"forwarding .* failed|reload failed")


class ServerProcess:
    """`clusterdns serve` in a subprocess; its log is collected as it runs.

    `serve` gets `--upstream none` unless the test names its upstreams: the machine's
    resolv.conf may point off the host, and no test may ever forward there.
    """

    def __init__(self, args: list[str], env: dict[str, str] | None = None,
                 allow_errors: bool = False) -> None:
        if args[:1] == ["serve"] and "--upstream" not in args:
            args = [*args, "--upstream", "none"]
        self.args = args
        self.allow_errors = allow_errors
        self.lines: list[str] = []
        self.host = ""
        self.port = 0
        self.addresses: list[tuple[str, int]] = []
        self._ready = threading.Event()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "clusterdns", *args],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT,
            env={**os.environ, **(env or {})},
        )
        threading.Thread(target=self._read, daemon=True).start()
        if not self._ready.wait(15) or not self.addresses:
            self.stop()
            raise RuntimeError("server did not start:\n" + self.log)
        self.host, self.port = self.addresses[0]

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))
            match = _READY.search(line)
            if match:
                for addr in match["addrs"].split(", "):
                    host, _, port = addr.rpartition(":")
                    self.addresses.append((host.strip("[]"), int(port)))
                self._ready.set()
        self._ready.set()

    @property
    def log(self) -> str:
        return "\n".join(self.lines)

    def lines_matching(self, pattern: str) -> list[str]:
        """Every log line so far that matches `pattern`."""
        regex = re.compile(pattern)
        return [line for line in list(self.lines) if regex.search(line)]

    def wait_for_log(self, pattern: str, timeout: float = 5.0) -> str:
        """The first log line matching `pattern`, waiting for it to appear."""
        deadline = time.monotonic() + timeout
        regex = re.compile(pattern)
        while time.monotonic() < deadline:
            for line in list(self.lines):
                if regex.search(line):
                    return line
            time.sleep(0.02)
        raise AssertionError(f"no log line matching {pattern!r} in:\n{self.log}")

    def url(self, path: str) -> str:
        """Where the server answers `path` (/health, /ready, /metrics), from its log."""
        line = self.wait_for_log(rf"answering .*{path}\b.* on http://")
        return line.rsplit(" on ", 1)[1] + path

    def query(self, name: str, rdtype: str | int = "A", tcp: bool = False,
              use_edns: int | bool = False, payload: int = 1232,
              timeout: float = 2.0) -> dns.message.Message:
        request = dns.message.make_query(name, rdtype, use_edns=use_edns, payload=payload)
        send = dns.query.tcp if tcp else dns.query.udp
        return send(request, self.host, port=self.port, timeout=timeout)

    def stop(self) -> int:
        """SIGTERM (then SIGKILL) the server; fails if its log shows a bug (BUG_IN_LOG)."""
        code = terminate(self.proc)
        if not self.allow_errors:
            bugs = self.lines_matching(BUG_IN_LOG.pattern)
            assert not bugs, "the server logged a bug:\n" + self.log
        return code


def terminate(proc: subprocess.Popen) -> int:
    """SIGTERM a process we started (SIGKILL after 10 s); its exit status."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


@pytest.fixture(autouse=True, scope="session")
def session_state(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Servers shared by a module start before any test's own state folder is set up:
    they keep theirs here, never in the developer's ~/.local/state."""
    folder = tmp_path_factory.mktemp("session-state")
    before = os.environ.get("XDG_STATE_HOME")
    os.environ["XDG_STATE_HOME"] = str(folder)
    yield folder
    if before is None:
        del os.environ["XDG_STATE_HOME"]
    else:
        os.environ["XDG_STATE_HOME"] = before


@pytest.fixture(autouse=True)
def private_state(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
                  ) -> Path:
    """Every test keeps its state files (derived addresses, serial) to itself: a state
    file left by another test or by a developer's own runs would change addresses."""
    folder = tmp_path_factory.mktemp("state")
    monkeypatch.setenv("XDG_STATE_HOME", str(folder))
    return folder


@pytest.fixture
def start_server() -> Iterator:
    """Start servers with given CLI args (after `serve`); all are stopped at teardown."""
    started: list[ServerProcess] = []

    def start(*args: str, listen: str = "127.0.0.1:0", env: dict[str, str] | None = None,
              allow_errors: bool = False) -> ServerProcess:
        extra = [] if "--listen" in args else ["--listen", listen]
        server = ServerProcess(["serve", *args, *extra], env=env, allow_errors=allow_errors)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture(scope="module")
def example_server() -> Iterator[ServerProcess]:
    """One server on the article's manifests, shared by a test module."""
    server = ServerProcess(["serve", "--manifests", str(EXAMPLES), "--listen", "127.0.0.1:0"])
    yield server
    server.stop()


def dig(server: ServerProcess, *args: str) -> str:
    """Run Debian's dig against `server` and return its output."""
    if not shutil.which("dig"):
        pytest.fail("dig is missing: `make test` installs bind9-dnsutils")
    command = ["dig", f"@{server.host}", "-p", str(server.port), "+time=2", "+tries=1", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=20).stdout


def records_in_order(message: dns.message.Message, section: str = "answer") -> tuple[str, ...]:
    """`name TTL TYPE rdata` strings of one section, in the order they came."""
    return tuple(f"{rrset.name.to_text().lower()} {rrset.ttl} "
                 f"{dns.rdatatype.to_text(rrset.rdtype)} {rdata.to_text()}"
                 for rrset in getattr(message, section) for rdata in rrset)


def rrset_values(message: dns.message.Message, section: str = "answer") -> set[str]:
    """`name TYPE rdata` strings of one section, for set comparisons."""
    out = set()
    for rrset in getattr(message, section):
        for rdata in rrset:
            out.add(f"{rrset.name.to_text().lower()} {dns.rdatatype.to_text(rrset.rdtype)} "
                    f"{rdata.to_text()}")
    return out
