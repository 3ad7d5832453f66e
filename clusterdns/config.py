"""Settings, gathered once by the CLI and handed down; nothing below reads options itself."""

from __future__ import annotations

from dataclasses import dataclass, field

from .clusterips import DEFAULT_CIDRS

POD_MODES = ("insecure", "verified", "disabled")
DEFAULT_LISTEN = ("127.0.0.1", 5353)
DNS_SCHEMA_VERSION = "1.1.0"


@dataclass(frozen=True)
class ZoneSettings:
    """What the zone builder needs besides the manifests."""

    domain: str = "cluster.local"
    ttl: int = 5
    pods: str = "insecure"
    # Addresses of `ns.dns.<zone>`: where this server listens, as CoreDNS answers its own.
    ns_addresses: tuple[str, ...] = ("127.0.0.1",)


@dataclass(frozen=True)
class Config:
    """Everything `clusterdns serve` was asked to do."""

    manifests: tuple[str, ...] = ("manifests",)
    listen: tuple[tuple[str, int], ...] = (DEFAULT_LISTEN,)
    zone: ZoneSettings = field(default_factory=ZoneSettings)
    service_cidrs: tuple[str, ...] = DEFAULT_CIDRS
    log_queries: bool = False
    watch: bool = True  # reload when the manifests change (SIGHUP reloads either way)
