"""What the zone builder needs besides the manifests."""

from __future__ import annotations

from dataclasses import dataclass

POD_MODES = ("insecure", "verified", "disabled")
DNS_SCHEMA_VERSION = "1.1.0"


@dataclass(frozen=True)
class ZoneSettings:
    """The options that change which records a cluster makes."""

    domain: str = "cluster.local"
    ttl: int = 5
    pods: str = "insecure"
    # Addresses of `ns.dns.<zone>`: where this server listens, as CoreDNS answers its own.
    ns_addresses: tuple[str, ...] = ("127.0.0.1",)
    # Reverse zones (in-addr.arpa and ip6.arpa names) given their own SOA and NS, so that
    # secondaries can transfer them; the PTR names below them are the cluster's as ever.
    reverse_zones: tuple[str, ...] = ()
