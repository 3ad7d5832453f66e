"""The cluster zone: every record the manifests imply, indexed for lookup. Pure.

`build` does all the Kubernetes reasoning once (which endpoints are ready, which pods a
selector picks, which names exist), so answering a question is a dictionary lookup. The
rules follow the Kubernetes DNS specification and CoreDNS's `kubernetes` plugin; where
they differ, CoreDNS wins (see docs/records.md).
"""

from __future__ import annotations

import ipaddress
import itertools
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from .. import shards
from ..freeing import STEP, empty, empty_mapping
from ..shards import Shards, Table
from ..source.model import (
    EXTERNAL_NAME,
    NO_PORT,
    Cluster,
    EndpointAddress,
    EndpointPort,
    Pod,
    Service,
    ServicePort,
)
from . import hostnames
from .hostnames import Hostnames
from .records import AAAA, CNAME, NS, PTR, SOA, SRV, TXT, A, Record, fqdn
from .settings import DNS_SCHEMA_VERSION, ZoneSettings

# A name's records by type, as a question sees them; an empty mapping is a name that
# exists with no records (an empty non-terminal such as `default.svc.cluster.local`).
Node = Mapping[int, tuple[Record, ...]]
# A ready (or published) address with the ports it serves.
Endpoint = tuple[EndpointAddress, tuple[EndpointPort, ...]]
ServiceEndpoints = shards.Table[tuple[str, str], list[Endpoint]]  # by namespace and name

# Past this many names a dict's growth holds the interpreter lock for more than ~3 ms
# (its table moves whole): a reload beside a bigger zone builds in `Shards`.
SHARDED_NAMES = 100_000
SCHEMA_TTL = 28800  # dns-version TXT, as the specification's example and CoreDNS use
SOA_TTL_CAP = 300


@dataclass(frozen=True)
class Zone:
    """An immutable snapshot of the cluster zone and the reverse names it owns."""

    origin: str
    ttl: int
    pods_mode: str
    soa: Record
    # Every record of a name in one tuple, types in turn: most names have one type, and a
    # mapping per name would be the largest part of a big zone (a fifth of 10,000
    # services' memory). `lookup` groups them when a question needs it.
    nodes: Mapping[str, tuple[Record, ...]]
    # The additional section of a name's SRV answer (its targets' addresses) or, at the
    # apex, its NS answer: the only answers that carry one, never both at one name.
    additional: Mapping[str, tuple[Record, ...]]
    namespaces: frozenset[str]
    pod_ips: frozenset[tuple[str, str]]
    stats: Mapping[str, int] = field(default_factory=dict)
    # What each service contributed, so the next build copies unchanged services instead
    # of making their records again (see `build`'s `previous`).
    parts: Mapping[tuple[str, str], _Part] = field(default_factory=dict, compare=False,
                                                   repr=False)
    # Ingress, Gateway API and LoadBalancer names outside the cluster zone.
    hostnames: Hostnames = field(default_factory=Hostnames)
    # What the zone was built from, so a running server can explain its answers.
    cluster: Cluster = field(default_factory=Cluster, compare=False, repr=False)
    # Apexes of the reverse zones offered to secondaries (`ZoneSettings.reverse_zones`):
    # each holds an SOA like the cluster zone's and its NS.
    reverse_origins: frozenset[str] = frozenset()

    def in_zone(self, name: str) -> bool:
        """Whether a lowercase FQDN is the cluster zone or below it."""
        return name == self.origin or name.endswith("." + self.origin)

    def lookup(self, name: str) -> Node | None:
        """The records of a lowercase FQDN, pod names included; None if it does not exist."""
        records = self.nodes.get(name)
        return by_type(records) if records is not None else self._pod(name)

    def _pod(self, name: str) -> Node | None:
        # <dashed-ip>.<namespace>.pod.<zone>, computed on demand: in insecure mode every
        # address is a name, far too many to list.
        if self.pods_mode == "disabled" or not name.endswith(".pod." + self.origin):
            return None
        labels = name[: -len(".pod." + self.origin)].split(".")
        if len(labels) != 2 or labels[1] not in self.namespaces:
            return None
        ip = address_of_dashed(labels[0])
        if ip is None:
            return None
        if self.pods_mode == "verified" and (labels[1], ip) not in self.pod_ips:
            return None
        rtype = A if ":" not in ip else AAAA
        return {rtype: (Record(name, rtype, self.ttl, ip),)}

    def records(self) -> list[Record]:
        """Every record, sorted as `clusterdns records` shows them; pods with IPs included."""
        out = [r for records in self.nodes.values() for r in records]
        out.extend(self.pod_records())
        out.extend(self.hostnames.all_records())
        return sorted(set(out), key=lambda r: (r.name != self.origin, r.name, r.rtype, r.text()))

    def pod_records(self) -> Iterator[Record]:
        """The dashed names of the pods the manifests give addresses to.

        In insecure mode every address has a dashed name, made when a question names it:
        those cannot be listed, only the ones of known pods.
        """
        if self.pods_mode == "disabled":
            return
        for namespace, ip in sorted(self.pod_ips):  # as `build` orders names: any seed
            name = f"{dashed(ip)}.{namespace}.pod.{self.origin}"
            yield from (r for rrs in (self.lookup(name) or {}).values() for r in rrs)


