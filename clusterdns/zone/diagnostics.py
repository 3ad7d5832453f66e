"""Names that will be empty, and why: what `check` warns about before anyone asks.

The usual "why does this name not resolve?" has a handful of causes (a selector that
matches nothing, pods with no address, no ready endpoints, a StatefulSet's serviceName
that names no Service, Endpoints with no Service). They are all visible in the model,
so they are found here once, with the object's file and document when known. Pure.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from ..shards import empty_table, table_for
from ..source.model import EXTERNAL_NAME, Cluster, Pod, Service
from ..source.problems import ManifestWarning
from .build import Endpoint, pods_by_label, selected, service_endpoints

# (kind, namespace, name) -> (file, document) of the object, when it came from a file.
Origins = Mapping[tuple[str, str, str], tuple[str, int]]


def empty_names(cluster: Cluster, origin: str, origins: Origins | None = None,
                endpoints: Mapping[tuple[str, str], list[Endpoint]] | None = None
                ) -> list[ManifestWarning]:
    """A warning for each name users will expect to resolve that will not (`origin` is
    the zone's name). `endpoints` are the cluster's `service_endpoints` when the caller
    has them already: the zone build needs them too."""
    where = _locator(origins or {})
    origin = origin.rstrip(".")
    if endpoints is None:
        endpoints = service_endpoints(cluster)
    by_label = pods_by_label(cluster.pods)
    services = table_for(len(cluster.services), ((s.key, s) for s in cluster.services))
    warnings = []
    for service in cluster.services:
        if service.headless and service.type != EXTERNAL_NAME and not endpoints[service.key]:
            reason = why_empty(cluster, service, by_label)
            name = f"{service.name}.{service.namespace}.svc.{origin}"
            warnings.append(where("Service", service.namespace, service.name, "",
                                  f"headless with no ready endpoints: {name} will be "
                                  f"NXDOMAIN ({reason})"))
    for endpoint_set in cluster.endpoints:
        if (endpoint_set.namespace, endpoint_set.service) not in services:
            kind, _, name = endpoint_set.source.partition(" ")
            warnings.append(where(kind or "Endpoints", endpoint_set.namespace,
                                  name or endpoint_set.service, "",
                                  f"no Service {endpoint_set.service} in "
                                  f"{endpoint_set.namespace}: its addresses are not served"))
    warnings.extend(_unreached_hostnames(cluster, services, endpoints, origin, where))
    for claim in cluster.hostnames:
        if claim.name == origin or claim.name.endswith("." + origin):
            warnings.append(where(*claim.owner, "", f"{claim.name} is inside the cluster "
                                  f"zone {origin}: not served (its names are the cluster's)"))
    empty_table(services)  # a key pair made per service: 50,000 freed at once take 5 ms
    return warnings


def why_empty(cluster: Cluster, service: Service, by_label: Mapping) -> str:
    """Why a headless service has no ready endpoint, in a user's words."""
    written = [e for e in cluster.endpoints
               if (e.namespace, e.service) == service.key]
    if written:
        return "its Endpoints/EndpointSlices list no ready address"
    if not service.selector:
        return "no selector, and no Endpoints or EndpointSlice of that name"
    pods = selected(by_label, service)
    labels = ",".join(f"{k}={v}" for k, v in service.selector)
    if not pods:
        return f"selector {labels} matches no Pod or workload in {service.namespace}"
    if not any(pod.ips for pod in pods):
        return (f"the {len(pods)} Pod(s) it selects have no status.podIP (with no kubelet, "
                "a Pod manifest must give it; workloads get one)")
    return f"the {len(pods)} Pod(s) it selects are not ready (publishNotReadyAddresses is off)"


def _unreached_hostnames(cluster: Cluster, services: Mapping[tuple[str, str], Service],
                         endpoints: Mapping, origin: str,
                         where: Callable[..., ManifestWarning]) -> list[ManifestWarning]:
    """Pods whose `hostname.subdomain` name will not exist, one warning per workload."""
    # The pods each service's endpoints name, gathered for the services a pod's subdomain
    # names: most clusters have no such pod, and 10,000 services have 30,000 endpoints.
    listed: dict[tuple[str, str], set[str]] = {}
    seen: set[tuple[str, str, str]] = set()
    warnings = []
    for pod in cluster.pods:
        if not pod.subdomain or not pod.hostname:
            continue
        key = (pod.namespace, pod.subdomain)
        service = services.get(key)
        if service is not None:
            if key not in listed:
                listed[key] = {address.target for address, _ in endpoints.get(key, ())}
            if pod.name in listed[key]:
                continue
        kind, name, field = _owner(pod)
        if (kind, pod.namespace, name) in seen:
            continue
        seen.add((kind, pod.namespace, name))
        fqdn = f"{pod.hostname}.{pod.subdomain}.{pod.namespace}.svc.{origin}"
        if service is None:
            why = f"no Service {pod.subdomain} in {pod.namespace}"
        elif not service.selector:
            why = f"Service {pod.subdomain} has no selector"
        elif not pod.matches(service.selector):
            why = f"Service {pod.subdomain}'s selector does not match the pod's labels"
        else:
            why = "the pod has no address or is not ready"
        warnings.append(where(kind, pod.namespace, name, field,
                              f"{fqdn} will not resolve: {why}"))
    return warnings


def _owner(pod: Pod) -> tuple[str, str, str]:
    """(kind, name, field) of what set a pod's subdomain: its workload, or the Pod."""
    if not pod.owner:
        return "Pod", pod.name, "spec.subdomain"
    kind, _, qualified = pod.owner.partition(" ")
    field = "spec.serviceName" if kind == "StatefulSet" else "spec.template.spec.subdomain"
    return kind, qualified.partition("/")[2], field


def _locator(origins: Origins) -> Callable[..., ManifestWarning]:
    def where(kind: str, namespace: str, name: str, field: str,
              message: str) -> ManifestWarning:
        file, doc = origins.get((kind, namespace, name), ("", 0))
        subject = f"{kind} {namespace}/{name}: "
        return ManifestWarning(file, doc, field, subject + message)
    return where
