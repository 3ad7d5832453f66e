"""Who may use clusterdns as a recursive resolver.

Answering names outside the cluster zone for anyone who asks would turn a laptop on a
public address into an open resolver (an amplifier for reflection attacks). So recursion,
like BIND's default `allow-recursion { localnets; localhost; }`, is for loopback and
private ranges unless told otherwise; the cluster zone itself answers everyone.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

DEFAULT_RECURSION_CLIENTS = (
    "127.0.0.0/8", "::1/128",                        # loopback
    "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16",  # RFC 1918
    "100.64.0.0/10",                                  # RFC 6598 shared space (CGNAT, tailnets)
    "fc00::/7", "fe80::/10",                          # IPv6 unique local and link-local
)


@dataclass(frozen=True)
class ClientRanges:
    """The networks whose clients may ask for names outside the cluster zone."""

    networks: tuple[IPNetwork, ...]

    @classmethod
    def parse(cls, cidrs: Iterable[str]) -> ClientRanges:
        """Ranges from CIDR strings; raise ValueError naming the one that is not a CIDR."""
        networks = []
        for cidr in cidrs:
            try:
                networks.append(ipaddress.ip_network(cidr, strict=False))
            except ValueError:
                raise ValueError(f"{cidr!r} is not an address range (CIDR)") from None
        return cls(tuple(networks))

    def allows(self, address: str) -> bool:
        """Whether the client at `address` (as a socket reports it) may recurse."""
        return _allows(self.networks, address)


@lru_cache(maxsize=4096)  # the same few clients ask again and again
def _allows(networks: tuple[IPNetwork, ...], address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip in network for network in networks)


def exposure_warning(listen: Iterable[tuple[str, int]], ranges: ClientRanges,
                     forwarding: bool) -> str | None:
    """The warning to log when clusterdns listens beyond loopback, else None.

    Off loopback, anyone who can reach the address can query; saying at start-up who gets
    recursion and who gets REFUSED lets the operator see the exposure before others do.
    """
    exposed = [host for host, _ in listen if not ipaddress.ip_address(host).is_loopback]
    if not exposed:
        return None
    if not forwarding:
        recursion = "forwarding is off, so names outside the zone get REFUSED"
    else:
        allowed = ", ".join(str(n) for n in ranges.networks) or "nobody"
        recursion = (f"names outside the zone are forwarded only for {allowed} "
                     f"(--allow-recursion); other clients get REFUSED for them")
    return (f"listening on non-loopback address {', '.join(exposed)}: the cluster zone "
            f"answers anyone who can reach it; {recursion}")
