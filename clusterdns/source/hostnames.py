"""Which addresses each hostname outside the cluster zone gets. Pure.

The names people type in a browser live in Ingress hosts, Gateway API route hostnames
and, with `--external-zone`, LoadBalancer Services. No cluster DNS serves them: the
ingress controller or Gateway routes them, and DNS outside the cluster points at it. This
module decides what those controllers would: which objects claim which hostnames, where
the hostnames lead, and which object wins a hostname two claim.

- An Ingress host leads to the Ingress's `status.loadBalancer.ingress`, else to
  `--ingress-address`, else to the cluster IP of the controller's `--ingress-service`.
  Its wildcard `*.shop.test` stands for one label, as the Ingress API defines it.
- A route's hostnames attach to the listeners of the Gateways in its `parentRefs` as the
  Gateway API says (the listener's `hostname` narrows them, `sectionName` and `port` pick
  listeners, `allowedRoutes` may refuse the route) and lead to the Gateway's
  `status.addresses`, else `spec.addresses`, else `--gateway-address`. A wildcard there
  is a suffix match: `*.shop.test` stands for any number of labels.
- A LoadBalancer Service is `<svc>.<ns>.<external zone>`, leading to its
  `status.loadBalancer.ingress`, as CoreDNS's k8s_gateway plugin answers.

Addresses answer A/AAAA; a load balancer known only by hostname answers as a CNAME to it.
When two objects claim one hostname with different answers, the older wins, as ingress
controllers and the Gateway API decide: the earlier `metadata.creationTimestamp`, an
object without one counting as created when applied (after every one with it), and path
order among equals.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from .model import (
    LOAD_BALANCER,
    Destination,
    Gateway,
    HostnameClaim,
    Ingress,
    Listener,
    Route,
    Service,
)
from .problems import ManifestWarning

# (kind, namespace, name) -> (file, document), in path order.
Origins = Mapping[tuple[str, str, str], tuple[str, int]]
Owner = tuple[str, str, str]


@dataclass(frozen=True)
class HostnameOptions:
    """Where hostnames lead when the manifests do not say (`--ingress-address`, ...)."""

    ingress_addresses: tuple[str, ...] = ()
    ingress_service: tuple[str, str] | None = None  # (namespace, name) of the controller
    gateway_addresses: tuple[str, ...] = ()
    external_zone: str = ""  # lowercase, without the trailing dot; "" for none


def ingress_matches(pattern: str, name: str) -> bool:
    """Whether Ingress host `pattern` routes `name`: itself, or for `*.x` one label more
    than `x` (`a.x`, not `a.b.x` nor `x`)."""
    if not pattern.startswith("*."):
        return pattern == name
    first, _, rest = name.partition(".")
    return bool(first) and rest == pattern[2:]


def gateway_matches(pattern: str, name: str) -> bool:
    """Whether Gateway API hostname `pattern` matches `name`: itself, or for `*.x` any
    name ending in `.x` (`a.x` and `a.b.x`, not `x`)."""
    return pattern == name or (pattern.startswith("*.") and name.endswith(pattern[1:]))


def intersection(listener: str, route: str) -> str | None:
    """The hostname a route's `route` serves through a listener with hostname `listener`
    ("" for either: any hostname); None when they do not intersect.

    As the Gateway API defines it: the narrower of the two when one covers the other
    (`*.shop.test` and `web.shop.test` give `web.shop.test`; `*.test` and `*.shop.test`
    give `*.shop.test`), nothing otherwise.
    """
    if not listener or not route:
        return route or listener
    if gateway_matches(listener, route):
        return route
    if gateway_matches(route, listener):
        return listener
    return None


def resolve(ingresses: Sequence[Ingress], gateways: Sequence[Gateway],
            routes: Sequence[Route], services: Sequence[Service], options: HostnameOptions,
            origins: Origins) -> tuple[tuple[HostnameClaim, ...], list[ManifestWarning]]:
    """Every hostname claimed, served or not (`unserved` says why), and check's warnings.

    `services` have their cluster IPs assigned; `origins` lists every object in path
    order, which breaks ties between claims.
    """
    joining = _Join(options, origins, services)
    for ingress in ingresses:
        joining.ingress(ingress)
    by_key = {(g.namespace, g.name): g for g in gateways}
    for route in routes:
        joining.route(route, by_key)
    if options.external_zone:
        for service in services:
            if service.type == LOAD_BALANCER:
                joining.load_balancer(service, options.external_zone)
    return joining.settle()


@dataclass(frozen=True)
class _Lead:
    """Where a claimant's hostnames lead, or why they lead nowhere."""

    ips: tuple[str, ...] = ()
    target: str = ""
    via: str = ""
    via_object: Owner | None = None
    missing: str = ""  # why there is no address ("" when there is one)


