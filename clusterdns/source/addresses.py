"""Cluster IPs for services whose manifest does not give one.

With no API server to allocate them, an address is derived from the service's
namespace/name inside the service CIDR, so the same manifests give the same addresses
on every start and every reload, and `dig` output stays comparable between runs.
Explicit clusterIPs are reserved first; a derived address never lands on one of them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import ipaddress
from collections.abc import Iterable

from .model import EXTERNAL_NAME, Service

DEFAULT_CIDRS = ("10.96.0.0/12", "fd00:10:96::/112")
FAMILY_VERSION = {"IPv4": 4, "IPv6": 6}


def parse_cidrs(cidrs: Iterable[str]) -> dict[int, ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """One network per IP family; a later CIDR of the same family replaces the default."""
    networks: dict[int, ipaddress.IPv4Network | ipaddress.IPv6Network] = {}
    for cidr in cidrs:
        try:
            network = ipaddress.ip_network(cidr, strict=False)
        except ValueError as exc:
            raise ValueError(f"service CIDR {cidr!r}: {exc}") from None
        if network.num_addresses < 16:
            raise ValueError(f"service CIDR {cidr!r} is too small")
        networks[network.version] = network
    return networks


def assign(services: list[Service], cidrs: Iterable[str] = DEFAULT_CIDRS) -> list[Service]:
    """Return `services` with every missing cluster IP filled in, in the same order."""
    networks = parse_cidrs(cidrs)
    taken = {ip for service in services for ip in service.cluster_ips}
    filled: dict[tuple[str, str], Service] = {}
    # Allocation order is by namespace/name, not file order, so moving a manifest between
    # files never changes an address.
    for service in sorted(services, key=lambda s: s.key):
        if service.type == EXTERNAL_NAME or service.headless:
            continue
        if service.cluster_ips and not service.ip_families:
            continue  # checked first: most services give their address, and parsing is slow
        have = {ipaddress.ip_address(ip).version for ip in service.cluster_ips}
        wanted = [FAMILY_VERSION[f] for f in service.ip_families] or [4]
        extra = []
        for version in wanted:
            if version in have:
                continue
            if version not in networks:
                raise ValueError(
                    f"Service {service.namespace}/{service.name} needs an IPv{version} "
                    f"cluster IP but no IPv{version} --service-cidr is set"
                )
            ip = _derive(service, networks[version], taken)
            taken.add(ip)
            extra.append(ip)
        if extra:
            filled[service.key] = dataclasses.replace(
                service, cluster_ips=_ordered(service, service.cluster_ips + tuple(extra))
            )
    return [filled.get(s.key, s) for s in services]


def _ordered(service: Service, ips: tuple[str, ...]) -> tuple[str, ...]:
    """Order addresses as `spec.ipFamilies` lists their families (the primary first)."""
    order = [FAMILY_VERSION[f] for f in service.ip_families]
    return tuple(sorted(ips, key=lambda ip: order.index(ipaddress.ip_address(ip).version)
                        if ipaddress.ip_address(ip).version in order else 9))


def _derive(
    service: Service,
    network: ipaddress.IPv4Network | ipaddress.IPv6Network,
    taken: set[str],
) -> str:
    # Offsets 0 and 1 stay free: the network address and the address Kubernetes gives
    # the `kubernetes` service; the last address is IPv4's broadcast.
    usable = network.num_addresses - 3
    for attempt in range(1000):
        seed = f"{service.namespace}/{service.name}/{attempt}".encode()
        offset = 2 + int.from_bytes(hashlib.sha256(seed).digest()[:8], "big") % usable
        ip = str(network.network_address + offset)
        if ip not in taken:
            return ip
    raise ValueError(f"service CIDR {network} has no free address left")
