"""BIND and Knot as real secondaries of clusterdns, on loopback, for the transfer tests.

Each runs as the current user from a configuration written into the test's folder, with
its PID, zones and log there too, listens on 127.0.0.1 only, and is stopped by its own
PID. They take their zones from clusterdns at `primary` and accept NOTIFY from it.
"""

from __future__ import annotations

import abc
import shutil
import socket
import subprocess
import time
from pathlib import Path

import dns.exception
import dns.message
import dns.query
import dns.rcode
import pytest

from tests.conftest import terminate


def free_port() -> int:
    """A loopback port free for both UDP and TCP right now."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind(("127.0.0.1", 0))
            port = int(udp.getsockname()[1])
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
                try:
                    tcp.bind(("127.0.0.1", port))
                except OSError:
                    continue
                return port
    raise OSError("no free UDP+TCP port on 127.0.0.1")


def query(port: int, name: str, rdtype: str | int, timeout: float = 2.0
          ) -> dns.message.Message:
    """Ask 127.0.0.1:`port` over UDP."""
    return dns.query.udp(dns.message.make_query(name, rdtype), "127.0.0.1", port=port,
                         timeout=timeout)


def binary(name: str) -> str:
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")
    if not found:
        pytest.fail(f"{name} is missing: `make test` installs it (bind9, knot, dnsmasq-base)")
    return found


class Secondary(abc.ABC):
    """A secondary server process; `log` is what it wrote about its zones."""

    name = ""

    def __init__(self, folder: Path, primary: int, zones: tuple[str, ...],
                 port: int | None = None) -> None:
        self.folder = folder / self.name
        self.folder.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.primary = primary
        self.zones = zones
        self.log_path = self.folder / f"{self.name}.log"
        # In its own folder: named writes its early debug log (named.run) where it starts.
        with (self.folder / "stderr").open("wb") as stderr:
            self.proc = subprocess.Popen(self.command(), stdout=subprocess.DEVNULL,
                                         stderr=stderr, cwd=self.folder)

    @abc.abstractmethod
    def command(self) -> list[str]:
        """Write the configuration; the command line that starts the server with it."""

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def query(self, name: str, rdtype: str | int) -> dns.message.Message:
        return query(self.port, name, rdtype)

    def serial(self, zone: str) -> int | None:
        """The SOA serial the secondary serves for `zone`; None while it has none."""
        try:  # a short wait: a server still starting drops the question unanswered
            reply = query(self.port, zone, "SOA", timeout=0.2)
        except (dns.exception.Timeout, OSError):
            return None
        if reply.rcode() != dns.rcode.NOERROR or not reply.answer:
            return None
        return int(reply.answer[0][0].serial)

    def wait_for_serial(self, serial: int, timeout: float = 5.0) -> float:
        """Seconds until every zone is served at `serial`."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if self.proc.poll() is not None:
                raise AssertionError(f"{self.name} exited:\n{self.stderr()}\n{self.log}")
            if all(self.serial(zone) == serial for zone in self.zones):
                return time.monotonic() - started
            time.sleep(0.02)
        seen = {zone: self.serial(zone) for zone in self.zones}
        raise AssertionError(f"{self.name} serves {seen}, not serial {serial}, after "
                             f"{timeout} s:\n{self.log[-3000:]}")

    def stderr(self) -> str:
        return (self.folder / "stderr").read_text(errors="replace")

    def stop(self) -> None:
        terminate(self.proc)


class Bind(Secondary):
    """named from Debian's bind9; its xfer-in log at debug 3 says "got incremental
    response" for an IXFR answered with differences.

    With `zone_file` it is no secondary but the primary of that one zone file, as a user
    would serve what `clusterdns export` wrote.
    """

    name = "bind"

    def __init__(self, folder: Path, primary: int, zones: tuple[str, ...],
                 port: int | None = None, zone_file: Path | None = None) -> None:
        self.zone_file = zone_file
        super().__init__(folder, primary, zones, port)

    def command(self) -> list[str]:
        folder = self.folder
        zones = "".join(
            f'zone "{zone}" {{ type primary; file "{self.zone_file}"; }};\n'
            if self.zone_file else
            f'zone "{zone}" {{ type secondary; file "{folder}/{zone}db"; '
            f"primaries {{ 127.0.0.1 port {self.primary}; }}; }};\n" for zone in self.zones)
        config = folder / "named.conf"
        config.write_text(f"""\
options {{
    directory "{folder}";
    pid-file "{folder}/named.pid";
    session-keyfile "{folder}/session.key";
    managed-keys-directory "{folder}";
    listen-on port {self.port} {{ 127.0.0.1; }};
    listen-on-v6 {{ none; }};
    recursion no;
    dnssec-validation no;
    notify no;
}};
controls {{ }};
logging {{
    channel zones {{ file "{self.log_path}"; severity debug 3; print-time yes;
                     print-category yes; }};
    category default {{ zones; }};
    category xfer-in {{ zones; }};
    category notify {{ zones; }};
}};
{zones}""")
        return [binary("named"), "-f", "-4", "-d", "3", "-c", str(config)]


class Knot(Secondary):
    """knotd from Debian's knot; its log names each transfer "AXFR" or "IXFR"."""

    name = "knot"

    def command(self) -> list[str]:
        folder = self.folder
        zones = "".join(f"  - domain: {zone}\n    master: primary\n    acl: primary_notify\n"
                        for zone in self.zones)
        config = folder / "knot.conf"
        config.write_text(f"""\
server:
    rundir: "{folder}"
    pidfile: "{folder}/knot.pid"
    listen: 127.0.0.1@{self.port}
log:
  - target: "{self.log_path}"
    any: info
database:
    storage: "{folder}"
control:
    listen: "{folder}/knot.sock"
remote:
  - id: primary
    address: 127.0.0.1@{self.primary}
acl:
  - id: primary_notify
    address: 127.0.0.1
    action: notify
template:
  - id: default
    storage: "{folder}"
    zonefile-sync: -1
    zonefile-load: none
zone:
{zones}""")
        return [binary("knotd"), "-c", str(config)]