def _lead(destination: Destination, via: str, via_object: Owner | None = None) -> _Lead:
    if destination.ips:
        return _Lead(destination.ips, "", via, via_object)
    return _Lead((), destination.hostnames[0], via, via_object)


class _Join:
    """Collects claims, then settles hostnames claimed twice."""

    def __init__(self, options: HostnameOptions, origins: Origins,
                 services: Sequence[Service]) -> None:
        self.options = options
        self.origins = origins
        self._services = services
        self.created: dict[Owner, str] = {}
        self.claims: list[HostnameClaim] = []
        self.warnings: list[ManifestWarning] = []

    # Made when first needed: most clusters claim no hostname, and both index every
    # object (20,000 for 10,000 services).
    @functools.cached_property
    def position(self) -> dict[Owner, int]:
        return {key: i for i, key in enumerate(self.origins)}

    @functools.cached_property
    def services(self) -> dict[tuple[str, str], Service]:
        return {s.key: s for s in self._services}

    def warn(self, owner: Owner, field: str, message: str) -> None:
        kind, namespace, name = owner
        file, doc = self.origins.get(owner, ("", 0))
        self.warnings.append(ManifestWarning(file, doc, field,
                                             f"{kind} {namespace}/{name}: {message}"))

    def ingress(self, ingress: Ingress) -> None:
        owner = ("Ingress", ingress.namespace, ingress.name)
        self.created[owner] = ingress.created
        lead = self._ingress_lead(ingress)
        for host in ingress.hosts:
            self.claims.append(_claim(host, owner, lead, deep=False))
        if lead.missing and ingress.hosts:
            self.warn(owner, "status.loadBalancer.ingress",
                      f"{', '.join(ingress.hosts)} will not resolve: {lead.missing}")

    def _ingress_lead(self, ingress: Ingress) -> _Lead:
        if ingress.status:
            return _lead(ingress.status, "status.loadBalancer.ingress")
        if self.options.ingress_addresses:
            return _Lead(self.options.ingress_addresses, "", "--ingress-address")
        if self.options.ingress_service is None:
            return _Lead(missing="no address: the Ingress has no status.loadBalancer.ingress,"
                                 " and neither --ingress-address nor --ingress-service is "
                                 "given")
        namespace, name = self.options.ingress_service
        service = self.services.get((namespace, name))
        if service is None:
            return _Lead(missing=f"no address: --ingress-service names Service "
                                 f"{namespace}/{name}, which the manifests do not hold")
        if not service.cluster_ips:
            return _Lead(missing=f"no address: Service {namespace}/{name} "
                                 "(--ingress-service) has no cluster IP")
        return _Lead(service.cluster_ips, "", "spec.clusterIP (--ingress-service)",
                     ("Service", namespace, name))

    def route(self, route: Route, gateways: Mapping[tuple[str, str], Gateway]) -> None:
        owner = (route.kind, route.namespace, route.name)
        self.created[owner] = route.created
        wanted = route.hostnames or ("",)
        served: dict[str, list[_Lead]] = defaultdict(list)
        attached: set[str] = set()
        refused: dict[str, list[str]] = defaultdict(list)
        for parent in route.parents:
            gateway = gateways.get((parent.namespace, parent.name))
            if gateway is None:
                for hostname in wanted:
                    refused[hostname].append(f"no Gateway {parent.namespace}/{parent.name}")
                continue
            lead = self._gateway_lead(gateway)
            listeners = [listener for listener in gateway.listeners
                         if parent.section in ("", listener.name)
                         and parent.port in (0, listener.port)]
            for hostname in wanted:
                reasons = []
                for listener in listeners:
                    refusal = _refusal(listener, gateway, route)
                    joined = intersection(listener.hostname, hostname)
                    if refusal:
                        reasons.append(refusal)
                    elif joined is None:
                        reasons.append(f"listener {listener.name} of Gateway "
                                       f"{gateway.namespace}/{gateway.name} accepts only "
                                       f"{listener.hostname}")
                    elif joined:
                        served[joined].append(lead)
                        attached.add(hostname)
                if not listeners:
                    reasons.append(_no_listener(gateway, parent.section, parent.port))
                refused[hostname].extend(reasons)
        for hostname, leads in served.items():
            lead = _merged(leads)
            self.claims.append(_claim(hostname, owner, lead, deep=True))
            if lead.missing:
                self.warn(owner, "spec.parentRefs", f"{hostname} will not resolve: "
                          f"{lead.missing}")
        for hostname in route.hostnames:
            if hostname not in attached:
                why = "; ".join(dict.fromkeys(refused[hostname])) or "it has no parentRefs"
                self.claims.append(HostnameClaim(hostname, owner, deep=True,
                                                 unserved=f"not attached: {why}"))
                self.warn(owner, "spec.hostnames", f"{hostname} will not resolve: not "
                          f"attached to a Gateway listener ({why})")

    def _gateway_lead(self, gateway: Gateway) -> _Lead:
        owner = ("Gateway", gateway.namespace, gateway.name)
        if gateway.status_addresses:
            return _lead(gateway.status_addresses, "status.addresses", owner)
        if gateway.spec_addresses:
            return _lead(gateway.spec_addresses, "spec.addresses", owner)
        if self.options.gateway_addresses:
            return _Lead(self.options.gateway_addresses, "", "--gateway-address", owner)
        return _Lead(missing=f"no address: Gateway {gateway.namespace}/{gateway.name} has "
                             "no status.addresses or spec.addresses, and --gateway-address "
                             "is not given", via_object=owner)

    def load_balancer(self, service: Service, zone: str) -> None:
        owner = ("Service", service.namespace, service.name)
        name = f"{service.name}.{service.namespace}.{zone}"
        if service.load_balancer:
            lead = _lead(service.load_balancer, "status.loadBalancer.ingress")
        else:
            lead = _Lead(missing="no address: the LoadBalancer Service has no "
                                 "status.loadBalancer.ingress")
            self.warn(owner, "status.loadBalancer.ingress",
                      f"{name} will not resolve: {lead.missing}")
        self.claims.append(_claim(name, owner, lead, deep=False))

    def settle(self) -> tuple[tuple[HostnameClaim, ...], list[ManifestWarning]]:
        """The older claim wins a hostname claimed with different answers."""
        groups: dict[str, list[HostnameClaim]] = defaultdict(list)
        for claim in self.claims:
            groups[claim.name].append(claim)
        settled: list[HostnameClaim] = []
        for name in sorted(groups):
            claims = sorted(groups[name], key=self._age)
            winner = next((c for c in claims if not c.unserved), None)
            for claim in claims:
                if winner is None or claim.unserved or _answer(claim) == _answer(winner):
                    settled.append(claim)
                    continue
                why = self._why_first(winner.owner, claim.owner)
                settled.append(replace(claim, unserved=f"{winner.owner_text} claims it too "
                                                       f"and wins: {why}"))
                self.warn(claim.owner, "metadata.creationTimestamp",
                          f"{name} is also claimed by {winner.owner_text}, which wins ({why}); "
                          f"its answer is served, not this one's")
        return tuple(settled), self.warnings

    def _age(self, claim: HostnameClaim) -> tuple[bool, str, int]:
        created = self.created.get(claim.owner, "")
        return (not created, created, self.position.get(claim.owner, len(self.position)))

    def _why_first(self, winner: Owner, loser: Owner) -> str:
        first, second = self.created.get(winner, ""), self.created.get(loser, "")
        if first and second and first != second:
            return f"created {first}, before {second}"
        if first and not second:
            return (f"created {first}, while an object without metadata.creationTimestamp is "
                    "created when applied")
        if first:
            return f"both created {first}; it comes first in path order"
        return "it comes first in path order; neither has metadata.creationTimestamp"


