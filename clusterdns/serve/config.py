"""Settings, gathered once by the CLI and handed down; nothing below reads options itself."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..source.manifests import LoadOptions
from ..zone.settings import ZoneSettings
from .access import DEFAULT_RECURSION_CLIENTS
from .cache import DEFAULT_CAPACITY, DEFAULT_MAX_NEGATIVE_TTL, DEFAULT_MAX_TTL
from .rrl import RateLimit
from .upstream import DEFAULT_BUDGET, DEFAULT_TIMEOUT

# Not 5353: that is mDNS's port, held on many desktops by avahi or mDNSResponder. 1053 is
# what CoreDNS's own documentation uses for an unprivileged server.
DEFAULT_LISTEN = ("127.0.0.1", 1053)


@dataclass(frozen=True)
class Config:
    """Everything `clusterdns serve` was asked to do."""

    manifests: tuple[str, ...] = ("manifests",)
    listen: tuple[tuple[str, int], ...] = (DEFAULT_LISTEN,)
    zone: ZoneSettings = field(default_factory=ZoneSettings)
    source: LoadOptions = field(default_factory=LoadOptions)
    state_file: Path | None = None  # where derived addresses and the serial persist
    log_queries: bool = False
    workers: int = 1  # processes sharing the listen sockets (SO_REUSEPORT)
    watch: bool = True  # reload when the manifests change (SIGHUP reloads either way)
    # Where names outside the zone go, (host, port) each; empty turns forwarding off.
    upstreams: tuple[tuple[str, int], ...] = ()
    upstream_timeout: float = DEFAULT_TIMEOUT  # seconds for one upstream to answer
    upstream_budget: float = DEFAULT_BUDGET  # seconds for all tries, then SERVFAIL
    cache_size: int = DEFAULT_CAPACITY  # upstream answers kept; 0 turns the cache off
    cache_max_ttl: int = DEFAULT_MAX_TTL
    cache_max_negative_ttl: int = DEFAULT_MAX_NEGATIVE_TTL
    # CIDRs of the clients that may ask for names outside the zone.
    recursion_clients: tuple[str, ...] = DEFAULT_RECURSION_CLIENTS
    # Response rate limiting of UDP replies (rrl.py): by default on beyond loopback only.
    rate_limit: RateLimit = field(default_factory=RateLimit)
    # Zone transfer: the CIDRs of the secondaries that may transfer the zones (nobody by
    # default), the (host, port) of each to NOTIFY after a change, and the address the
    # NOTIFY goes out from ("" for the first listen address, or the kernel's choice).
    allow_transfer: tuple[str, ...] = ()
    notify: tuple[tuple[str, int], ...] = ()
    notify_source: str = ""
    # Where /health, /ready and /metrics answer over HTTP, (host, port) each; empty: off.
    health: tuple[tuple[str, int], ...] = ()
    ready: tuple[tuple[str, int], ...] = ()
    metrics: tuple[tuple[str, int], ...] = ()
    lameduck: float = 0.0  # seconds DNS keeps answering after SIGTERM, /ready saying 503
    log_format: str = "text"  # of --log-queries: CoreDNS's line, or "json"
    # Server-side search for pods (CoreDNS's autopath), and the node's own search domains
    # it tries after the cluster's.
    autopath: bool = False
    host_search: tuple[str, ...] = ()
    batch: bool = True  # UDP in batches (recvmmsg/sendmmsg) where the system has them
    compiled: bool = True  # stored replies answered by C threads where _batchloop was built
