"""The cluster as clusterdns sees it: plain frozen values, parsed once at the edge.

Kubernetes spreads what DNS needs over Services, Pods, Endpoints and EndpointSlices.
Everything here is already validated and normalised (lowercase where DNS compares
case-insensitively, canonical IP text), so the zone builder never re-checks input.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from .poddns import PodDNS

CLUSTER_IP = "ClusterIP"
NODE_PORT = "NodePort"
LOAD_BALANCER = "LoadBalancer"
EXTERNAL_NAME = "ExternalName"
SERVICE_TYPES = (CLUSTER_IP, NODE_PORT, LOAD_BALANCER, EXTERNAL_NAME)

# A port with no number, as CoreDNS marks endpoints that declare no ports: they still
# give A/AAAA records but no SRV record.
NO_PORT = -1


@dataclass(frozen=True, slots=True)
class ServicePort:
    """One entry of `spec.ports`; `name` is "" for an unnamed port."""

    name: str
    port: int
    protocol: str = "TCP"
    target_port: int | str | None = None

    def endpoint_port(self, pod: Pod | None = None) -> EndpointPort:
        """The port an endpoint controller would publish for this service port on `pod`.

        A named targetPort is looked up in the pod's container ports; when it cannot be
        resolved the port is left out, as the endpoints controller does.
        """
        target = self.target_port
        if target is None:
            number = self.port
        elif isinstance(target, int):
            number = target
        else:
            number = dict(pod.container_ports).get(target, NO_PORT) if pod else NO_PORT
        return EndpointPort(self.name, number, self.protocol)


@dataclass(frozen=True, slots=True)
class Service:
    """A Service; `cluster_ips` is empty for headless and ExternalName services."""

    namespace: str
    name: str
    type: str = CLUSTER_IP
    cluster_ips: tuple[str, ...] = ()
    headless: bool = False
    external_name: str = ""
    selector: tuple[tuple[str, str], ...] | None = None
    ports: tuple[ServicePort, ...] = ()
    publish_not_ready: bool = False
    ip_families: tuple[str, ...] = ()
    load_balancer: Destination = field(default_factory=lambda: Destination())

    @property
    def key(self) -> tuple[str, str]:
        return (self.namespace, self.name)

    @property
    def needs_cluster_ip(self) -> bool:
        """True for a ClusterIP-like service whose manifest leaves the address to us."""
        return self.type != EXTERNAL_NAME and not self.headless and not self.cluster_ips


@dataclass(frozen=True, slots=True)
class Pod:
    """A Pod: written in a manifest, or made from a workload as its controller would.

    A written Pod's IPs come from `status.podIP(s)`, since no kubelet reports them; a
    generated pod's (`owner` set) are derived from the pod range when the cluster is put
    together.
    """

    namespace: str
    name: str
    labels: tuple[tuple[str, str], ...] = ()
    hostname: str = ""
    subdomain: str = ""
    ips: tuple[str, ...] = ()
    ready: bool = True
    container_ports: tuple[tuple[str, int], ...] = ()
    owner: str = ""  # "StatefulSet shop/db" for a generated pod; "" for a written one
    dns: PodDNS | None = None  # what the kubelet reads to write its resolv.conf

    @property
    def key(self) -> tuple[str, str]:
        return (self.namespace, self.name)

    def matches(self, selector: tuple[tuple[str, str], ...]) -> bool:
        """Whether every key=value of a service selector is among this pod's labels."""
        labels = dict(self.labels)
        return all(labels.get(k) == v for k, v in selector)


@dataclass(frozen=True, slots=True)
class PodTemplate:
    """What a workload's pod template says that DNS needs: the pods' labels and names."""

    labels: tuple[tuple[str, str], ...] = ()
    hostname: str = ""
    subdomain: str = ""
    container_ports: tuple[tuple[str, int], ...] = ()
    dns: PodDNS | None = None


@dataclass(frozen=True, slots=True)
class Workload:
    """A controller that makes pods: Deployment, ReplicaSet, ReplicationController,
    StatefulSet, DaemonSet or Job, reduced to how many pods it runs and what they look like.
    """

    kind: str
    namespace: str
    name: str
    template: PodTemplate
    replicas: int = 1  # pods at once; for a DaemonSet, pods per node
    service_name: str = ""  # StatefulSet: its pods' subdomain
    first_ordinal: int = 0  # StatefulSet: spec.ordinals.start
    indexed: bool = False  # Job with completionMode Indexed

    @property
    def owner(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}"


@dataclass(frozen=True, slots=True)
class EndpointPort:
    name: str
    port: int
    protocol: str = "TCP"


@dataclass(frozen=True, slots=True)
class EndpointAddress:
    ip: str
    hostname: str = ""
    ready: bool = True
    target: str = ""


