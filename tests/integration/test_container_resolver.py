"""A pod's view: glibc's stub resolver with the resolv.conf the kubelet would write.

The server listens on 127.0.0.1:53 (resolv.conf has no port field); a private mount
namespace (`unshare -m`) gets a bind-mounted resolv.conf made by `clusterdns resolv-conf
--pod`, so the host's own resolver configuration is never touched.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import EXAMPLES, ROOT
from tests.name_cases import NAMES, OPTIONS


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


# A workload as a user writes it. Its dnsConfig makes a miss fail fast (one 2 s try) and
# its namespace decides the first search domain.
DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: {namespace}
spec:
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec:
      containers: [{{name: web, image: busybox}}]
      dnsConfig:
        options: [{{name: timeout, value: "2"}}, {{name: attempts, value: "1"}}]
"""


def pod_resolv_conf(tmp_path: Path, namespace: str = "default") -> Path:
    """The resolv.conf `clusterdns resolv-conf --pod` writes for a Deployment's pod."""
    pod = tmp_path / "deployment.yaml"
    pod.write_text(DEPLOYMENT.format(namespace=namespace))
    node = tmp_path / "node-resolv.conf"
    node.write_text("nameserver 192.0.2.53\nsearch corp.example.\noptions rotate\n")
    result = subprocess.run(
        [sys.executable, "-m", "clusterdns", "resolv-conf", "--pod", str(pod),
         "--nameserver", "127.0.0.1", "--host-resolv-conf", str(node)],
        capture_output=True, text=True, cwd=ROOT, timeout=30, check=True)
    resolv = tmp_path / "resolv.conf"
    resolv.write_text(result.stdout)
    return resolv


def getent(resolv: Path, name: str) -> str:
    """`getent hosts NAME` in a private mount namespace with `resolv` as its resolv.conf:
    its output, or "" when getent says the name does not exist (exit status 2)."""
    nsswitch = resolv.parent / "nsswitch.conf"
    nsswitch.write_text("hosts: dns\n")
    script = (
        f"mount --bind {resolv} /etc/resolv.conf && "
        f"mount --bind {nsswitch} /etc/nsswitch.conf && "
        f"exec getent hosts {name}"
    )
    result = subprocess.run(["unshare", "-m", "sh", "-c", script], capture_output=True,
                            text=True, timeout=30)
    # 2 is getent's "not found"; anything else (a failed mount: 32) is a broken test.
    assert result.returncode in (0, 2), f"getent exited {result.returncode}: {result.stderr}"
    assert (result.returncode == 0) == bool(result.stdout.strip())
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
    assert getent(pod_resolv_conf(tmp_path), short_name).split() == [ip, fqdn]


def test_a_pod_in_another_namespace_needs_the_services_namespace(
        port53_server, tmp_path: Path) -> None:
    resolv = pod_resolv_conf(tmp_path, "shop")
    assert getent(resolv, "service1") == ""
    assert getent(resolv, "service1.default").split() == [
        "10.101.105.246", "service1.default.svc.cluster.local"]


def test_getent_misses_a_name_that_does_not_exist(port53_server, tmp_path: Path) -> None:
    assert getent(pod_resolv_conf(tmp_path), "service9") == ""


def test_getent_resolves_an_ingress_host_and_a_wildcard(start_server, tmp_path: Path) -> None:
    """A browser's name outside the cluster zone: glibc walks the search path first (the
    names there are NXDOMAIN, the node's domain REFUSED as nothing is forwarded) and then
    asks the name as it is."""
    start_server("--manifests", str(NAMES), *OPTIONS, listen="127.0.0.1:53")
    resolv = pod_resolv_conf(tmp_path)
    assert getent(resolv, "shop.test").split() == ["192.0.2.10", "shop.test"]
    assert getent(resolv, "preview-7.apps.test").split() == ["2001:db8::40",
                                                             "preview-7.apps.test"]
    assert getent(resolv, "other.shop.test") == ""
