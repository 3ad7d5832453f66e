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
import time
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
    names there are NXDOMAIN, the node's domain too as nothing is forwarded) and then
    asks the name as it is."""
    start_server("--manifests", str(NAMES), *OPTIONS, listen="127.0.0.1:53")
    resolv = pod_resolv_conf(tmp_path)
    assert getent(resolv, "shop.test").split() == ["192.0.2.10", "shop.test"]
    assert getent(resolv, "preview-7.apps.test").split() == ["2001:db8::40",
                                                             "preview-7.apps.test"]
    assert getent(resolv, "other.shop.test") == ""


def in_pod(resolv: Path, *command: str) -> subprocess.CompletedProcess[str]:
    """`command` in a private mount namespace with `resolv` as its resolv.conf."""
    nsswitch = resolv.parent / "nsswitch.conf"
    nsswitch.write_text("hosts: dns\n")
    script = (f"mount --bind {resolv} /etc/resolv.conf && "
              f"mount --bind {nsswitch} /etc/nsswitch.conf && exec \"$@\"")
    return subprocess.run(["unshare", "-m", "sh", "-c", script, "sh", *command],
                          capture_output=True, text=True, timeout=30)


def test_autopath_makes_a_pods_first_question_its_last(start_server, tmp_path: Path) -> None:
    """glibc asks `service1.default.shop.svc...` first (ndots:5): without autopath that is
    NXDOMAIN and it walks on; with it the first answer is the one (the pod here is at
    127.0.0.1, where glibc's questions come from)."""
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "service1.yaml").write_text((EXAMPLES / "service1.yaml").read_text())
    (folder / "pod.yaml").write_text("apiVersion: v1\nkind: Pod\nmetadata: {name: client, "
                                     "namespace: shop}\nstatus: {podIP: 127.0.0.1}\n")
    resolv = pod_resolv_conf(tmp_path, "shop")
    asked = {}
    for autopath in (False, True):
        server = start_server("--manifests", str(folder), "--log-queries",
                              *(["--autopath"] if autopath else []), listen="127.0.0.1:53")
        result = in_pod(resolv, "getent", "hosts", "service1.default")
        # With autopath the name asked stays on as an alias of the canonical one.
        alias = ["service1.default.shop.svc.cluster.local"] if autopath else []
        assert result.stdout.split() == ["10.101.105.246",
                                         "service1.default.svc.cluster.local", *alias]
        server.stop()
        asked[autopath] = [line.split('"A IN ')[1].split()[0]
                           for line in server.lines_matching(r'"A IN ')]
    # The A questions: without autopath the first expansion, then the next one that
    # exists; with it only the first, answered. (The AAAA questions walk on either way:
    # the service has no AAAA, and glibc walks past an empty answer, as with CoreDNS.)
    assert asked[False][:2] == ["service1.default.shop.svc.cluster.local.",
                                "service1.default.svc.cluster.local."]
    assert set(asked[True]) == {"service1.default.shop.svc.cluster.local."}
    assert len(asked[True]) < len(asked[False])


MUSL_PROGRAM = r"""
#include <arpa/inet.h>
#include <netdb.h>
#include <stdio.h>
int main(int argc, char **argv) {
    struct addrinfo hints = {0}, *found;
    hints.ai_family = AF_INET;
    int error = getaddrinfo(argv[1], 0, &hints, &found);
    if (error) { printf("error: %s\n", gai_strerror(error)); return 2; }
    char text[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &((struct sockaddr_in *)found->ai_addr)->sin_addr, text, sizeof text);
    printf("%s\n", text);
    return 0;
}
"""


@pytest.fixture(scope="module")
def musl_lookup(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A static getaddrinfo program built against musl, Alpine's libc."""
    if not shutil.which("musl-gcc"):
        pytest.fail("musl-gcc is missing: `make test` installs musl-tools")
    folder = tmp_path_factory.mktemp("musl")
    (folder / "lookup.c").write_text(MUSL_PROGRAM)
    subprocess.run(["musl-gcc", "-static", "-O1", "-o", str(folder / "lookup"),
                    str(folder / "lookup.c")], check=True, capture_output=True, timeout=60)
    return folder / "lookup"


def test_musl_resolves_and_fails_fast_with_forwarding_off(port53_server, musl_lookup: Path,
                                                         tmp_path: Path) -> None:
    """musl ignores REFUSED and waits out its timeout (5 s, then "Try again"); a name
    outside the zone with forwarding off is NXDOMAIN, so a miss is over at once."""
    resolv = pod_resolv_conf(tmp_path)
    found = in_pod(resolv, str(musl_lookup), "service1")
    assert (found.returncode, found.stdout.strip()) == (0, "10.101.105.246")
    started = time.monotonic()
    missing = in_pod(resolv, str(musl_lookup), "nosuchname")
    assert time.monotonic() - started < 1.0
    assert missing.returncode == 2 and "Name does not resolve" in missing.stdout