def by_type(records: tuple[Record, ...]) -> Node:
    """`records` grouped by type, each group in the order it was built."""
    groups: dict[int, list[Record]] = {}
    for record in records:
        groups.setdefault(record.rtype, []).append(record)
    return {rtype: tuple(group) for rtype, group in groups.items()}


def dashed(ip: str) -> str:
    """The dashed form CoreDNS uses in pod and endpoint names (`fd00--1` for `fd00::1`)."""
    if "." in ip:
        return ip.replace(".", "-")
    name = ip.replace(":", "-")
    return name + "0" if name.endswith("-") else name


def address_of_dashed(label: str) -> str | None:
    """The IP a dashed pod label stands for, read as CoreDNS reads it; None if none."""
    if label.count("-") == 3 and "--" not in label:
        text = label.replace("-", ".")
    else:
        text = label.replace("-", ":")
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None


def reverse_name(ip: str) -> str:
    """The in-addr.arpa / ip6.arpa name of an address (full nibbles for IPv6).

    The model holds canonical address text, so an IPv4 name is the octets reversed:
    `ipaddress` would parse each address again, a third of a 10,000-service build.
    """
    if ":" not in ip:
        a, b, c, d = ip.split(".")
        return f"{d}.{c}.{b}.{a}.in-addr.arpa."
    return ipaddress.ip_address(ip).reverse_pointer + "."


def _family_type(ip: str) -> int:
    return AAAA if ":" in ip else A


@dataclass(frozen=True, slots=True)
class _Target:
    """One (address, port) pair a service resolves to, as CoreDNS enumerates them."""

    # The A/AAAA record of the SRV target (the service name, or <endpoint>.<service
    # name>): the extra record of every SRV answer that names it.
    address: Record
    port: EndpointPort | ServicePort  # the name, number and protocol an SRV record needs


@dataclass(frozen=True, slots=True)
class _Part:
    """What one service put in a zone, and what from.

    Every name a service makes is its own (`<svc>.<ns>.svc.<zone>` and names below it),
    so when the service and its endpoints are unchanged its names hold the same records
    as before, and the new zone can share the old zone's tuples outright. Only reverse
    names are shared between services; they are rebuilt from these pairs every time.
    """

    service: Service
    endpoints: tuple[Endpoint, ...]
    names: tuple[str, ...]
    # Reverse claims as parallel tuples (address i belongs to name i): a pair per claim
    # would cost a small tuple each, for every address of every service.
    service_ips: tuple[str, ...]
    service_names: tuple[str, ...]
    endpoint_ips: tuple[str, ...]
    endpoint_names: tuple[str, ...]


