"""A container's view: glibc's stub resolver with the cluster search path and ndots:5.

The server listens on 127.0.0.1:53 (resolv.conf has no port field); a private mount
namespace (`unshare -m`) gets a bind-mounted resolv.conf, so the host's own resolver
configuration is never touched.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from pathlib import Path

import pytest

from clusterdns.resolvconf import resolv_conf
from tests.conftest import EXAMPLES


def _port_53_free() -> bool:
    for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
        with socket.socket(socket.AF_INET, kind) as sock:
            try:
                sock.bind(("127.0.0.1", 53))
            except OSError:
                return False
    return True


def _skip_reason() -> str:
    if os.geteuid() != 0:
        return "needs root to bind 127.0.0.1:53 and to unshare a mount namespace"
    if not shutil.which("unshare") or not shutil.which("getent"):
        return "needs util-linux unshare and getent"
    if not _port_53_free():
        return "127.0.0.1:53 is in use by another resolver"
    probe = subprocess.run(["unshare", "-m", "true"], capture_output=True)
    if probe.returncode != 0:
        return f"cannot create a mount namespace here: {probe.stderr.decode().strip()}"
    return ""


REASON = _skip_reason()
pytestmark = pytest.mark.skipif(bool(REASON), reason=REASON or "runs")


def getent(tmp_path: Path, name: str) -> str:
    resolv = tmp_path / "resolv.conf"
    resolv.write_text(resolv_conf("default", "127.0.0.1") + "options timeout:2 attempts:1\n")
    nsswitch = tmp_path / "nsswitch.conf"
    nsswitch.write_text("hosts: dns\n")
    script = (
        f"mount --bind {resolv} /etc/resolv.conf && "
        f"mount --bind {nsswitch} /etc/nsswitch.conf && "
        f"exec getent hosts {name}"
    )
    result = subprocess.run(["unshare", "-m", "sh", "-c", script], capture_output=True,
                            text=True, timeout=30)
    return result.stdout.strip()


@pytest.fixture
def port53_server(start_server):
    return start_server("--manifests", str(EXAMPLES), listen="127.0.0.1:53")


@pytest.mark.parametrize(("short_name", "ip", "fqdn"), [
    ("service1", "10.101.105.246", "service1.default.svc.cluster.local"),
    ("pod-a.headless1", "20.109.5.11", "pod-a.headless1.default.svc.cluster.local"),
    ("endpoint2.default", "10.102.116.49", "endpoint2.default.svc.cluster.local"),
    ("20-109-5-11.default.pod.cluster.local", "20.109.5.11",
     "20-109-5-11.default.pod.cluster.local"),
])
def test_getent_resolves_through_the_search_path(port53_server, tmp_path: Path,
                                                 short_name: str, ip: str, fqdn: str) -> None:
    assert getent(tmp_path, short_name).split() == [ip, fqdn]


def test_getent_misses_a_name_that_does_not_exist(port53_server, tmp_path: Path) -> None:
    assert getent(tmp_path, "service9") == ""
