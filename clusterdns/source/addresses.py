"""Addresses for services and pods whose manifests do not give one.

With no API server to allocate them, a cluster IP (from the service range) or a pod IP
(from the pod range) is derived from the object's namespace/name, so the same manifests
give the same addresses on every start. Two objects can derive the same address; the
one that held it before keeps it: every derived address is remembered (`AddressBook`,
kept across restarts in the state file), remembered addresses are handed out first, and
only newcomers derive, so adding, removing or renaming an object never moves another.
Explicit addresses are reserved before anything is derived: an explicit clusterIP that
lands on a remembered address takes it, as the manifest is what the user wrote.
"""

from __future__ import annotations

import dataclasses
import hashlib
import ipaddress
import socket
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from .model import EXTERNAL_NAME, Pod, Service

DEFAULT_CIDRS = ("10.96.0.0/12", "fd00:10:96::/112")
# kind's and flannel's pod range; a pod gets one address per family given.
DEFAULT_POD_CIDRS = ("10.244.0.0/16",)
FAMILY_VERSION = {"IPv4": 4, "IPv6": 6}

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Key = tuple[str, str]


@dataclass(frozen=True)
class AddressBook:
    """The derived addresses handed out, by (namespace, name): what must not move."""

    services: Mapping[Key, tuple[str, ...]] = field(default_factory=dict)
    pods: Mapping[Key, tuple[str, ...]] = field(default_factory=dict)


def parse_cidrs(cidrs: Iterable[str], what: str = "service") -> dict[int, Network]:
    """One network per IP family; a later CIDR of the same family replaces the earlier."""
    networks: dict[int, Network] = {}
    for cidr in cidrs:
        try:
            network = ipaddress.ip_network(cidr, strict=False)
        except ValueError as exc:
            raise ValueError(f"{what} CIDR {cidr!r}: {exc}") from None
        if network.num_addresses < 16:
            raise ValueError(f"{what} CIDR {cidr!r} is too small")
        networks[network.version] = network
    return networks


def outside(ip: str, networks: Mapping[int, Network]) -> Network | None:
    """The range of `ip`'s family that does not contain it; None when it is inside (or
    no range of its family is set, since then nothing is derived there either).

    `ip` is canonical address text, as the model holds it. An IPv4 address is read by
    the C library (strict, as `ipaddress` is): parsing the text in Python took most of
    checking 10,000 services' addresses.
    """
    address: ipaddress.IPv4Address | ipaddress.IPv6Address = (
        ipaddress.IPv6Address(ip) if ":" in ip
        else ipaddress.IPv4Address(socket.inet_pton(socket.AF_INET, ip)))
    network = networks.get(address.version)
    return network if network is not None and address not in network else None


def assign(services: list[Service], cidrs: Iterable[str] = DEFAULT_CIDRS,
           remembered: Mapping[Key, tuple[str, ...]] | None = None
           ) -> tuple[list[Service], dict[Key, tuple[str, ...]]]:
    """`services` with every missing cluster IP filled in, in the same order, and the
    derived addresses by service (to remember for next time)."""
    networks = parse_cidrs(cidrs)
    wanted: list[tuple[Key, int]] = []
    for service in services:
        if service.type == EXTERNAL_NAME or service.headless:
            continue
        if service.cluster_ips and not service.ip_families:
            continue  # checked first: most services give their address, and parsing is slow
        have = {ipaddress.ip_address(ip).version for ip in service.cluster_ips}
        for version in [FAMILY_VERSION[f] for f in service.ip_families] or [4]:
            if version in have:
                continue
            if version not in networks:
                raise ValueError(
                    f"Service {service.namespace}/{service.name} needs an IPv{version} "
                    f"cluster IP but no IPv{version} --service-cidr is set")
            wanted.append((service.key, version))
    if not wanted:  # every service gives its address: no set of every address
        return services, {}
    taken = {ip for service in services for ip in service.cluster_ips}
    derived = _allocate(wanted, networks, taken, remembered or {})
    filled = []
    for service in services:
        extra = derived.get(service.key, ())
        filled.append(service if not extra else dataclasses.replace(
            service, cluster_ips=_ordered(service, service.cluster_ips + extra)))
    return filled, derived


def assign_pods(pods: list[Pod], cidrs: Iterable[str] = DEFAULT_POD_CIDRS,
                remembered: Mapping[Key, tuple[str, ...]] | None = None,
                reserved: Iterable[str] = ()) -> tuple[list[Pod], dict[Key, tuple[str, ...]]]:
    """Generated pods (no IPs yet) get one address per pod range; written pods' own
    addresses and `reserved` ones are never handed out."""
    networks = parse_cidrs(cidrs, "pod")
    wanted = [(pod.key, version) for pod in pods if pod.owner and not pod.ips
              for version in sorted(networks)]
    if not wanted:  # the usual reload of hand-written objects: no sets of every address
        return pods, {}
    taken = {ip for pod in pods for ip in pod.ips}
    taken.update(reserved)
    derived = _allocate(wanted, networks, taken, remembered or {})
    return [dataclasses.replace(p, ips=derived[p.key]) if p.key in derived else p
            for p in pods], derived


def _allocate(wanted: list[tuple[Key, int]], networks: Mapping[int, Network], taken: set[str],
              remembered: Mapping[Key, tuple[str, ...]]) -> dict[Key, tuple[str, ...]]:
    """An address for every (object, IP version) in `wanted`, none of them in `taken`.

    Remembered addresses go first, so a newcomer whose derivation lands on one derives
    again instead of taking it; newcomers then derive in name order, which keeps a
    fresh start (nothing remembered) independent of file order.
    """
    chosen: dict[tuple[Key, int], str] = {}
    for key, version in sorted(wanted):
        for ip in remembered.get(key, ()):
            address = ipaddress.ip_address(ip)
            if address.version == version and address in networks[version] and ip not in taken:
                chosen[key, version] = ip
                taken.add(ip)
                break
    for key, version in sorted(wanted):
        if (key, version) not in chosen:
            ip = _derive(key, networks[version], taken)
            taken.add(ip)
            chosen[key, version] = ip
    out: dict[Key, tuple[str, ...]] = {}
    for key, version in wanted:
        out[key] = (*out.get(key, ()), chosen[key, version])
    return out


def _ordered(service: Service, ips: tuple[str, ...]) -> tuple[str, ...]:
    """Order addresses as `spec.ipFamilies` lists their families (the primary first)."""
    order = [FAMILY_VERSION[f] for f in service.ip_families]
    return tuple(sorted(ips, key=lambda ip: order.index(ipaddress.ip_address(ip).version)
                        if ipaddress.ip_address(ip).version in order else 9))


def _derive(key: Key, network: Network, taken: set[str]) -> str:
    # Offsets 0 and 1 stay free: the network address and the address Kubernetes gives
    # the `kubernetes` service (or a pod range's gateway); the last address is IPv4's
    # broadcast.
    namespace, name = key
    usable = network.num_addresses - 3
    for attempt in range(1000):
        seed = f"{namespace}/{name}/{attempt}".encode()
        offset = 2 + int.from_bytes(hashlib.sha256(seed).digest()[:8], "big") % usable
        ip = str(network.network_address + offset)
        if ip not in taken:
            return ip
    raise ValueError(f"{network} has no free address left")
