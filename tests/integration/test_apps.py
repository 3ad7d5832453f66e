"""Application folders as real apps ship them, served and asked over the wire.

Every Service answers as a cluster's CoreDNS would, headless Services answer one address
per ready pod their workloads make, and StatefulSet and indexed-Job pod names resolve.
"""

from __future__ import annotations

import ipaddress
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import dns.rcode
import dns.reversename
import pytest

from tests.conftest import FIXTURES, ROOT, ServerProcess, rrset_values

APPS = FIXTURES / "apps"
Z = "cluster.local"
SERVICE_NET = ipaddress.ip_network("10.96.0.0/12")
POD_NET = ipaddress.ip_network("10.244.0.0/16")


@pytest.fixture(scope="module")
def shop() -> Iterator[ServerProcess]:
    server = ServerProcess(["serve", "--manifests", str(APPS / "shop"), "--listen",
                            "127.0.0.1:0"])
    yield server
    server.stop()


@pytest.fixture(scope="module")
def stateful() -> Iterator[ServerProcess]:
    server = ServerProcess(["serve", "--manifests", str(APPS / "stateful"), "--listen",
                            "127.0.0.1:0"])
    yield server
    server.stop()


def addresses(server: ServerProcess, name: str, rdtype: str = "A", tcp: bool = False
              ) -> list[str]:
    reply = server.query(name, rdtype, tcp=tcp)
    assert reply.rcode() == dns.rcode.NOERROR, f"{name}: {dns.rcode.to_text(reply.rcode())}"
    return sorted(value.split()[-1] for value in rrset_values(reply) if f" {rdtype} " in value)


def rcode(server: ServerProcess, name: str, rdtype: str = "A") -> str:
    return dns.rcode.to_text(server.query(name, rdtype).rcode())


def ptr(server: ServerProcess, ip: str) -> list[str]:
    return addresses(server, dns.reversename.from_address(ip).to_text(), "PTR")


SHOP_CLUSTER_IP = ["frontend", "frontend-external", "cart", "catalog", "checkout", "currency",
                   "email", "payment", "shipping", "ads"]


@pytest.mark.parametrize("tcp", [False, True], ids=["udp", "tcp"])
def test_every_service_of_the_shop_answers(shop: ServerProcess, tcp: bool) -> None:
    seen = set()
    for service in SHOP_CLUSTER_IP:
        (ip,) = addresses(shop, f"{service}.default.svc.{Z}", tcp=tcp)
        assert ipaddress.ip_address(ip) in SERVICE_NET
        assert ptr(shop, ip) == [f"{service}.default.svc.{Z}."]
        seen.add(ip)
    assert len(seen) == len(SHOP_CLUSTER_IP)


def test_a_headless_service_over_a_deployment_answers_one_address_per_replica(
        shop: ServerProcess) -> None:
    ips = addresses(shop, f"redis-cart.default.svc.{Z}")
    assert len(ips) == 3 and all(ipaddress.ip_address(ip) in POD_NET for ip in ips)
    srv = addresses(shop, f"_redis._tcp.redis-cart.default.svc.{Z}", "SRV")
    # The named targetPort resolves through the pods' container ports; targets are the
    # pods' dashed addresses, as CoreDNS names endpoints without a hostname.
    assert srv == sorted(f"{ip.replace('.', '-')}.redis-cart.default.svc.{Z}." for ip in ips)
    reply = shop.query(f"_redis._tcp.redis-cart.default.svc.{Z}", "SRV")
    assert {v.split()[-2] for v in rrset_values(reply) if " SRV " in v} == {"6379"}
    for ip in ips:
        assert addresses(shop, f"{ip.replace('.', '-')}.default.pod.{Z}") == [ip]


def test_the_named_port_of_a_service_gives_its_srv(shop: ServerProcess) -> None:
    reply = shop.query(f"_http._tcp.frontend.default.svc.{Z}", "SRV")
    assert [v.split(" ", 2)[2] for v in rrset_values(reply) if " SRV " in v] == [
        f"0 100 80 frontend.default.svc.{Z}."]


def test_what_the_shop_does_not_define_does_not_exist(shop: ServerProcess) -> None:
    assert rcode(shop, f"loadgenerator.default.svc.{Z}") == "NXDOMAIN"  # no Service
    assert rcode(shop, f"payments.default.svc.{Z}") == "NXDOMAIN"  # in the unrendered chart


def test_the_shop_log_says_what_was_skipped(shop: ServerProcess) -> None:
    assert shop.lines_matching(r"WARNING manifest warning: .*/charts/payments: a Helm chart")
    assert shop.lines_matching(r"skipped 1 document\(s\) without apiVersion and kind")
    assert not shop.lines_matching(r"ERROR|Traceback|differs from its copy")


def test_statefulset_pods_resolve_by_name_and_back(stateful: ServerProcess) -> None:
    (web0,) = addresses(stateful, f"web-0.nginx.default.svc.{Z}")
    (web1,) = addresses(stateful, f"web-1.nginx.default.svc.{Z}")
    assert addresses(stateful, f"nginx.default.svc.{Z}") == sorted([web0, web1])
    assert rcode(stateful, f"web-2.nginx.default.svc.{Z}") == "NXDOMAIN"
    assert ptr(stateful, web0) == [f"web-0.nginx.default.svc.{Z}."]
    assert addresses(stateful, f"_web._tcp.nginx.default.svc.{Z}", "SRV") == [
        f"web-0.nginx.default.svc.{Z}.", f"web-1.nginx.default.svc.{Z}."]


