"""The kubelet's rules for a pod's resolv.conf (pkg/kubelet/network/dns/dns.go, GetPodDNS).

The policy picks a base (the cluster's servers and search path, the node's resolv.conf,
or nothing); `spec.dnsConfig` is appended to it; then the kubelet's limits trim the
result, each trim with the warning event the kubelet records on the pod. Pure: the node's
resolv.conf comes in parsed (`resolvconf.parse`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from .resolvconf import DNSConfig, Option
from .source.poddns import CLUSTER_FIRST, CLUSTER_FIRST_WITH_HOST_NET, DEFAULT, NONE, PodDNS

# The validation limits the kubelet applies since ExpandedDNSConfig went GA (1.28); the
# legacy 6 domains / 256 characters are gone.
MAX_NAMESERVERS = 3
MAX_SEARCH_DOMAINS = 32
MAX_SEARCH_CHARS = 2048
MAX_DOMAIN_CHARS = 253  # longer domains make glibc 2.28 abort(), so they are dropped
DEFAULT_OPTIONS: tuple[Option, ...] = (("ndots", "5"),)

# What the kubelet does with the pod: its podDNSType.
_CLUSTER, _HOST, _NONE = "cluster", "host", "none"


def pod_dns(pod: PodDNS, host: DNSConfig | None, cluster_dns: Sequence[str],
            domain: str) -> tuple[DNSConfig, list[str]]:
    """The DNS config the kubelet gives `pod`, and the warnings it raises on the way.

    `host` is the node's resolv.conf (the kubelet's --resolv-conf), None when that flag
    is empty; `cluster_dns` and `domain` are its --cluster-dns and --cluster-domain.
    A warning starts with the kubelet's event reason where it records one.

    Options come out sorted by name, where the kubelet's order is a Go map's (random per
    pod): a resolver reads them in any order, and a fixed one can be compared.
    """
    warnings: list[str] = []
    kind = _pod_dns_type(pod, warnings)
    if kind == _CLUSTER and not cluster_dns:
        warnings.append(
            f'MissingClusterDNS: kubelet does not have ClusterDNS IP configured and cannot '
            f'create Pod using "{CLUSTER_FIRST}" policy. Falling back to "{DEFAULT}" policy.')
        kind = _HOST
    if kind == _NONE:
        config = DNSConfig()
        if not (pod.dns_config and pod.dns_config.nameservers):
            warnings.append("the API server rejects this pod: dnsPolicy None needs at least "
                            "one nameserver in spec.dnsConfig")
    elif kind == _CLUSTER:
        base = host or DNSConfig()
        config = DNSConfig(tuple(cluster_dns), _search_path(pod.namespace, domain, base.searches),
                           DEFAULT_OPTIONS)
    elif host is None:
        # Without --resolv-conf the kubelet points the pod at the node itself, as a
        # resolver with no nameserver line would (127.0.0.1, for a node whose IPs are
        # IPv4 or unknown), and searches nothing.
        config = DNSConfig(("127.0.0.1",), (".",))
    else:
        config = host
    if pod.dns_config is not None:
        config = DNSConfig(
            _unique(config.nameservers + pod.dns_config.nameservers),
            _unique(config.searches + pod.dns_config.searches),
            merge_options(config.options, pod.dns_config.options))
    config, trimmed = fit_limits(config)
    return replace(config, options=tuple(sorted(config.options, key=_name))), warnings + trimmed


def merge_options(base: Sequence[Option], extra: Sequence[Option]) -> tuple[Option, ...]:
    """`base` with `extra` laid over it by name: the pod's value wins (mergeDNSOptions).

    An empty value is written bare (`debug`), as the kubelet writes both a missing value
    and an empty one.
    """
    merged = {name: value or None for name, value in base}
    merged.update((name, value or None) for name, value in extra)
    return tuple(merged.items())


def _search_path(namespace: str, domain: str, host_searches: Sequence[str]) -> tuple[str, ...]:
    """The cluster's search domains for a pod in `namespace`, then the node's, each once.

    With no cluster domain the node's alone, as the kubelet does.
    """
    if not domain:
        return tuple(host_searches)
    return _unique((f"{namespace}.svc.{domain}", f"svc.{domain}", domain, *host_searches))


def _pod_dns_type(pod: PodDNS, warnings: list[str]) -> str:
    """The kubelet's getPodDNSType: ClusterFirst on the host network means the host's DNS."""
    policy = pod.dns_policy
    if policy not in (CLUSTER_FIRST, CLUSTER_FIRST_WITH_HOST_NET, DEFAULT, NONE):
        # The API server refuses such a pod; the kubelet logs and carries on.
        warnings.append(f"invalid DNSPolicy={policy}: falling back to {CLUSTER_FIRST} policy")
        policy = CLUSTER_FIRST
    if policy == NONE:
        return _NONE
    if policy == CLUSTER_FIRST_WITH_HOST_NET or (policy == CLUSTER_FIRST and not pod.host_network):
        return _CLUSTER
    return _HOST


def fit_limits(config: DNSConfig) -> tuple[DNSConfig, list[str]]:
    """`config` within the kubelet's limits, and a warning for each part it trimmed.

    The kubelet's formDNSConfigFitsLimits: at most 3 nameservers; then at most 32 search
    domains, none over 253 characters, and domains dropped from the end until the search
    line is at most 2048 characters.
    """
    warnings = []
    servers = config.nameservers
    if len(servers) > MAX_NAMESERVERS:
        servers = servers[:MAX_NAMESERVERS]
        warnings.append("DNSConfigForming: Nameserver limits were exceeded, some nameservers "
                        f"have been omitted, the applied nameserver line is: {' '.join(servers)}")
    searches = config.searches[:MAX_SEARCH_DOMAINS]
    searches = tuple(d for d in searches if len(d) <= MAX_DOMAIN_CHARS)
    while len(" ".join(searches)) > MAX_SEARCH_CHARS:
        searches = searches[:-1]
    if searches != config.searches:
        warnings.append("DNSConfigForming: Search Line limits were exceeded, some search paths "
                        f"have been omitted, the applied search line is: {' '.join(searches)}")
    return DNSConfig(servers, searches, config.options), warnings


def _name(entry: Option) -> str:
    return entry[0]


def _unique(items: Sequence[str]) -> tuple[str, ...]:
    """`items` without repeats, each where it first appears (the kubelet's omitDuplicates)."""
    return tuple(dict.fromkeys(items))