def _claim(name: str, owner: Owner, lead: _Lead, deep: bool) -> HostnameClaim:
    return HostnameClaim(name, owner, lead.ips, lead.target, deep, lead.via, lead.via_object,
                         lead.missing)


def _answer(claim: HostnameClaim) -> tuple[tuple[str, ...], str, bool]:
    return (tuple(sorted(claim.ips)), claim.target, claim.deep)


def _merged(leads: Sequence[_Lead]) -> _Lead:
    """One route's hostname attached to several Gateways: every address of theirs, or the
    first Gateway's hostname when none has addresses."""
    found = [lead for lead in leads if not lead.missing]
    if not found:
        return leads[0]
    with_ips = [lead for lead in found if lead.ips]
    if not with_ips:
        return found[0]
    ips = tuple(dict.fromkeys(ip for lead in with_ips for ip in lead.ips))
    return replace(with_ips[0], ips=ips)


def _refusal(listener: Listener, gateway: Gateway, route: Route) -> str:
    """Why `listener` does not accept `route` by kind or namespace; "" when it does.

    `from: Selector` needs the namespaces' labels, which clusterdns does not read: such a
    listener is taken to accept the route.
    """
    where = f"listener {listener.name} of Gateway {gateway.namespace}/{gateway.name}"
    if route.kind not in listener.kinds:
        return f"{where} does not allow {route.kind}s ({listener.protocol})"
    if listener.namespaces == "Same" and route.namespace != gateway.namespace:
        return (f"{where} allows routes from its own namespace only "
                "(allowedRoutes.namespaces.from: Same)")
    return ""


def _no_listener(gateway: Gateway, section: str, port: int) -> str:
    asked = " and ".join(filter(None, (f"named {section}" if section else "",
                                       f"on port {port}" if port else "")))
    return (f"Gateway {gateway.namespace}/{gateway.name} has no listener"
            + (f" {asked}" if asked else ""))