def test_every_zookeeper_member_and_the_client_service_resolve(stateful: ServerProcess) -> None:
    members = [addresses(stateful, f"zk-{i}.zk-hs.default.svc.{Z}")[0] for i in range(3)]
    assert addresses(stateful, f"zk-hs.default.svc.{Z}") == sorted(members)
    (client,) = addresses(stateful, f"zk-cs.default.svc.{Z}")
    assert ipaddress.ip_address(client) in SERVICE_NET
    assert addresses(stateful, f"_leader-election._tcp.zk-hs.default.svc.{Z}", "SRV") == [
        f"zk-{i}.zk-hs.default.svc.{Z}." for i in range(3)]


def test_ordinals_start_where_the_statefulset_says(stateful: ServerProcess) -> None:
    assert len(addresses(stateful, f"db-3.db.data.svc.{Z}")) == 1
    assert len(addresses(stateful, f"db-4.db.data.svc.{Z}")) == 1
    assert rcode(stateful, f"db-0.db.data.svc.{Z}") == "NXDOMAIN"
    assert len(addresses(stateful, f"db.data.svc.{Z}")) == 2
    assert len(addresses(stateful, f"db-read.data.svc.{Z}")) == 1


def test_indexed_job_workers_find_each_other(stateful: ServerProcess) -> None:
    crunch = [addresses(stateful, f"crunch-{i}.workers.default.svc.{Z}")[0] for i in range(2)]
    assert addresses(stateful, f"workers.default.svc.{Z}") == sorted(crunch)
    assert rcode(stateful, f"crunch-2.workers.default.svc.{Z}") == "NXDOMAIN"  # parallelism 2


def test_daemonsets_and_replication_controllers_make_pods(stateful: ServerProcess) -> None:
    assert len(addresses(stateful, f"node-agent.default.svc.{Z}")) == 1  # one node
    assert len(addresses(stateful, f"legacy.default.svc.{Z}")) == 2


def test_a_daemonset_runs_a_pod_on_each_node(start_server) -> None:
    server = start_server("--manifests", str(APPS / "stateful"), "--nodes", "3")
    assert len(addresses(server, f"node-agent.default.svc.{Z}")) == 3


def test_the_guestbook_with_all_in_one_copies_serves(start_server) -> None:
    server = start_server("--manifests", str(APPS / "guestbook"))
    (leader,) = addresses(server, f"redis-leader.default.svc.{Z}")
    assert ipaddress.ip_address(leader) in SERVICE_NET
    assert len(addresses(server, f"redis-follower.default.svc.{Z}")) == 2
    assert not server.lines_matching(r"WARNING|ERROR")


def test_an_installer_without_namespaces_lands_in_the_namespace_given(start_server) -> None:
    server = start_server("--manifests", str(APPS / "installed"), "--namespace", "tools")
    assert len(addresses(server, f"tool-server.tools.svc.{Z}")) == 1
    assert len(addresses(server, f"tool-repo.tools.svc.{Z}")) == 1
    assert rcode(server, f"tool-server.default.svc.{Z}") == "NXDOMAIN"
    server.wait_for_log(r"WARNING manifest warning: .*install.yaml: document 5: "
                        r"spec.serviceName: StatefulSet tools/tool-controller: "
                        r"tool-controller-0.tool-controller.tools.svc.cluster.local will not "
                        r"resolve: no Service tool-controller in tools")


def test_check_and_serve_agree_on_the_serial_and_the_records(start_server) -> None:
    folder = str(APPS / "stateful")
    check = subprocess.run([sys.executable, "-m", "clusterdns", "check", folder],
                           capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert check.returncode == 0, check.stderr
    summary = check.stdout.splitlines()[-1]
    records = subprocess.run([sys.executable, "-m", "clusterdns", "records", folder],
                             capture_output=True, text=True, cwd=ROOT, timeout=60).stdout
    assert f", {len(records.splitlines())} records, " in summary
    server = start_server("--manifests", folder)
    (soa,) = [v for v in rrset_values(server.query(Z, "SOA")) if " SOA " in v]
    assert summary.endswith(f"serial {soa.split()[4]}")
    generated = [line for line in records.splitlines() if " ; pod " in line]
    assert "\tA\t" in generated[0] and generated[0].split(" ; pod ")[1].count(" of ") == 1
    assert any(line.endswith("; pod default/web-0 of StatefulSet default/web")
               for line in generated)


def _service(name: str) -> str:
    return (f"apiVersion: v1\nkind: Service\nmetadata: {{name: {name}}}\n"
            "spec: {ports: [{port: 80}]}\n")


def test_derived_addresses_stay_put_across_restarts_and_reloads(start_server,
                                                                tmp_path: Path) -> None:
    """In a 16-address range every newcomer is likely to derive a taken address."""
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "old.yaml").write_text("---\n".join(_service(f"s{i}") for i in range(5)))
    small = ["--service-cidr", "10.96.0.0/28", "--state", str(tmp_path / "state.json")]
    server = start_server("--manifests", str(folder), *small)
    before = {f"s{i}": addresses(server, f"s{i}.default.svc.{Z}") for i in range(5)}
    (folder / "new.yaml").write_text("---\n".join(_service(f"a{i}") for i in range(3)))
    server.wait_for_log(r"reload: services \+3")
    assert {n: addresses(server, f"{n}.default.svc.{Z}") for n in before} == before
    assert server.stop() == 0

    (folder / "newer.yaml").write_text("---\n".join(_service(f"b{i}") for i in range(3)))
    again = start_server("--manifests", str(folder), *small)
    assert {n: addresses(again, f"{n}.default.svc.{Z}") for n in before} == before
    everyone = [addresses(again, f"{n}.default.svc.{Z}")[0]
                for n in [*before, "a0", "a1", "a2", "b0", "b1", "b2"]]
    assert len(set(everyone)) == 11
