"""The processes a benchmark starts: servers, a CPU hog, and how to read what they cost.

Every process is started here and stopped here by its PID (and those of its children),
never by name, so a benchmark cannot touch a dnsmasq or clusterdns it did not start.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TypeVar

import dnslib

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    """A port free for both UDP and TCP on loopback right now (the servers bind both)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind(("127.0.0.1", 0))
            port = udp.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
                try:
                    tcp.bind(("127.0.0.1", port))
                except OSError:
                    continue
                return int(port)
    raise OSError("no free UDP+TCP port on 127.0.0.1")


def _stat_fields(pid: int) -> list[str]:
    """/proc/PID/stat from field 3 on; the command name before it may contain spaces."""
    text = Path(f"/proc/{pid}/stat").read_text()
    return text[text.rindex(")") + 2:].split()


def _start_time(pid: int) -> int | None:
    with contextlib.suppress(OSError, ValueError, IndexError):
        return int(_stat_fields(pid)[19])
    return None


def descendants(pid: int) -> list[int]:
    """Live children, grandchildren, ... of `pid` (worker processes of a server)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        with contextlib.suppress(OSError, ValueError, IndexError):
            children.setdefault(int(_stat_fields(int(entry))[1]), []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def cpu_seconds(pids: Iterable[int]) -> float:
    """utime + stime of the live processes `pids` (all their threads), in seconds."""
    ticks = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            fields = _stat_fields(pid)
            ticks += int(fields[11]) + int(fields[12])
    return ticks / CLOCK_TICKS


def memory_mib(pids: Iterable[int], field: str = "VmHWM") -> float:
    """Sum of a /proc/PID/status memory field over `pids`, in MiB: VmHWM is the peak
    resident set, VmRSS the resident set now."""
    kib = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith(f"{field}:"):
                    kib += int(line.split()[1])
    return kib / 1024


def answers(port: int, name: str, qtype: str = "A", timeout: float = 0.5) -> tuple[int, set[str]]:
    """(rcode, answer rdata) from 127.0.0.1:`port` over UDP; raises on timeout."""
    query = dnslib.DNSRecord.question(name, qtype)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        sock.sendto(query.pack(), ("127.0.0.1", port))
        while True:
            reply = dnslib.DNSRecord.parse(sock.recv(65535))
            if reply.header.id == query.header.id:
                rtype = dnslib.QTYPE.reverse[qtype]
                return reply.header.rcode, {str(rr.rdata) for rr in reply.rr if rr.rtype == rtype}


class Process:
    """One started process with its log file; stop() is safe to call more than once."""

    def __init__(self, name: str, argv: list[str], log: Path) -> None:
        self.name = name
        self.argv = argv
        self.log = log
        # A clusterdns keeps its state file (derived addresses, serial) beside the log, not
        # in the user's ~/.local/state, so no run leaves one behind or reads an old one.
        env = {**os.environ, "XDG_STATE_HOME": str(log.parent / f"{log.stem}-state")}
        with log.open("wb") as out:
            self.popen = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT,
                                          stdin=subprocess.DEVNULL, env=env)

    @property
    def pid(self) -> int:
        """The process's own PID (taskset execs the command, so it is the server's)."""
        return self.popen.pid

    def tree(self) -> list[int]:
        """This process and its live descendants, for CPU and memory sums."""
        return [self.pid, *descendants(self.pid)] if self.popen.poll() is None else []

    def log_tail(self, lines: int = 15) -> str:
        """The end of the process's output, to show why it failed."""
        text = self.log.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])

    def stop(self) -> None:
        """SIGTERM the process (then SIGKILL), and kill any child it left behind, by PID."""
        if self.popen.poll() is not None:
            return
        leftovers = {pid: _start_time(pid) for pid in descendants(self.pid)}
        self.popen.send_signal(signal.SIGTERM)
        try:
            self.popen.wait(5)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait(5)
        for pid, started in leftovers.items():
            # The start time tells our orphan from a new process that reused its PID.
            if started is not None and _start_time(pid) == started:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)


class Server(Process):
    """A DNS server process listening on 127.0.0.1:`port`."""

    def __init__(self, name: str, argv: list[str], log: Path, port: int) -> None:
        super().__init__(name, argv, log)
        self.port = port

    def wait_ready(self, probe: str, timeout: float = 60.0, answered: bool = True) -> float:
        """Seconds until `probe` gets an A answer (any NOERROR reply if not `answered`,
        for the echo control); the benchmark must not load a server still reading its
        manifests."""
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            if self.popen.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.popen.returncode}:\n"
                                   f"{self.log_tail()}")
            # A probe sent before the server binds is lost without a word (no ICMP error
            # reaches an unconnected socket): short waits keep the figure within 30 ms.
            with contextlib.suppress(OSError, dnslib.DNSError):
                rcode, found = answers(self.port, probe, timeout=0.02)
                if rcode == 0 and (found or not answered):
                    return time.monotonic() - start
            time.sleep(0.01)
        raise RuntimeError(f"{self.name} did not answer {probe} within {timeout:.0f} s:\n"
                           f"{self.log_tail()}")


def pinned(core: int | None, argv: list[str]) -> list[str]:
    """`argv` run on one CPU core; taskset execs it, so the PID is the command's own."""
    return argv if core is None else ["taskset", "-c", str(core), *argv]


def busy_loop(core: int, seconds: float, log: Path) -> Process:
    """A process that spins on `core` for at most `seconds`: it takes about half of that
    core from the server there, so the server, not the load generator, is the bottleneck."""
    code = ("import time\nend = time.monotonic() + float(__import__('sys').argv[1])\n"
            "while time.monotonic() < end:\n    pass\n")
    return Process("busy-loop", pinned(core, [sys.executable, "-c", code, str(seconds)]), log)


P = TypeVar("P", bound="Process")


@contextlib.contextmanager
def running(process: P) -> Iterator[P]:
    """Stop `process` when the block ends, however it ends."""
    try:
        yield process
    finally:
        process.stop()
