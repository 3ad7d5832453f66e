"""Why a name answers as it does: `clusterdns explain` and the server's debug name. Pure.

"Why does this name not resolve?" is the question cluster DNS never answers. Everything
needed is at hand: the zone being served says what the answer is, and the cluster it was
built from (with every object's file and document) says which object made each record
and, for an empty answer, what is missing: a Service in another namespace, a typo, a
headless Service without ready endpoints, the pods mode, a hostname nobody claims.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

from ..source.hostnames import gateway_matches, ingress_matches
from ..source.model import EXTERNAL_NAME, LOAD_BALANCER, Cluster, HostnameClaim, Pod, Service
from .answer import FORWARD, Reply, answer
from .build import Zone, address_of_dashed, dashed, pods_by_label, service_endpoints
from .diagnostics import why_empty
from .records import (
    CNAME,
    NOERROR,
    NS,
    NXDOMAIN,
    PTR,
    REFUSED,
    SERVFAIL,
    SOA,
    SRV,
    TYPE_NAMES,
    Record,
    fqdn,
)

REVERSE_ZONES = (".in-addr.arpa.", ".ip6.arpa.")
RCODE_NAMES = {NOERROR: "NOERROR", SERVFAIL: "SERVFAIL", NXDOMAIN: "NXDOMAIN",
               REFUSED: "REFUSED"}


@dataclass(frozen=True)
class Explanation:
    """What clusterdns answers for one question, where each record came from, and why."""

    name: str
    qtype: int
    outcome: str  # NOERROR, NODATA, NXDOMAIN, REFUSED, or "forwarded"
    records: tuple[tuple[Record, tuple[str, ...]], ...]  # each record and its sources
    reasons: tuple[str, ...]  # why the answer is empty, or what else is worth knowing

    def lines(self) -> list[str]:
        """The explanation as `clusterdns explain` prints it, one line each."""
        out = [f"{self.name} {TYPE_NAMES.get(self.qtype, str(self.qtype))}: {self.outcome}"]
        for record, sources in self.records:
            out.append("  " + record.text().replace("\t", " "))
            out.extend(f"    from {source}" for source in sources)
        label = "note" if self.records else "why"
        out.extend(f"  {label}: {reason}" for reason in self.reasons)
        return out


def explain(zone: Zone, name: str, qtype: int, upstreams: Iterable[str] = ()) -> Explanation:
    """Explain `name`/`qtype` as answered from `zone`; `upstreams` are where names outside
    it go (none: forwarding is off)."""
    return _Explainer(zone, tuple(upstreams)).explain(fqdn(name), qtype)


def near_miss(word: str, candidates: Iterable[str]) -> str | None:
    """The candidate `word` is most likely a typo of: one edit away (two for words over
    four letters), counting a swap of neighbours as one; None if none is."""
    limit = 1 if len(word) <= 4 else 2
    scored = sorted((_distance(word, c), c) for c in set(candidates) if c != word)
    return scored[0][1] if scored and scored[0][0] <= limit else None


def _distance(a: str, b: str) -> int:
    """Edit distance with transpositions (optimal string alignment)."""
    rows = [list(range(len(b) + 1))]
    for i, x in enumerate(a, 1):
        row = [i]
        for j, y in enumerate(b, 1):
            cost = min(rows[-1][j] + 1, row[j - 1] + 1, rows[-1][j - 1] + (x != y))
            if i > 1 and j > 1 and x == b[j - 2] and a[i - 2] == y:
                cost = min(cost, rows[-2][j - 2] + 1)
            row.append(cost)
        rows.append(row)
    return rows[-1][-1]


class _Explainer:
    def __init__(self, zone: Zone, upstreams: tuple[str, ...]) -> None:
        self.zone = zone
        self.cluster: Cluster = zone.cluster
        self.origin = zone.origin
        self.domain = zone.origin.rstrip(".")  # as a user writes it
        self.upstreams = upstreams
        self.services = {s.key: s for s in self.cluster.services}
        self.reasons: list[str] = []

    def explain(self, name: str, qtype: int) -> Explanation:
        result = answer(self.zone, name, qtype)
        if result is FORWARD:
            self._outside(name)
            outcome = "forwarded" if self.upstreams else "REFUSED"
            return Explanation(name, qtype, outcome, (), tuple(self.reasons))
        assert isinstance(result, Reply)
        outcome = RCODE_NAMES.get(result.rcode, str(result.rcode))
        if result.rcode == NOERROR and not result.answer:
            outcome = "NODATA"
        records = tuple((r, self._sources(r)) for r in result.answer)
        if result.chase:
            self._say(f"{result.chase} is not a name clusterdns holds: the server appends its "
                      f"addresses from {self._forwarding()}")
        if not result.answer:
            self._empty(name, qtype, result.rcode)
        self._conflicts(name)
        return Explanation(name, qtype, outcome, records, tuple(self.reasons))

    def _say(self, reason: str) -> None:
        self.reasons.append(reason)

    # Where things came from.

    def _object(self, kind: str, namespace: str, name: str) -> str:
        file, doc = self.cluster.origins.get((kind, namespace, name), ("", 0))
        return f"{kind} {namespace}/{name}" + (f" ({file}: document {doc})" if file else "")

    def _service(self, service: Service) -> str:
        return self._object("Service", service.namespace, service.name)

    def _pod(self, pod: Pod) -> str:
        if not pod.owner:
            return self._object("Pod", pod.namespace, pod.name)
        kind, _, qualified = pod.owner.partition(" ")
        namespace, _, owner = qualified.partition("/")
        return f"Pod {pod.namespace}/{pod.name} of {self._object(kind, namespace, owner)}"

    def _sources(self, record: Record) -> tuple[str, ...]:
        name = record.name
        if not self.zone.in_zone(name) and not name.endswith(REVERSE_ZONES):
            return self._claim_sources(name)
        if record.rtype == PTR:
            name = str(record.data)
        labels = name[: -len(self.origin) - 1].split(".") if name != self.origin else []
        if record.rtype in (SOA, NS) or labels[-1:] not in (["svc"], ["pod"]) or (
                len(labels) < 3):
            return ("the zone itself (--domain, --ttl, --listen)",)
        if labels[-1] == "pod":
            ip = address_of_dashed(labels[0]) or ""
            pods = [p for p in self.cluster.pods if p.namespace == labels[1] and ip in p.ips]
            return tuple(map(self._pod, pods)) or (
                f"--pods {self.zone.pods_mode}: any address in namespace {labels[1]} answers",)
        service = self.services.get((labels[-2], labels[-3]))
        if service is None:
            return ()
        sources = [self._service(service)]
        address = str(record.data) if record.rtype != PTR else _reverse_address(record.name)
        if address and address not in service.cluster_ips and record.rtype not in (SRV, CNAME):
            sources.extend(self._endpoint_sources(service, address))
        return tuple(sources)

    def _endpoint_sources(self, service: Service, ip: str) -> list[str]:
        written = [e for e in self.cluster.endpoints
                   if (e.namespace, e.service) == service.key
                   and any(a.ip == ip for a in e.addresses)]
        if written:
            return [self._object(e.source.partition(" ")[0], e.namespace,
                                 e.source.partition(" ")[2]) for e in written]
        return [self._pod(p) for p in self.cluster.pods
                if p.namespace == service.namespace and ip in p.ips]

    def _claims_of(self, name: str) -> list[HostnameClaim]:
        key = self.zone.hostnames.matching(name)
        return [c for c in self.cluster.hostnames if fqdn(c.name) == key]

    def _claim_sources(self, name: str) -> tuple[str, ...]:
        out = []
        for claim in self._claims_of(name):
            if claim.unserved:
                continue
            via = claim.via
            if claim.via_object is not None:
                via += " of " + self._object(*claim.via_object)
            wildcard = f", by its host {claim.name}" if claim.name.startswith("*.") else ""
            out.append(f"{self._object(*claim.owner)}{wildcard}: {via}")
        apex = self.zone.hostnames.zone_of(name)
        return tuple(out) or ((f"--external-zone {apex.rstrip('.')}",) if apex else ())

    def _conflicts(self, name: str) -> None:
        for claim in self._claims_of(name):
            if claim.unserved and " claims it too and wins" in claim.unserved:
                self._say(f"{self._object(*claim.owner)} claims {claim.name} too and is not "
                          f"served: {claim.unserved}")

    # Why an answer is empty.

    def _empty(self, name: str, qtype: int, rcode: int) -> None:
        if not self.zone.in_zone(name):
            if rcode == NOERROR and self._claims_of(name):
                held = self.zone.hostnames.find(name) or ()
                types = ", ".join(sorted({TYPE_NAMES[r.rtype] for r in held}))
                self._say(f"the name has {types} records only, from "
                          + "; ".join(self._claim_sources(name)))
            self._external(name)
            return
        if rcode == NOERROR:
            node = self.zone.lookup(name) or {}
            held = ", ".join(sorted(TYPE_NAMES.get(t, str(t)) for t in node))
            asked = TYPE_NAMES.get(qtype, str(qtype))
            first = next((records[0] for records in node.values() if records), None)
            made = "; ".join(self._sources(first)) if first else ""
            self._say(f"the name exists with {held} records, none of type {asked}"
                      + (f": {made}" if made else "") if held
                      else "the name exists with no records of its own")
        labels = name[: -len(self.origin) - 1].split(".") if name != self.origin else []
        if labels[-1:] == ["svc"] and len(labels) >= 3:
            self._service_name(labels[:-3], labels[-3], labels[-2], rcode)
        elif labels[-1:] == ["svc"] and len(labels) == 2 and rcode == NXDOMAIN:
            self._namespace(labels[0])
        elif labels[-1:] == ["pod"]:
            self._pod_name(labels[:-1])
        elif rcode == NXDOMAIN:
            self._say(f"not a name the Kubernetes DNS specification defines: services are "
                      f"<service>.<namespace>.svc.{self.domain}, pods "
                      f"<a-b-c-d>.<namespace>.pod.{self.domain}")
        for claim in self.cluster.hostnames:
            if fqdn(claim.name) == name:
                self._say(f"{self._object(*claim.owner)} claims it, but it is inside the "
                          f"cluster zone {self.domain}, whose names are the cluster's")

    def _namespace(self, namespace: str) -> bool:
        """Say so when `namespace` does not exist; whether it exists."""
        if namespace in self.cluster.namespaces:
            return True
        guess = near_miss(namespace, self.cluster.namespaces)
        self._say(f"no namespace {namespace}" + (f"; did you mean {guess}?" if guess else ""))
        return False

    def _missing_service(self, name: str, namespace: str) -> None:
        elsewhere = sorted(s.namespace for s in self.cluster.services if s.name == name)
        if elsewhere:
            other = self.services[elsewhere[0], name]
            self._say(f"Service {name} exists in namespace {', '.join(elsewhere)}, not "
                      f"{namespace}: {self._service(other)}")
            return
        if not self._namespace(namespace):
            return
        guess = near_miss(name, [s.name for s in self.cluster.services
                                 if s.namespace == namespace])
        self._say(f"no Service {name} in namespace {namespace}"
                  + (f"; did you mean {guess}?" if guess else ""))

    def _service_name(self, below: list[str], name: str, namespace: str, rcode: int) -> None:
        service = self.services.get((namespace, name))
        if service is None:
            self._missing_service(name, namespace)
            return
        endpoints = service_endpoints(Cluster((service,), self.cluster.pods,
                                              self.cluster.endpoints)).get(service.key, [])
        if service.headless and not endpoints:
            reason = why_empty(self.cluster, service, pods_by_label(self.cluster.pods))
            self._say(f"headless Service {name} in {namespace} has no ready endpoints: "
                      f"{reason}: {self._service(service)}")
            return
        if not below or rcode != NXDOMAIN:
            return
        if service.type == EXTERNAL_NAME:
            self._say(f"ExternalName Service {name} in {namespace} has its own name only: "
                      f"{self._service(service)}")
        elif below[0].startswith("_") and len(below) == 2:
            ports = sorted({f"_{p.name}._{p.protocol.lower()}" for p in service.ports if p.name})
            asked = ".".join(below)
            guess = near_miss(asked, ports)
            self._say(f"Service {name} in {namespace} has no port {asked} ("
                      + (f"its named ports: {', '.join(ports)}" if ports
                         else "it has no named ports") + f"): {self._service(service)}"
                      + (f"; did you mean {guess}?" if guess else ""))
        elif len(below) == 1:
            labels = sorted({a.hostname or dashed(a.ip) for a, _ in endpoints})
            guess = near_miss(below[0], labels)
            self._say(f"Service {name} in {namespace} has no endpoint named {below[0]} (its "
                      f"endpoints: {', '.join(labels)}): {self._service(service)}"
                      + (f"; did you mean {guess}?" if guess else ""))

    def _pod_name(self, labels: list[str]) -> None:
        if self.zone.pods_mode == "disabled":
            self._say("pods mode is disabled (--pods disabled): no "
                      f"<a-b-c-d>.<namespace>.pod.{self.domain} name exists")
            return
        if len(labels) != 2 or not self._namespace(labels[1]):
            return
        ip = address_of_dashed(labels[0])
        if ip is None:
            self._say(f"{labels[0]} is not an IP address written with dashes "
                      "(10-1-2-3, fd00--1)")
        elif self.zone.pods_mode == "verified":
            self._say(f"pods mode is verified (--pods verified) and no pod in namespace "
                      f"{labels[1]} has address {ip}")

    def _external(self, name: str) -> None:
        """An empty answer in --external-zone or for a claimed hostname."""
        apex = self.zone.hostnames.zone_of(name)
        if apex is None:
            return
        zone = apex.rstrip(".")
        below = name[: -len(apex)].rstrip(".").split(".") if name != apex else []
        if len(below) != 2:
            if below:
                self._say(f"names in {zone} are <service>.<namespace>.{zone}, one for each "
                          "LoadBalancer Service")
            return
        service = self.services.get((below[1], below[0]))
        if service is None:
            self._missing_service(below[0], below[1])
        elif service.type != LOAD_BALANCER:
            self._say(f"Service {below[0]} in {below[1]} is of type {service.type}, not "
                      f"LoadBalancer: only LoadBalancer Services are in {zone}: "
                      f"{self._service(service)}")
        else:
            self._unserved(name)

    # Names outside every zone clusterdns holds.

    def _outside(self, name: str) -> None:
        if name.endswith(REVERSE_ZONES):
            self._say("no Service or endpoint of the cluster has this address")
        elif not self._unserved(name):
            served = {c.name for c in self.cluster.hostnames
                      if not c.unserved and not c.name.startswith("*.")}
            guess = near_miss(name.rstrip("."), served)
            if guess:
                self._say(f"no object claims {name.rstrip('.')}; did you mean {guess}?")
        self._say(f"outside the cluster zone {self.domain}: "
                  + (f"forwarded to {self._forwarding()}" if self.upstreams
                     else "forwarding is off (--upstream none), so it is REFUSED"))

    def _unserved(self, name: str) -> bool:
        """Say why each claim of `name` is not served; whether there was one."""
        claims = [c for c in self.cluster.hostnames
                  if c.unserved and (gateway_matches if c.deep else ingress_matches)(
                      c.name, name.rstrip("."))]
        for claim in claims:
            self._say(f"{self._object(*claim.owner)} claims {claim.name}, but it is not "
                      f"served: {claim.unserved}")
        return bool(claims)

    def _forwarding(self) -> str:
        return ", ".join(self.upstreams) or "nowhere (--upstream none)"


def _reverse_address(name: str) -> str:
    """The address a reverse name stands for."""
    if name.endswith(".in-addr.arpa."):
        return ".".join(reversed(name[: -len(".in-addr.arpa.")].split(".")))
    nibbles = name[: -len(".ip6.arpa.")].split(".")[::-1]
    return str(ipaddress.ip_address(":".join("".join(nibbles[i:i + 4])
                                             for i in range(0, 32, 4))))
