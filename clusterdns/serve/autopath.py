"""Server-side search, as CoreDNS's autopath plugin does it with `pods verified`.

With `ndots:5` a pod asks `example.org.shop.svc.cluster.local` first, then walks its
search path: four questions before the one that answers. When the question is the first
search expansion of the asking pod's namespace (known by its source address), clusterdns
walks the rest of the path itself and answers with a CNAME from the asked name to the
first name that exists, followed by that name's records: the pod's first question is its
last. Clients that are not known pods get the ordinary answer.

This module says which names to try; the responder asks them (the zone, or upstream for
names outside it) and writes the answer.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..zone.build import Zone
from ..zone.records import fqdn


@dataclass
class Autopath:
    """The search walk for pods. `search` is the node's own search domains, tried after
    the cluster's (CoreDNS uses its resolv.conf's). Per-zone lookups are kept for the
    zone they were made from."""

    search: tuple[str, ...] = ()
    successes: int = 0  # answers found further down the path (coredns_autopath_success_total)
    _zone: Zone | None = field(default=None, repr=False)
    _namespaces: dict[str, str] = field(default_factory=dict, repr=False)

    def walk(self, zone: Zone, qname: str, client: str) -> list[str] | None:
        """The names to try, in order, when `qname` from `client` is a pod's first search
        expansion: None when it is not (the ordinary answer applies)."""
        namespace = self._namespace_of(zone, client)
        if namespace is None:
            return None
        first = f"{namespace}.svc.{zone.origin}"
        name = fqdn(qname).lower()
        if not name.endswith("." + first):
            return None
        base = name[: -len(first) - 1]
        rest = [f"svc.{zone.origin}", zone.origin, *(fqdn(s) for s in self.search)]
        return [f"{base}.{suffix}" for suffix in rest] + [f"{base}."]

    def _namespace_of(self, zone: Zone, client: str) -> str | None:
        if zone is not self._zone:  # a reload: the pods may have moved
            self._zone = zone
            # A recycled address can name two pods; as in CoreDNS, the first one counts.
            self._namespaces = {}
            for namespace, ip in sorted(zone.pod_ips):
                self._namespaces.setdefault(ip, namespace)
        return self._namespaces.get(client.removeprefix("::ffff:"))
