"""What both servers serve and what dnsperf asks, all derived from bench/generate.py.

dnsmasq gets the same names and addresses as clusterdns from the generator's own functions
(never from clusterdns's output, so a clusterdns bug cannot leak into the reference), and
the query files name only records both servers hold, so their rates compare like for like.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from generate import cluster_ip, endpoint_ips, is_headless, service_name, write_manifests

DOMAIN = "cluster.local"
NAMESPACE = "bench"
SRV_PORT = 80  # the `http` port bench/generate.py gives every service


def service_fqdn(index: int) -> str:
    """The name both servers answer for service `index` of bench/generate.py."""
    return f"{service_name(index)}.{NAMESPACE}.svc.{DOMAIN}"


@dataclass(frozen=True)
class Inputs:
    """Paths of one benchmark data set and a few names to check answers with."""

    manifests: Path
    dnsmasq_conf: Path
    dnsmasq_srv_conf: Path
    a_queries: Path
    nxdomain_queries: Path
    srv_queries: Path
    # service FQDN -> the A addresses both servers must answer, for the pre-flight check
    expected: dict[str, frozenset[str]] = field(repr=False)


def write_inputs(folder: Path, services: int, endpoints: int = 3,
                 headless_every: int = 3) -> Inputs:
    """Manifests, dnsmasq's hosts and conf files, and three dnsperf query files in `folder`."""
    write_manifests(folder / "manifests", services, endpoints, headless_every, NAMESPACE)
    expected: dict[str, frozenset[str]] = {}
    for i in range(services):
        headless = is_headless(i, headless_every)
        expected[service_fqdn(i)] = frozenset(
            endpoint_ips(i, endpoints) if headless else [cluster_ip(i)])
    cluster_ip_services = [i for i in range(services) if not is_headless(i, headless_every)]

    hosts = folder / "dnsmasq.hosts"
    # One line per address: dnsmasq answers every line of a name, as a headless service does.
    hosts.write_text("".join(f"{ip} {name}\n" for name, ips in expected.items()
                             for ip in sorted(ips)))
    # Without `local`, dnsmasq REFUSEs unknown names; with it, NXDOMAIN as clusterdns does.
    common = f"addn-hosts={hosts}\nlocal=/{DOMAIN}/\n"
    conf = folder / "dnsmasq.conf"
    conf.write_text(common)
    # dnsmasq walks its srv-host list for every name it misses in its cache: 667 of them cut
    # its NXDOMAIN rate by three quarters, so SRV gets a dnsmasq of its own.
    srv_conf = folder / "dnsmasq-srv.conf"
    srv_conf.write_text(common + "".join(
        f"srv-host=_http._tcp.{service_fqdn(i)},{service_fqdn(i)},{SRV_PORT}\n"
        for i in cluster_ip_services))

    a_queries = folder / "a.queries"
    a_queries.write_text("".join(f"{service_fqdn(i)} A\n" for i in cluster_ip_services))
    nxdomain_queries = folder / "nxdomain.queries"
    nxdomain_queries.write_text("".join(f"nosuch{i:05d}.{NAMESPACE}.svc.{DOMAIN} A\n"
                                        for i in range(services)))
    srv_queries = folder / "srv.queries"
    srv_queries.write_text("".join(f"_http._tcp.{service_fqdn(i)} SRV\n"
                                   for i in cluster_ip_services))
    return Inputs(folder / "manifests", conf, srv_conf, a_queries, nxdomain_queries,
                  srv_queries, expected)