@dataclass(frozen=True, slots=True)
class EndpointSet:
    """One Endpoints subset or one EndpointSlice: addresses that share a port list.

    Both API shapes normalise to this, joined to their service by `service`.
    """

    namespace: str
    service: str
    addresses: tuple[EndpointAddress, ...]
    ports: tuple[EndpointPort, ...]
    source: str = ""


@dataclass(frozen=True, slots=True)
class Cluster:
    """Everything loaded from the manifests, ready for the zone builder."""

    services: tuple[Service, ...] = ()
    pods: tuple[Pod, ...] = ()
    endpoints: tuple[EndpointSet, ...] = ()
    namespaces: frozenset[str] = field(default_factory=frozenset)
    # Names outside the cluster zone that Ingresses, Gateway API routes and LoadBalancer
    # Services claim, served or not (see source/hostnames.py), and `--external-zone`.
    hostnames: tuple[HostnameClaim, ...] = ()
    external_zone: str = ""
    # (kind, namespace, name) -> (file, document) of every object read, so an answer
    # can name where each of its records came from (`clusterdns explain`).
    origins: Mapping[tuple[str, str, str], tuple[str, int]] = field(default_factory=dict)

    def summary(self) -> str:
        """A one-line count of what was loaded, for logs and `clusterdns check`."""
        return (
            f"{len(self.services)} services, {len(self.pods)} pods, "
            f"{len(self.endpoints)} endpoint sets, {len(self.namespaces)} namespaces"
        )


@dataclass(frozen=True, slots=True)
class Destination:
    """Where a load balancer takes a hostname, as `status.loadBalancer.ingress` and a
    Gateway's `addresses` list it: IP addresses (A/AAAA), or hostnames (a CNAME)."""

    ips: tuple[str, ...] = ()
    hostnames: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.ips or self.hostnames)


@dataclass(frozen=True, slots=True)
class Ingress:
    """An Ingress, reduced to the hostnames it routes and where its controller listens.

    `hosts` are `spec.rules[].host` then `spec.tls[].hosts`, lowercase, each once;
    `*.shop.test` is a wildcard for one label. `created` is `metadata.creationTimestamp`
    as UTC `YYYY-MM-DDTHH:MM:SSZ` ("" when the manifest has none): the older rule wins a
    hostname two Ingresses claim.
    """

    namespace: str
    name: str
    hosts: tuple[str, ...] = ()
    status: Destination = field(default_factory=lambda: Destination())
    created: str = ""


@dataclass(frozen=True, slots=True)
class Listener:
    """One entry of a Gateway's `spec.listeners`: which hostnames and routes it accepts.

    `hostname` "" accepts every hostname; `kinds` are the route kinds it allows
    (`allowedRoutes.kinds`, or the protocol's defaults); `namespaces` is
    `allowedRoutes.namespaces.from`.
    """

    name: str
    hostname: str = ""
    port: int = 0
    protocol: str = "HTTP"
    kinds: tuple[str, ...] = ()
    namespaces: str = "Same"


@dataclass(frozen=True, slots=True)
class Gateway:
    """A Gateway API Gateway: its listeners and the addresses it is reached on."""

    namespace: str
    name: str
    listeners: tuple[Listener, ...] = ()
    status_addresses: Destination = field(default_factory=lambda: Destination())
    spec_addresses: Destination = field(default_factory=lambda: Destination())
    created: str = ""


@dataclass(frozen=True, slots=True)
class ParentRef:
    """A route's `parentRefs` entry naming a Gateway (other parents are not read)."""

    namespace: str
    name: str
    section: str = ""  # sectionName: one listener by name
    port: int = 0  # one listener by port; 0 for any


@dataclass(frozen=True, slots=True)
class Route:
    """An HTTPRoute, GRPCRoute or TLSRoute: its hostnames and the Gateways it attaches to.

    Wildcards (`*.shop.test`) are suffix matches here, as the Gateway API defines them.
    """

    kind: str
    namespace: str
    name: str
    hostnames: tuple[str, ...] = ()
    parents: tuple[ParentRef, ...] = ()
    created: str = ""


@dataclass(frozen=True, slots=True)
class HostnameClaim:
    """One hostname outside the cluster zone that an object claims, and what it answers.

    `name` is lowercase without the trailing dot, `*.` first for a wildcard: one label
    for an Ingress (`deep` False), any number for the Gateway API (`deep` True). `ips`
    answer A/AAAA, else `target` answers as a CNAME. `via` says where they came from
    (`status.loadBalancer.ingress`, `--ingress-address`, ...) and `via_object` the object
    holding them when it is not the claimant (a Gateway, the ingress controller's
    Service). `unserved` says why the claim is not answered ("" when it is).
    """

    name: str
    owner: tuple[str, str, str]  # (kind, namespace, name)
    ips: tuple[str, ...] = ()
    target: str = ""
    deep: bool = False
    via: str = ""
    via_object: tuple[str, str, str] | None = None
    unserved: str = ""

    @property
    def owner_text(self) -> str:
        kind, namespace, name = self.owner
        return f"{kind} {namespace}/{name}"