class _Builder:
    """Collects records name by name, duplicates included until the nodes are frozen."""

    def __init__(self, settings: ZoneSettings, origin: str, previous: Zone | None) -> None:
        self.ttl = settings.ttl
        self.origin = origin
        # A name's additional records, in order and without duplicates (the keys).
        self.additional: dict[str, dict[Record, None]] = defaultdict(dict)
        # What grows with the whole zone is kept in `Shards` when a big zone is being
        # served (a reload builds beside it): no single dict's growth may hold the
        # interpreter lock for long then. Plain dicts are a quarter faster to fill: the
        # first build, before anything is served, and a reload of a smaller zone use them.
        table: type[Shards[Any, Any]] | type[dict[Any, Any]] = (
            Shards if previous is not None and len(previous.nodes) > SHARDED_NAMES
            else dict)
        # The records of each name being built; `node(name)` is its list, made if new.
        self.nodes: Table[str, list[Record]]
        self.node: Callable[[str], list[Record]]
        if table is Shards:
            sharded: Shards[str, list[Record]] = Shards()
            self.nodes, self.node = sharded, sharded.list_at
        else:
            plain: defaultdict[str, list[Record]] = defaultdict(list)
            self.nodes, self.node = plain, plain.__getitem__
        # Reverse claims: an address's service, and its endpoint names (the first here,
        # any more in `ptr_more`; a list per address would be 100,000 lists to free).
        self.ptr_service: Table[str, str] = table()
        self.ptr_endpoints: Table[str, str] = table()
        self.ptr_more: dict[str, list[str]] = defaultdict(list)
        # Names and additional sections taken whole from the previous zone; the built
        # ones join them at the end (`build`).
        self.kept: Table[str, tuple[Record, ...]] = table()
        self.kept_additional: Table[str, tuple[Record, ...]] = table()
        self.parts: Table[tuple[str, str], _Part] = table()
        self.carried: list[tuple[str, ...]] = []  # the kept services' names
        same_rules = previous is not None and (previous.origin, previous.ttl, previous.pods_mode) \
            == (origin, settings.ttl, settings.pods)
        self.previous = previous if same_rules else None
        # What the service being built adds: its names and every reverse claim it makes
        # (a claim another service already holds still counts: that one may be gone next
        # time).
        self._names: dict[str, None] | None = None
        self._service_ips: list[str] = []
        self._service_names: list[str] = []
        self._endpoint_ips: list[str] = []
        self._endpoint_names: list[str] = []

    def add(self, name: str, rtype: int, data: object, ttl: int | None = None) -> Record:
        """Add a record (once) and return it."""
        record = Record(name, rtype, self.ttl if ttl is None else ttl, data)  # type: ignore[arg-type]
        self.node(name).append(record)  # duplicates go when the node is frozen (`build`)
        if self._names is not None:
            self._names[name] = None
        return record

    def exists(self, name: str) -> None:
        self.node(name)
        if self._names is not None:
            self._names[name] = None

    def address(self, name: str, ip: str) -> Record:
        return self.add(name, _family_type(ip), ip)

    def srv(self, name: str, targets: list[_Target]) -> None:
        """SRV records as CoreDNS writes them: priority 0, weight 100/n, A/AAAA extra.

        n counts every (address, port) pair before duplicates and port-less pairs are
        dropped, which is why a dual-stack service's single SRV has weight 50.
        """
        if not targets:
            return
        weight = max(1, 100 // len(targets))
        for target in targets:
            if target.port.port == NO_PORT:
                continue
            extra = target.address
            self.add(name, SRV, (0, weight, target.port.port, extra.name))
            self.additional[name][extra] = None
        self.exists(name)  # even when every target was port-less: the name is there

    def service(self, service: Service, endpoints: list[Endpoint]) -> None:
        """Add a service's records: copied from the previous zone when nothing changed."""
        old = self.previous.parts.get(service.key) if self.previous else None
        if old is not None and old.service == service and list(old.endpoints) == endpoints:
            self._keep(old)
            return
        self._names = {}
        self._service_ips, self._service_names = [], []
        self._endpoint_ips, self._endpoint_names = [], []
        try:
            self._service(service, endpoints)
            self.parts[service.key] = _Part(
                service, tuple(endpoints), tuple(self._names), tuple(self._service_ips),
                tuple(self._service_names), tuple(self._endpoint_ips),
                tuple(self._endpoint_names))
        finally:
            self._names = None

    def _keep(self, part: _Part) -> None:
        assert self.previous is not None
        self.carried.append(part.names)  # taken all at once: see `carry_over`
        for ip, name in zip(part.service_ips, part.service_names, strict=True):
            self.ptr_service.setdefault(ip, name)
        for ip, name in zip(part.endpoint_ips, part.endpoint_names, strict=True):
            self._claim_endpoint(ip, name)
        self.parts[part.service.key] = part

    def carry_over(self) -> None:
        """Take the unchanged services' names from the previous zone, in their order."""
        if self.previous is not None:
            names = itertools.chain.from_iterable(self.carried)
            shards.carry(self.kept, self.previous.nodes, names)
            names = itertools.chain.from_iterable(self.carried)
            shards.carry(self.kept_additional, self.previous.additional, names)
        empty(self.carried)

    def _claim_endpoint(self, ip: str, name: str) -> None:
        if self.ptr_endpoints.setdefault(ip, name) is not name:
            self.ptr_more[ip].append(name)

    def _service(self, service: Service, endpoints: list[Endpoint]) -> None:
        name = f"{service.name}.{service.namespace}.svc.{self.origin}"
        if service.type == EXTERNAL_NAME:
            self.add(name, CNAME, service.external_name + ".")
            return
        # Endpoint names (<hostname>.<service>) resolve for every service with endpoints,
        # headless or not, as in CoreDNS; the service name itself differs.
        addresses = []
        for address, _ in endpoints:
            host = f"{endpoint_label(address)}.{name}"
            addresses.append(self.address(host, address.ip))
            self._claim_endpoint(address.ip, host)
            self._endpoint_ips.append(address.ip)
            self._endpoint_names.append(host)
        if service.headless:
            targets = [
                _Target(record, port)
                for record, (_, ports) in zip(addresses, endpoints, strict=True)
                for port in ports
            ]
            if not targets:
                return  # no ready endpoints: NXDOMAIN, as the specification says
            for address, _ in endpoints:
                self.address(name, address.ip)
        else:
            records = []
            for ip in service.cluster_ips:
                records.append(self.address(name, ip))
                self.ptr_service.setdefault(ip, name)
                self._service_ips.append(ip)
                self._service_names.append(name)
            targets = [_Target(record, port) for port in service.ports for record in records]
        self.srv(name, targets)
        named = {(t.port.name, t.port.protocol.lower()) for t in targets if t.port.name}
        for port_name, protocol in sorted(named):
            self.srv(
                f"_{port_name}._{protocol}.{name}",
                [t for t in targets
                 if t.port.name == port_name and t.port.protocol.lower() == protocol],
            )
        # Freed whole on return, 100,000 targets are one cascade of deallocations in C,
        # tens of milliseconds with the interpreter lock held while the server waits to
        # answer; slice by slice, the lock changes hands in between.
        empty(targets)

    def reverse(self) -> None:
        for ip, name in self.ptr_service.items():
            self._ptr(reverse_name(ip), (name,))
        for ip, first in self.ptr_endpoints.items():
            if ip not in self.ptr_service:
                more = self.ptr_more.get(ip)
                self._ptr(reverse_name(ip),
                          tuple(dict.fromkeys((first, *more))) if more else (first,))

    def _ptr(self, name: str, targets: tuple[str, ...]) -> None:
        old = self.previous.nodes.get(name) if self.previous else None
        if old is not None and len(old) == len(targets) and all(
            r.rtype == PTR and r.ttl == self.ttl and r.data == t
            for r, t in zip(old, targets, strict=True)
        ):
            self.kept[name] = old
            return
        # Straight in: each address has its own reverse name, which gets its targets once
        # (`reverse` dedupes them).
        self.node(name).extend(Record(name, PTR, self.ttl, target) for target in targets)

    def fill_empty_non_terminals(self) -> None:
        suffix = "." + self.origin
        nodes, kept = self.nodes, self.kept  # looked up once: this runs for every name
        # The kept names are walked in place: a list of all 500,000 names would be one
        # 4 MB allocation first touched with the interpreter lock held.
        for name in itertools.chain(list(nodes), kept):
            while name.endswith(suffix):
                name = name.split(".", 1)[1]
                if name in nodes or name in kept:
                    break
                self.exists(name)


def _frozen(records: list[Record]) -> tuple[Record, ...]:
    """A name's records as the zone keeps them: a tuple, each record once."""
    return tuple(_unique(records) if len(records) > STEP
                 else dict.fromkeys(records) if len(records) > 1 else records)


def _unique(records: list[Record]) -> list[Record]:
    """`records` without repeats, in order, for a name with very many (a headless service
    of 100,000 endpoints): `dict.fromkeys` would grow one dict of them in a single C call,
    6 ms with the interpreter lock held, and free it in another."""
    seen: Shards[Record, None] = Shards()
    unique = []
    for record in records:
        if record not in seen:
            seen[record] = None
            unique.append(record)
    seen.release()
    empty(records)
    return unique


def endpoint_label(address: EndpointAddress) -> str:
    """An endpoint's first label: its hostname, else its dashed IP (CoreDNS)."""
    return address.hostname or dashed(address.ip)


def service_endpoints(cluster: Cluster) -> ServiceEndpoints:
    """The endpoints of every service, as an endpoints controller would publish them.

    Hand-written Endpoints or EndpointSlices of the service's name win; otherwise a
    selector picks the namespace's pods that have an IP. Not-ready addresses are dropped
    unless the service publishes them.
    """
    written: ServiceEndpoints = shards.table_for(len(cluster.endpoints))
    for endpoint_set in cluster.endpoints:
        key = (endpoint_set.namespace, endpoint_set.service)
        written.setdefault(key, []).extend(
            (a, endpoint_set.ports) for a in endpoint_set.addresses)
    by_label = pods_by_label(cluster.pods)
    result: ServiceEndpoints = shards.table_for(len(cluster.services))
    for service in cluster.services:
        if service.type == EXTERNAL_NAME:
            continue
        key = service.key
        if key in written:
            entries = written[key]
        elif service.selector:
            entries = []
            for pod in selected(by_label, service):
                if not pod.ips:
                    continue
                hostname = pod.hostname if pod.subdomain == service.name else ""
                ports = tuple(p.endpoint_port(pod) for p in service.ports)
                ports = tuple(p for p in ports if p.port != NO_PORT) or (EndpointPort("", NO_PORT),)
                entries.extend(
                    (EndpointAddress(ip, hostname, pod.ready, pod.name), ports) for ip in pod.ips
                )
        else:
            entries = []
        result[key] = (entries if service.publish_not_ready
                       else [entry for entry in entries if entry[0].ready])
    # Let go a key at a time: 50,000 services' lists and key pairs freed at once held
    # the lock for 16 ms. The lists a service took are still the result's.
    shards.empty_table(written)
    return result


def release(endpoints: ServiceEndpoints) -> None:
    """Empty what `service_endpoints` gave, a slice at a time, once it is used.

    Each endpoint is a pair made for the mapping; freed with it at once, 100,000 of them
    are one cascade of deallocations, ~9 ms with the interpreter lock held while a
    reload thread keeps the server from answering.
    """
    for entries in endpoints.values():
        empty(entries)
    shards.empty_table(endpoints)  # the key pairs too


PodIndex = Mapping[tuple[str, str, str], list[Pod]]


def pods_by_label(pods: Iterable[Pod]) -> PodIndex:
    """Pods by (namespace, label key, label value), so a selector looks at the pods that
    carry one of its labels instead of every pod of the namespace."""
    index: dict[tuple[str, str, str], list[Pod]] = defaultdict(list)
    for pod in pods:
        for key, value in pod.labels:
            index[pod.namespace, key, value].append(pod)
    return index


def selected(index: PodIndex, service: Service) -> list[Pod]:
    """The pods `service`'s selector picks, in the order the pods were loaded."""
    assert service.selector
    candidates = min((index.get((service.namespace, k, v), []) for k, v in service.selector),
                     key=len)
    return [pod for pod in candidates if pod.matches(service.selector)]


def build(cluster: Cluster, settings: ZoneSettings | None = None, serial: int = 0,
          previous: Zone | None = None,
          endpoints: Mapping[tuple[str, str], list[Endpoint]] | None = None) -> Zone:
    """Compute every record of the cluster zone from the loaded manifests.

    `serial` is the SOA serial; the caller passes a clock reading so this stays pure.
    `previous` is the zone this one replaces: a service whose manifest and endpoints did
    not change keeps its records from there, the same objects, so a reload makes only
    what changed and the two zones it briefly holds share the rest. The result is the
    same as a build without it. `endpoints` are the cluster's `service_endpoints`, when
    the caller has them already.
    """
    settings = settings or ZoneSettings()
    origin = fqdn(settings.domain)
    b = _Builder(settings, origin, previous)
    ns_name = f"ns.dns.{origin}"
    soa = Record(
        origin, SOA, min(settings.ttl, SOA_TTL_CAP),
        (ns_name, f"hostmaster.{origin}", serial & 0xFFFFFFFF, 7200, 1800, 86400, settings.ttl),
    )
    b.node(origin).append(soa)
    b.add(origin, NS, ns_name)
    for ip in settings.ns_addresses:
        b.address(ns_name, ip)
        b.additional[origin][Record(ns_name, _family_type(ip), settings.ttl, ip)] = None
    reverse_origins = frozenset(fqdn(zone) for zone in settings.reverse_zones)
    # Sets walked in sorted order: the zone's names, and so a transfer's records, come in
    # the same order in every process, whatever its hash seed.
    for reverse in sorted(reverse_origins):
        b.node(reverse).append(Record(reverse, SOA, soa.ttl, soa.data))
        b.add(reverse, NS, ns_name)
    b.add(f"dns-version.{origin}", TXT, DNS_SCHEMA_VERSION, SCHEMA_TTL)
    b.exists(f"svc.{origin}")
    b.exists(f"pod.{origin}")

    for namespace in sorted(cluster.namespaces):
        b.exists(f"{namespace}.svc.{origin}")
        if settings.pods != "disabled":
            b.exists(f"{namespace}.pod.{origin}")

    if endpoints is None:
        endpoints = service_endpoints(cluster)
    for service in cluster.services:
        b.service(service, endpoints.get(service.key, []))
    b.carry_over()
    # Sums over a generator, not map: C's loop over a million nodes never lets go of the
    # interpreter lock (13 ms for 50,000 services, a reload thread's hold on the server).
    endpoint_count = sum(len(entries) for entries in endpoints.values())
    b.reverse()
    b.fill_empty_non_terminals()

    # Freeze each node where it stands, so the builder's lists are freed as the tuples are
    # made: a second full copy would raise a 10,000-service build's peak by a fifth.
    # Duplicates (two endpoints of one address) are dropped here, name by name: a set of
    # every record would cost a hash more per record, and its growth and its end each
    # hold the interpreter lock for milliseconds on a big zone.
    nodes = b.kept
    if isinstance(b.nodes, Shards):
        for name, records in b.nodes.items():
            nodes[name] = _frozen(records)
        b.nodes.release()
    else:
        for name in list(b.nodes):
            nodes[name] = _frozen(b.nodes.pop(name))
    additional = b.kept_additional
    for name, extra in b.additional.items():
        additional[name] = tuple(extra)
    if previous is not None:
        # Beside a served zone, the builder's own maps go a step at a time: left to die
        # with it on return, their 200,000 entries held the interpreter lock for 8 ms.
        # (The first build lets them go at once: 20 ms sooner for 10,000 services.)
        shards.empty_table(b.ptr_service)
        shards.empty_table(b.ptr_endpoints)
        empty_mapping(b.additional)
        empty_mapping(b.ptr_more)
    pod_ips = frozenset((p.namespace, ip) for p in cluster.pods for ip in p.ips)
    claimed = hostnames.build(cluster.hostnames, cluster.external_zone, origin, settings.ttl,
                              soa)
    # As `records()` lists them: a pod's dashed name is one more record per address.
    records = sum(len(node) for node in shards.unordered_values(nodes)) + len(
        claimed.all_records())
    if settings.pods != "disabled":
        records += len(pod_ips)
    return Zone(
        origin=origin,
        ttl=settings.ttl,
        pods_mode=settings.pods,
        soa=soa,
        nodes=nodes,
        additional=additional,
        namespaces=cluster.namespaces,
        pod_ips=pod_ips,
        stats={
            "services": len(cluster.services),
            "pods": len(cluster.pods),
            "endpoints": endpoint_count,
            "names": len(nodes),
            "records": records,
        },
        parts=b.parts,
        hostnames=claimed,
        cluster=cluster,
        reverse_origins=reverse_origins,
    )
