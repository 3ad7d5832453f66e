"""The command line as a user runs it: check, records, resolv-conf, start-up errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.cases import CLUSTER
from tests.conftest import EXAMPLES, ROOT


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "clusterdns", *args], capture_output=True,
                          text=True, cwd=ROOT, timeout=60)


def test_check_summarises_a_good_folder() -> None:
    result = run("check", str(EXAMPLES))
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    serial = max(int(p.stat().st_mtime) for p in EXAMPLES.glob("*.yaml"))
    assert result.stdout.splitlines() == [
        "kind        read  generated  skipped",
        "Endpoints      1          -        -",
        "Pod            2          -        -",
        "Service        4          -        -",
        f"ok: 4 services, 2 pods (0 generated), 2 endpoints, 19 records, serial {serial}",
    ]
    assert len(run("records", str(EXAMPLES)).stdout.splitlines()) == 19


def test_check_prints_every_problem_and_exits_1(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(
        "apiVersion: v1\nkind: Service\nmetadata: {name: s}\n"
        "spec: {clusterIP: 10.0.0.300, ports: [{port: 80}]}\n"
        "---\napiVersion: v1\nkind: Pod\nmetadata: {}\n")
    result = run("check", str(tmp_path))
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert lines[0] == (f"error: {tmp_path}/a.yaml: document 1: spec.clusterIP: "
                        "'10.0.0.300' is not an IP address")
    assert lines[1] == f"error: {tmp_path}/a.yaml: document 2: metadata.name: required"
    assert "2 problem(s)" in lines[2]


def test_records_prints_sorted_zone_file_lines() -> None:
    result = run("records", str(EXAMPLES))
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    assert lines[0].startswith("cluster.local.\t5\tIN\tNS\tns.dns.cluster.local.")
    assert "pod-a.headless1.default.svc.cluster.local.\t5\tIN\tA\t20.109.5.11" in lines
    assert "externalname1.default.svc.cluster.local.\t5\tIN\tCNAME\tgithub.io." in lines
    apex = [line for line in lines if line.startswith("cluster.local.")]
    assert lines[:2] == apex  # the apex first, then every other name in order
    rest = [line.split("\t")[0] for line in lines[2:]]
    assert rest == sorted(rest)


def test_records_shows_srv_ptr_and_aaaa() -> None:
    out = run("records", str(CLUSTER)).stdout
    assert "_grpc._tcp.api.shop.svc.cluster.local.\t5\tIN\tSRV\t0 50 9090 api.shop.svc." in out
    assert "\tIN\tAAAA\tfd00:10:96::20" in out
    assert "20.10.96.10.in-addr.arpa.\t5\tIN\tPTR\tapi.shop.svc.cluster.local." in out


def test_resolv_conf_for_a_namespace(tmp_path: Path) -> None:
    node = tmp_path / "resolv.conf"
    node.write_text("nameserver 192.168.1.1\nsearch lan.\noptions edns0\n")
    result = run("resolv-conf", "--namespace", "shop", "--nameserver", "172.17.0.1",
                 "--host-resolv-conf", str(node))
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout == (
        "search shop.svc.cluster.local svc.cluster.local cluster.local lan\n"
        "nameserver 172.17.0.1\n"
        "options ndots:5\n"
    )
    docker = run("resolv-conf", "--namespace", "shop", "--nameserver", "172.17.0.1",
                 "--host-resolv-conf", str(node), "--docker").stdout
    assert docker.startswith("docker run --dns 172.17.0.1 --dns-search shop.svc.cluster.local ")


def test_resolv_conf_for_a_pod_file_warns_on_stderr(tmp_path: Path) -> None:
    pod = tmp_path / "pod.yaml"
    pod.write_text("kind: Pod\nmetadata: {name: p, namespace: shop}\nspec:\n"
                   "  dnsConfig:\n    nameservers: [10.0.0.11, 10.0.0.12, 10.0.0.13]\n"
                   "    options: [{name: ndots, value: '2'}, {name: edns0}]\n")
    result = run("resolv-conf", "--pod", str(pod), "--nameserver", "10.96.0.10",
                 "--host-resolv-conf", "")
    assert result.returncode == 0
    assert result.stdout == (
        "search shop.svc.cluster.local svc.cluster.local cluster.local\n"
        "nameserver 10.96.0.10\nnameserver 10.0.0.11\nnameserver 10.0.0.12\n"
        "options edns0 ndots:2\n"
    )
    assert result.stderr == (
        "warning: DNSConfigForming: Nameserver limits were exceeded, some nameservers have "
        "been omitted, the applied nameserver line is: 10.96.0.10 10.0.0.11 10.0.0.12\n")


def test_resolv_conf_policy_override_and_the_kubelets_empty_resolv_conf() -> None:
    result = run("resolv-conf", "--dns-policy", "Default", "--host-resolv-conf", "")
    assert result.stdout == "search .\nnameserver 127.0.0.1\n"


def test_resolv_conf_refuses_what_the_kubelet_refuses(tmp_path: Path) -> None:
    missing = run("resolv-conf", "--host-resolv-conf", str(tmp_path / "none"))
    assert missing.returncode == 2 and "No such file" in missing.stderr
    (tmp_path / "bad").write_text("nameserver\n")
    bad = run("resolv-conf", "--host-resolv-conf", str(tmp_path / "bad"))
    assert bad.returncode == 2 and "line 1: nameserver list is empty" in bad.stderr
    (tmp_path / "pod.yaml").write_text("kind: Pod\nspec: {hostNetwork: maybe}\n")
    pod = run("resolv-conf", "--pod", str(tmp_path / "pod.yaml"))
    assert pod.returncode == 1
    assert pod.stderr == (f"error: {tmp_path}/pod.yaml: document 1: spec.hostNetwork: "
                          "'maybe' is not true or false\n")


def test_serve_refuses_to_start_on_a_broken_manifest(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text("kind: Service\nmetadata: {name: s}\nspec: {ports: [{}]}\n")
    result = run("serve", "--manifests", str(tmp_path), "--listen", "127.0.0.1:0")
    assert result.returncode == 1
    assert f"{tmp_path}/bad.yaml: document 1: spec.ports[0].port: None is not a port" in (
        result.stderr)


def test_serve_stops_cleanly_on_sigterm(start_server) -> None:
    server = start_server("--manifests", str(EXAMPLES))
    assert server.stop() == 0
    assert "stopping" in server.log


def test_ipv6_listen_address(start_server) -> None:
    server = start_server("--manifests", str(EXAMPLES), listen="[::1]:0")
    assert server.host == "::1"
    assert server.query("service1.default.svc.cluster.local").answer
    assert server.query("service1.default.svc.cluster.local", tcp=True).answer


def test_check_warns_but_passes_and_strict_fails(tmp_path: Path) -> None:
    (tmp_path / "values.yaml").write_text("replicas: 2\n")
    (tmp_path / "svc.yaml").write_text(
        "apiVersion: v1\nkind: Service\nmetadata: {name: db}\n"
        "spec: {clusterIP: None, selector: {app: db}, ports: [{port: 5432}]}\n")
    result = run("check", str(tmp_path))
    assert result.returncode == 0
    assert result.stderr.splitlines() == [
        f"warning: skipped 1 document(s) without apiVersion and kind (not Kubernetes objects, "
        f"e.g. Helm values or an old kustomization): {tmp_path}/values.yaml",
        f"warning: {tmp_path}/svc.yaml: document 1: Service default/db: headless with no ready "
        "endpoints: db.default.svc.cluster.local will be NXDOMAIN (selector app=db matches no "
        "Pod or workload in default)",
    ]
    assert result.stdout.splitlines()[-1].endswith("; 2 warning(s)")
    strict = run("check", "--strict", str(tmp_path))
    assert strict.returncode == 1
    assert strict.stderr.splitlines()[-1] == f"2 problem(s) in {tmp_path}"
    assert all(line.startswith("error: ") for line in strict.stderr.splitlines()[:2])


def test_check_of_an_empty_folder_says_so(tmp_path: Path) -> None:
    result = run("check", str(tmp_path))
    assert result.returncode == 0
    assert result.stderr == (f"warning: {tmp_path}: no manifest files (*.yaml, *.yml, *.json) "
                             "in this folder\n")


def test_standard_input_is_a_manifest_source(tmp_path: Path) -> None:
    text = (EXAMPLES / "service1.yaml").read_text()
    check = subprocess.run([sys.executable, "-m", "clusterdns", "check", "-"], input=text,
                           capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert check.returncode == 0 and "ok: 1 services" in check.stdout
    server = subprocess.Popen([sys.executable, "-m", "clusterdns", "serve", "--manifests", "-",
                               "--listen", "127.0.0.1:0", "--upstream", "none"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, cwd=ROOT)
    try:
        assert server.stdin is not None and server.stdout is not None
        server.stdin.write(text)
        server.stdin.close()
        line = next(line for line in server.stdout if "serving" in line or "rror" in line)
        port = int(line.rsplit(":", 1)[1].split()[0])
        import dns.message
        import dns.query
        reply = dns.query.udp(dns.message.make_query("service1.default.svc.cluster.local", "A"),
                              "127.0.0.1", port=port, timeout=2)
        assert reply.answer[0][0].address == "10.101.105.246"
    finally:
        server.terminate()
        server.wait(10)


def test_listen_errors_name_the_address_and_the_likely_cause(tmp_path: Path) -> None:
    import socket
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as holder:
        holder.bind(("127.0.0.1", 0))
        port = holder.getsockname()[1]
        busy = run("serve", "--manifests", str(EXAMPLES), "--listen", f"127.0.0.1:{port}",
                   "--upstream", "none")
    assert busy.returncode == 1
    assert busy.stderr.strip().splitlines()[-1] == (
        f"error: cannot listen on 127.0.0.1:{port}: the port is in use (`ss -lunp 'sport = "
        f":{port}'` shows by whom); choose another with --listen")
    foreign = run("serve", "--manifests", str(EXAMPLES), "--listen", "192.0.2.1:1053",
                  "--upstream", "none")
    assert foreign.returncode == 1
    assert foreign.stderr.strip().splitlines()[-1] == (
        "error: cannot listen on 192.0.2.1:1053: 192.0.2.1 is not an address of this host "
        "(`ip addr` lists them)")
    unbracketed = run("serve", "--manifests", str(EXAMPLES), "--listen", "::1:5354")
    assert unbracketed.returncode == 2
    assert "'::1:5354': an IPv6 address needs brackets, as in [::1]:1053" in unbracketed.stderr


def test_listen_problems_below_1024_and_on_the_mdns_port_say_why() -> None:
    import errno

    from clusterdns.options import listen_problem
    denied = listen_problem("127.0.0.1", 53, OSError(errno.EACCES, "Permission denied"))
    assert "ports below 1024 need root or the CAP_NET_BIND_SERVICE capability" in denied
    mdns = listen_problem("127.0.0.1", 5353, OSError(errno.EADDRINUSE, "in use"))
    assert "5353 is mDNS's port, held by avahi or mDNSResponder" in mdns


def test_port_only_and_localhost_listen_on_loopback(start_server) -> None:
    server = start_server("--manifests", str(EXAMPLES), listen=":0")
    assert server.addresses == [("127.0.0.1", server.port)]
    assert server.query("service1.default.svc.cluster.local").answer
    both = start_server("--manifests", str(EXAMPLES), listen="localhost:0")
    assert [host for host, _ in both.addresses] == ["127.0.0.1", "::1"]


def test_verbose_works_after_the_command_without_watchdog_noise(start_server,
                                                                tmp_path: Path) -> None:
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "svc.yaml").write_text((EXAMPLES / "service1.yaml").read_text())
    server = start_server("-v", "--manifests", str(folder))
    (folder / "svc.yaml").write_text((EXAMPLES / "service1.yaml").read_text() + "\n")
    server.wait_for_log(r"reload: ")
    assert server.lines_matching(rf" DEBUG watching {folder} and below$")  # -v took effect
    assert not server.lines_matching(r"DEBUG (in-event|InotifyEvent|watchdog)")


def test_resolv_conf_for_a_pod_a_workload_makes(tmp_path: Path) -> None:
    apps = ROOT / "tests" / "manifests" / "apps" / "stateful"
    host = tmp_path / "resolv.conf"
    host.write_text("nameserver 192.0.2.53\nsearch corp.example\noptions timeout:2\n")
    common = ["--manifests", str(apps), "--host-resolv-conf", str(host)]
    web = run("resolv-conf", "--pod", "data/db-3", *common)
    assert web.returncode == 0, web.stderr
    assert web.stdout == ("search data.svc.cluster.local svc.cluster.local cluster.local "
                          "corp.example\nnameserver 127.0.0.1\noptions ndots:5\n")
    # A DaemonSet on the host network falls back to the node's resolver (ClusterFirst).
    agent = run("resolv-conf", "--pod", "default/node-agent", *common)
    assert agent.stdout == "search corp.example\nnameserver 192.0.2.53\noptions timeout:2\n"
    missing = run("resolv-conf", "--pod", "data/nope", *common)
    assert missing.returncode == 2
    assert "no pod or workload data/nope in" in missing.stderr and "db-3" in missing.stderr
