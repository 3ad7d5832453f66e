"""One manifest document into model objects: the parsing edge of the whole program.

Each kind DNS reads has a parser that validates exactly the fields DNS needs, with the
API server's rules, and reports every problem with its document and field path. Kinds
DNS does not read (ConfigMaps, CRDs, RBAC, ...) are recorded as skipped, whatever they
hold, so they can never break the zone. The kind is matched with its API group, so a
Knative `Service` (serving.knative.dev) is not mistaken for a core one.
"""

from __future__ import annotations

import datetime
import ipaddress
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from . import poddns
from .model import (
    EXTERNAL_NAME,
    LOAD_BALANCER,
    NO_PORT,
    SERVICE_TYPES,
    Destination,
    EndpointAddress,
    EndpointPort,
    EndpointSet,
    Gateway,
    Ingress,
    Listener,
    ParentRef,
    Pod,
    PodTemplate,
    Route,
    Service,
    ServicePort,
    Workload,
)
from .problems import ManifestError, ManifestWarning, shown

SERVICE_NAME_LABEL = "kubernetes.io/service-name"
TOLERATE_UNREADY = "service.alpha.kubernetes.io/tolerate-unready-endpoints"
PROTOCOLS = ("TCP", "UDP", "SCTP")

# RFC 1035 labels for Service names, RFC 1123 labels for the rest (as the API server checks).
_RFC1035_LABEL = re.compile(r"[a-z]([-a-z0-9]{0,61}[a-z0-9])?\Z")
_RFC1123_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\Z")
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
# An IPv4 address as `ipaddress` writes it (no leading zeros): read back unchanged.
_CANONICAL_IPV4 = re.compile(rf"(?:{_OCTET}\.){{3}}{_OCTET}")
_RFC1123_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?\Z")
# An Ingress or Gateway API hostname: RFC 1123 labels, a lone `*` allowed as the first.
_HOSTNAME = re.compile(r"(\*\.)?[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?"
                       r"(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*\Z")
GATEWAY_GROUP = "gateway.networking.k8s.io"
ROUTE_KINDS = ("HTTPRoute", "GRPCRoute", "TLSRoute")
# The route kinds a listener accepts when `allowedRoutes.kinds` names none, by protocol.
_PROTOCOL_ROUTES = {"HTTP": ("HTTPRoute", "GRPCRoute"), "HTTPS": ("HTTPRoute", "GRPCRoute"),
                    "TLS": ("TLSRoute",)}

Value = Service | Pod | Workload | tuple[EndpointSet, ...] | Ingress | Gateway | Route | None
# What `isinstance` checks a mapping against: dict first, since YAML and JSON give dicts
# and the check then stops there, a seventh of the time the Mapping ABC's own check takes
# (150,000 checks for 10,000 services).
_MAPPING = (dict, Mapping)


@dataclass(frozen=True)
class Parsed:
    """What one object in a document produced, and where it came from.

    `kind` is what the object is counted as; `value` is None for a Namespace and for
    every kind DNS does not read (`used` False), and `kind` is "" for a document that
    is not a Kubernetes object at all (no apiVersion and kind: a values.yaml).
    """

    kind: str
    namespace: str
    name: str
    value: Value
    file: str
    doc: int
    field: str  # path prefix of the object inside the document ("" or "items[3]")
    used: bool = True


@dataclass
class Doc:
    """The position being parsed, so every problem can say where it is."""

    file: str
    index: int
    errors: list[ManifestError]
    warnings: list[ManifestWarning] = field(default_factory=list)
    namespace: str = "default"  # for objects that name none (`kubectl apply -n`)
    prefix: str = ""

    def at(self, path: str) -> str:
        return f"{self.prefix}.{path}" if self.prefix and path else (self.prefix or path)

    def error(self, path: str, message: str) -> None:
        self.errors.append(ManifestError(self.file, self.index, self.at(path), message))

    def warn(self, path: str, message: str) -> None:
        self.warnings.append(ManifestWarning(self.file, self.index, self.at(path), message))

    def item(self, index: int) -> Doc:
        return Doc(self.file, self.index, self.errors, self.warnings, self.namespace,
                   self.at(f"items[{index}]"))


def parse_document(doc: Doc, obj: Any, out: list[Parsed]) -> None:
    """Append what `obj`, one YAML document (or `kind: List` item), holds to `out`."""
    if obj is None:
        return
    if not isinstance(obj, _MAPPING) or (not obj.get("kind") and not obj.get("apiVersion")):
        out.append(Parsed("", "", "", None, doc.file, doc.index, doc.prefix, used=False))
        return
    kind, api_version = obj.get("kind"), obj.get("apiVersion")
    if kind == "List" or (isinstance(kind, str) and kind.endswith("List") and "items" in obj):
        items = obj.get("items") or []
        if not isinstance(items, list):
            doc.error("items", "must be a list")
            return
        for i, item in enumerate(items):
            parse_document(doc.item(i), item, out)
        return
    if not isinstance(kind, str) or not kind:
        doc.warn("kind", "missing: not an object kubectl could apply; skipped")
        out.append(Parsed("", "", "", None, doc.file, doc.index, doc.prefix, used=False))
        return
    group = api_version.rpartition("/")[0] if isinstance(api_version, str) else None
    known = _KINDS.get(kind)
    if known is None or (group is not None and group not in known[0]):
        counted = kind if group in (None, "") else f"{kind}.{group}"
        out.append(Parsed(counted, "", "", None, doc.file, doc.index, doc.prefix, used=False))
        return
    if group is None:
        doc.warn("apiVersion", f"missing (kubectl would refuse it); read as a {kind}")
    meta = obj.get("metadata")
    if not isinstance(meta, _MAPPING):
        doc.error("metadata", "required")
        return
    name = meta.get("name")
    if not isinstance(name, str) or not name:
        doc.error("metadata.name", "required")
        return
    namespace = name if kind == "Namespace" else (meta.get("namespace") or doc.namespace)
    if not isinstance(namespace, str) or not _RFC1123_LABEL.match(namespace):
        doc.error("metadata.namespace", f"{shown(namespace)} is not a valid namespace name")
        return
    count = len(doc.errors)
    value = known[1](doc, name, namespace, obj)
    if len(doc.errors) == count:
        out.append(Parsed(kind, namespace, name, value, doc.file, doc.index, doc.prefix))


def _mapping(doc: Doc, obj: Mapping[str, Any], key: str, path: str) -> Mapping[str, Any]:
    value = obj.get(key)
    if value is None:
        return {}
    if not isinstance(value, _MAPPING):
        doc.error(path, "must be a mapping")
        return {}
    return value


def _list(doc: Doc, obj: Mapping[str, Any], key: str, path: str) -> list[Any]:
    value = obj.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        doc.error(path, "must be a list")
        return []
    return value


def _ip(doc: Doc, value: Any, path: str, family: int | None = None) -> str | None:
    if family != 6 and isinstance(value, str) and _CANONICAL_IPV4.fullmatch(value):
        return value  # what `ipaddress` gives back for it, at a tenth of the cost
    try:
        address = ipaddress.ip_address(value if isinstance(value, str) else "")
    except ValueError:
        doc.error(path, f"{shown(value)} is not an IP address")
        return None
    if family is not None and address.version != family:
        doc.error(path, f"{shown(value)} is not an IPv{family} address")
        return None
    return str(address)


def _port(doc: Doc, value: Any, path: str) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        doc.error(path, f"{shown(value)} is not a port number (1-65535)")
        return None
    return value


def _label(doc: Doc, value: Any, path: str, pattern: re.Pattern[str] = _RFC1123_LABEL) -> str:
    if value in (None, ""):
        return ""
    if not isinstance(value, str) or not pattern.match(value):
        doc.error(path, f"{shown(value)} is not a valid DNS label")
        return ""
    return value


def _protocol(doc: Doc, value: Any, path: str) -> str:
    protocol = "TCP" if value is None else value
    if protocol not in PROTOCOLS:
        doc.error(path, f"{shown(value)} is not one of {', '.join(PROTOCOLS)}")
    return protocol


def _string_map(doc: Doc, obj: Mapping[str, Any], key: str, path: str) -> dict[str, str]:
    value = _mapping(doc, obj, key, path)
    out = {}
    for k, v in value.items():
        if not isinstance(k, str) or isinstance(v, (Mapping, list)):
            doc.error(f"{path}.{k}", "must be a string")
            continue
        out[k] = "" if v is None else str(v)
    return out


def _parse_service(doc: Doc, name: str, namespace: str, obj: Mapping[str, Any]) -> Service:
    _label(doc, name, "metadata.name", _RFC1035_LABEL)
    meta = _mapping(doc, obj, "metadata", "metadata")
    spec = _mapping(doc, obj, "spec", "spec")
    kind = spec.get("type") or "ClusterIP"
    if kind not in SERVICE_TYPES:
        doc.error("spec.type", f"{shown(kind)} is not one of {', '.join(SERVICE_TYPES)}")
    external = ""
    if kind == EXTERNAL_NAME:
        raw = spec.get("externalName")
        external = raw.rstrip(".").lower() if isinstance(raw, str) else ""
        if raw in (None, ""):
            doc.error("spec.externalName", "required for an ExternalName service")
        elif not _RFC1123_SUBDOMAIN.match(external) or ".." in external:
            doc.error("spec.externalName", f"{shown(raw)} is not a DNS name")

    cluster_ip = spec.get("clusterIP")
    listed = _list(doc, spec, "clusterIPs", "spec.clusterIPs")
    headless = cluster_ip == "None" or listed == ["None"]
    ips: list[str] = []
    if kind != EXTERNAL_NAME and not headless:
        if cluster_ip not in (None, ""):
            ip = _ip(doc, cluster_ip, "spec.clusterIP")
            ips += [ip] if ip else []
        for i, value in enumerate(listed):
            ip = _ip(doc, value, f"spec.clusterIPs[{i}]")
            if ip and ip not in ips:
                if i == 0 and ips:
                    doc.error("spec.clusterIPs[0]", f"{shown(value)} must equal spec.clusterIP")
                ips.append(ip)
        if len({":" in ip for ip in ips}) < len(ips):  # canonical text: IPv6 has colons
            doc.error("spec.clusterIPs", "at most one address per IP family")

    families = tuple(_list(doc, spec, "ipFamilies", "spec.ipFamilies"))
    for i, family in enumerate(families):
        if family not in ("IPv4", "IPv6"):
            doc.error(f"spec.ipFamilies[{i}]", f"{shown(family)} is not IPv4 or IPv6")
    if not families and spec.get("ipFamilyPolicy") in ("PreferDualStack", "RequireDualStack"):
        families = ("IPv4", "IPv6")

    ports = []
    seen_names: set[str] = set()
    raw_ports = _list(doc, spec, "ports", "spec.ports")
    for i, raw in enumerate(raw_ports):
        path = f"spec.ports[{i}]"
        if not isinstance(raw, _MAPPING):
            doc.error(path, "must be a mapping")
            continue
        number = _port(doc, raw.get("port"), f"{path}.port")
        port_name = _label(doc, raw.get("name"), f"{path}.name")
        if len(raw_ports) > 1 and not port_name:
            doc.error(f"{path}.name", "required when a service has more than one port")
        if port_name and port_name in seen_names:
            doc.error(f"{path}.name", f"{port_name!r} is used by another port")
        seen_names.add(port_name)
        target = raw.get("targetPort")
        if isinstance(target, int) and not isinstance(target, bool):
            target = _port(doc, target, f"{path}.targetPort")
        elif target is not None and not isinstance(target, str):
            doc.error(f"{path}.targetPort", f"{shown(target)} is not a port number or name")
        protocol = _protocol(doc, raw.get("protocol"), f"{path}.protocol")
        if number:
            ports.append(ServicePort(port_name.lower(), number, protocol, target))
    if kind != EXTERNAL_NAME and not headless and not raw_ports:
        doc.error("spec.ports", f"required for a {kind} service")

    selector = _string_map(doc, spec, "selector", "spec.selector") or None
    annotations = _string_map(doc, meta, "annotations", "metadata.annotations")
    publish = spec.get("publishNotReadyAddresses") is True or (
        annotations.get(TOLERATE_UNREADY, "").lower() == "true"
    )
    return Service(
        namespace=namespace,
        name=name,
        type=kind,
        cluster_ips=tuple(ips),
        headless=headless and kind != EXTERNAL_NAME,
        external_name=external,
        selector=tuple(sorted(selector.items())) if selector else None,
        ports=tuple(ports),
        publish_not_ready=publish,
        ip_families=families,
        load_balancer=_load_balancer(doc, obj) if kind == LOAD_BALANCER else Destination(),
    )


def _parse_pod(doc: Doc, name: str, namespace: str, obj: Mapping[str, Any]) -> Pod:
    status = _mapping(doc, obj, "status", "status")
    ips: list[str] = []
    if status.get("podIP"):
        ip = _ip(doc, status["podIP"], "status.podIP")
        ips += [ip] if ip else []
    for i, entry in enumerate(_list(doc, status, "podIPs", "status.podIPs")):
        value = entry.get("ip") if isinstance(entry, _MAPPING) else entry
        ip = _ip(doc, value, f"status.podIPs[{i}].ip")
        if ip and ip not in ips:
            ips.append(ip)
    ready = status.get("phase") not in ("Succeeded", "Failed")
    for i, condition in enumerate(_list(doc, status, "conditions", "status.conditions")):
        if not isinstance(condition, _MAPPING):
            doc.error(f"status.conditions[{i}]", "must be a mapping")
        elif condition.get("type") == "Ready" and str(condition.get("status")) != "True":
            ready = False
    template = _pod_template(doc, obj, "", namespace)
    return Pod(
        namespace=namespace,
        name=name,
        labels=template.labels,
        hostname=template.hostname,
        subdomain=template.subdomain,
        ips=tuple(ips),
        ready=ready,
        container_ports=template.container_ports,
        dns=template.dns,
    )


def _pod_template(doc: Doc, obj: Mapping[str, Any], path: str, namespace: str) -> PodTemplate:
    """The labels, hostname, subdomain, named container ports and DNS settings of a Pod in
    `namespace`, or of a workload's `spec.template` (`path` says where `obj` is)."""
    where = f"{path}." if path else ""
    meta = _mapping(doc, obj, "metadata", f"{where}metadata")
    spec = _mapping(doc, obj, "spec", f"{where}spec")
    container_ports = []
    for i, container in enumerate(_list(doc, spec, "containers", f"{where}spec.containers")):
        if not isinstance(container, _MAPPING):
            continue
        at = f"{where}spec.containers[{i}].ports"
        for j, port in enumerate(_list(doc, container, "ports", at)):
            if isinstance(port, _MAPPING) and port.get("name"):
                number = _port(doc, port.get("containerPort"), f"{at}[{j}].containerPort")
                if number:
                    container_ports.append((str(port["name"]), number))
    labels = _string_map(doc, meta, "labels", f"{where}metadata.labels")
    dns, problems = poddns.from_pod_spec(namespace, spec)
    for field_path, message in problems:
        doc.error(f"{where}spec.{field_path}", message)
    return PodTemplate(
        labels=tuple(sorted(labels.items())),
        hostname=_label(doc, spec.get("hostname"), f"{where}spec.hostname").lower(),
        subdomain=_label(doc, spec.get("subdomain"), f"{where}spec.subdomain").lower(),
        container_ports=tuple(container_ports),
        dns=dns,
    )


def _count(doc: Doc, obj: Mapping[str, Any], key: str, path: str, default: int) -> int:
    value = obj.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        doc.error(path, f"{shown(value)} is not a whole number of 0 or more")
        return default
    return value


def _parse_workload(doc: Doc, name: str, namespace: str, obj: Mapping[str, Any]) -> Workload:
    """A controller's spec, reduced to how many pods it runs and their template."""
    kind = str(obj["kind"])
    spec = _mapping(doc, obj, "spec", "spec")
    template = _pod_template(doc, _mapping(doc, spec, "template", "spec.template"),
                             "spec.template", namespace)
    service_name, first, indexed = "", 0, False
    if kind == "Job":
        # As many pods at once as it may run, and no more than the completions it needs.
        parallelism = _count(doc, spec, "parallelism", "spec.parallelism", 1)
        replicas = min(parallelism, _count(doc, spec, "completions", "spec.completions",
                                           parallelism))
        indexed = spec.get("completionMode") == "Indexed"
    elif kind == "DaemonSet":
        replicas = 1  # per node
    else:
        replicas = _count(doc, spec, "replicas", "spec.replicas", 1)
    if kind == "StatefulSet":
        _label(doc, name, "metadata.name")  # its pods' hostnames are `<name>-<ordinal>`
        service_name = _label(doc, spec.get("serviceName"), "spec.serviceName").lower()
        ordinals = _mapping(doc, spec, "ordinals", "spec.ordinals")
        first = _count(doc, ordinals, "start", "spec.ordinals.start", 0)
    return Workload(kind=kind, namespace=namespace, name=name, template=template,
                    replicas=replicas, service_name=service_name, first_ordinal=first,
                    indexed=indexed)


def _endpoint_ports(doc: Doc, raw_ports: list[Any], path: str) -> tuple[EndpointPort, ...]:
    ports = []
    for k, raw in enumerate(raw_ports):
        where = f"{path}[{k}]"
        if not isinstance(raw, _MAPPING):
            doc.error(where, "must be a mapping")
            continue
        number = NO_PORT if raw.get("port") is None else _port(doc, raw["port"], f"{where}.port")
        name = _label(doc, raw.get("name"), f"{where}.name").lower()
        protocol = _protocol(doc, raw.get("protocol"), f"{where}.protocol")
        if number is not None:
            ports.append(EndpointPort(name, number, protocol))
    return tuple(ports) or (EndpointPort("", NO_PORT),)


def _target_name(entry: Mapping[str, Any]) -> str:
    ref = entry.get("targetRef")
    return str(ref.get("name") or "") if isinstance(ref, _MAPPING) else ""


def _parse_endpoints(
    doc: Doc, name: str, namespace: str, obj: Mapping[str, Any]
) -> tuple[EndpointSet, ...]:
    sets = []
    for i, subset in enumerate(_list(doc, obj, "subsets", "subsets")):
        path = f"subsets[{i}]"
        if not isinstance(subset, _MAPPING):
            doc.error(path, "must be a mapping")
            continue
        addresses = []
        for key, ready in (("addresses", True), ("notReadyAddresses", False)):
            for j, entry in enumerate(_list(doc, subset, key, f"{path}.{key}")):
                where = f"{path}.{key}[{j}]"
                if not isinstance(entry, _MAPPING):
                    doc.error(where, "must be a mapping")
                    continue
                ip = _ip(doc, entry.get("ip"), f"{where}.ip")
                hostname = _label(doc, entry.get("hostname"), f"{where}.hostname").lower()
                if ip:
                    addresses.append(EndpointAddress(ip, hostname, ready, _target_name(entry)))
        ports = _endpoint_ports(doc, _list(doc, subset, "ports", f"{path}.ports"), f"{path}.ports")
        sets.append(EndpointSet(namespace, name, tuple(addresses), ports, f"Endpoints {name}"))
    return tuple(sets)


def _parse_slice(
    doc: Doc, name: str, namespace: str, obj: Mapping[str, Any]
) -> tuple[EndpointSet, ...]:
    labels = _string_map(doc, _mapping(doc, obj, "metadata", "metadata"), "labels",
                         "metadata.labels")
    address_type = obj.get("addressType")
    if address_type not in ("IPv4", "IPv6", "FQDN"):
        doc.error("addressType", f"{shown(address_type)} is not IPv4, IPv6 or FQDN")
        return ()
    service = labels.get(SERVICE_NAME_LABEL)
    if address_type == "FQDN":
        return ()  # CoreDNS serves no FQDN slices either
    if not service:
        doc.warn(f"metadata.labels.{SERVICE_NAME_LABEL}", "missing: this EndpointSlice "
                 "belongs to no Service and is not served")
        return ()
    family = 4 if address_type == "IPv4" else 6
    addresses = []
    for i, entry in enumerate(_list(doc, obj, "endpoints", "endpoints")):
        path = f"endpoints[{i}]"
        if not isinstance(entry, _MAPPING):
            doc.error(path, "must be a mapping")
            continue
        conditions = _mapping(doc, entry, "conditions", f"{path}.conditions")
        ready = conditions.get("ready") is not False
        hostname = _label(doc, entry.get("hostname"), f"{path}.hostname").lower()
        for j, value in enumerate(_list(doc, entry, "addresses", f"{path}.addresses")):
            ip = _ip(doc, value, f"{path}.addresses[{j}]", family)
            if ip:
                addresses.append(EndpointAddress(ip, hostname, ready, _target_name(entry)))
    ports = _endpoint_ports(doc, _list(doc, obj, "ports", "ports"), "ports")
    return (EndpointSet(namespace, service, tuple(addresses), ports, f"EndpointSlice {name}"),)


def _parse_namespace(doc: Doc, name: str, namespace: str, obj: Mapping[str, Any]) -> None:
    _label(doc, name, "metadata.name")


def _hostname(doc: Doc, value: Any, path: str, wildcard: bool = True,
              strict: bool = True) -> str:
    """A lowercase hostname as the Ingress and Gateway APIs accept it; "" when it is not
    one: an error, or with `strict` False (a field the API server does not check) a
    warning."""
    text = value.rstrip(".").lower() if isinstance(value, str) else ""
    valid = (len(text) <= 253 and _HOSTNAME.match(text) is not None
             and (wildcard or not text.startswith("*.")))
    if valid:
        try:
            ipaddress.ip_address(text)
            valid = False
        except ValueError:
            pass
    if not valid:
        kind = "hostname (an IP address is not one)" if wildcard else "DNS name"
        if strict:
            doc.error(path, f"{shown(value)} is not a valid {kind}")
        else:
            doc.warn(path, f"{shown(value)} is not a valid {kind}; not served")
        return ""
    return text


def _created(doc: Doc, obj: Mapping[str, Any]) -> str:
    """`metadata.creationTimestamp` as UTC `YYYY-MM-DDTHH:MM:SSZ`, "" when absent.

    YAML reads an unquoted timestamp as a datetime, a quoted one as text: both count.
    """
    meta = _mapping(doc, obj, "metadata", "metadata")
    value = meta.get("creationTimestamp")
    if value in (None, ""):
        return ""
    when = value if isinstance(value, datetime.datetime) else None
    if isinstance(value, str):
        try:
            when = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            when = None
    if when is None:
        doc.error("metadata.creationTimestamp", f"{shown(value)} is not an RFC 3339 time")
        return ""
    if when.tzinfo is not None:
        when = when.astimezone(datetime.UTC).replace(tzinfo=None)
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def _destination(doc: Doc, entries: list[Any], path: str, typed: bool) -> Destination:
    """Addresses as a load balancer status (`ip`/`hostname`) or a Gateway (`type`/`value`)
    lists them."""
    ips: list[str] = []
    hostnames: list[str] = []
    for i, entry in enumerate(entries):
        where = f"{path}[{i}]"
        if not isinstance(entry, _MAPPING):
            doc.error(where, "must be a mapping")
            continue
        if typed:
            kind = entry.get("type") or "IPAddress"
            if kind == "IPAddress":
                ip = _ip(doc, entry.get("value"), f"{where}.value")
                ips += [ip] if ip else []
            elif kind == "Hostname":
                name = _hostname(doc, entry.get("value"), f"{where}.value", wildcard=False)
                hostnames += [name] if name else []
            continue  # NamedAddress and implementation types say nothing DNS can use
        if entry.get("ip") not in (None, ""):
            ip = _ip(doc, entry.get("ip"), f"{where}.ip")
            ips += [ip] if ip else []
        elif entry.get("hostname") not in (None, ""):
            name = _hostname(doc, entry.get("hostname"), f"{where}.hostname", wildcard=False)
            hostnames += [name] if name else []
    return Destination(tuple(dict.fromkeys(ips)), tuple(dict.fromkeys(hostnames)))


def _load_balancer(doc: Doc, obj: Mapping[str, Any]) -> Destination:
    status = _mapping(doc, obj, "status", "status")
    balancer = _mapping(doc, status, "loadBalancer", "status.loadBalancer")
    return _destination(doc, _list(doc, balancer, "ingress", "status.loadBalancer.ingress"),
                        "status.loadBalancer.ingress", typed=False)


def _parse_ingress(doc: Doc, name: str, namespace: str, obj: Mapping[str, Any]) -> Ingress:
    spec = _mapping(doc, obj, "spec", "spec")
    hosts: list[str] = []
    for i, rule in enumerate(_list(doc, spec, "rules", "spec.rules")):
        if not isinstance(rule, _MAPPING):
            doc.error(f"spec.rules[{i}]", "must be a mapping")
        elif rule.get("host") not in (None, ""):
            hosts.append(_hostname(doc, rule["host"], f"spec.rules[{i}].host"))
    for i, tls in enumerate(_list(doc, spec, "tls", "spec.tls")):
        if not isinstance(tls, _MAPPING):
            doc.error(f"spec.tls[{i}]", "must be a mapping")
            continue
        for j, host in enumerate(_list(doc, tls, "hosts", f"spec.tls[{i}].hosts")):
            hosts.append(_hostname(doc, host, f"spec.tls[{i}].hosts[{j}]", strict=False))
    return Ingress(namespace, name, tuple(dict.fromkeys(h for h in hosts if h)),
                   _load_balancer(doc, obj), _created(doc, obj))


def _parse_gateway(doc: Doc, name: str, namespace: str, obj: Mapping[str, Any]) -> Gateway:
    spec = _mapping(doc, obj, "spec", "spec")
    listeners = []
    for i, raw in enumerate(_list(doc, spec, "listeners", "spec.listeners")):
        path = f"spec.listeners[{i}]"
        if not isinstance(raw, _MAPPING):
            doc.error(path, "must be a mapping")
            continue
        hostname = raw.get("hostname")
        hostname = "" if hostname in (None, "") else _hostname(doc, hostname, f"{path}.hostname")
        protocol = str(raw.get("protocol") or "HTTP")
        allowed = _mapping(doc, raw, "allowedRoutes", f"{path}.allowedRoutes")
        origin = _mapping(doc, allowed, "namespaces", f"{path}.allowedRoutes.namespaces")
        kinds = tuple(str(k.get("kind")) for k in _list(doc, allowed, "kinds",
                                                        f"{path}.allowedRoutes.kinds")
                      if isinstance(k, _MAPPING) and k.get("group", GATEWAY_GROUP) == GATEWAY_GROUP)
        listeners.append(Listener(
            name=str(raw.get("name") or ""), hostname=hostname,
            port=_port(doc, raw.get("port"), f"{path}.port") or 0, protocol=protocol,
            kinds=kinds or _PROTOCOL_ROUTES.get(protocol, ()),
            namespaces=str(origin.get("from") or "Same")))
    status = _mapping(doc, obj, "status", "status")
    return Gateway(
        namespace, name, tuple(listeners),
        _destination(doc, _list(doc, status, "addresses", "status.addresses"),
                     "status.addresses", typed=True),
        _destination(doc, _list(doc, spec, "addresses", "spec.addresses"), "spec.addresses",
                     typed=True),
        _created(doc, obj))


def _parse_route(doc: Doc, name: str, namespace: str, obj: Mapping[str, Any]) -> Route:
    spec = _mapping(doc, obj, "spec", "spec")
    hostnames = [_hostname(doc, h, f"spec.hostnames[{i}]")
                 for i, h in enumerate(_list(doc, spec, "hostnames", "spec.hostnames"))]
    parents = []
    for i, ref in enumerate(_list(doc, spec, "parentRefs", "spec.parentRefs")):
        path = f"spec.parentRefs[{i}]"
        if not isinstance(ref, _MAPPING):
            doc.error(path, "must be a mapping")
            continue
        if (ref.get("group") or GATEWAY_GROUP, ref.get("kind") or "Gateway") != (
                GATEWAY_GROUP, "Gateway"):
            continue  # a Service (mesh) or another parent: not reached through a Gateway
        if not isinstance(ref.get("name"), str) or not ref["name"]:
            doc.error(f"{path}.name", "required")
            continue
        port = ref.get("port")
        parents.append(ParentRef(
            namespace=str(ref.get("namespace") or namespace), name=ref["name"],
            section=str(ref.get("sectionName") or ""),
            port=0 if port is None else (_port(doc, port, f"{path}.port") or 0)))
    return Route(str(obj["kind"]), namespace, name, tuple(dict.fromkeys(h for h in hostnames if h)),
                 tuple(parents), _created(doc, obj))


Parser = Callable[[Doc, str, str, Mapping[str, Any]], Value]
# kind -> (API groups it is read from, parser); "" is the core group (`apiVersion: v1`).
_KINDS: dict[str, tuple[tuple[str, ...], Parser]] = {
    "Service": (("",), _parse_service),
    "Pod": (("",), _parse_pod),
    "Endpoints": (("",), _parse_endpoints),
    "EndpointSlice": (("discovery.k8s.io",), _parse_slice),
    "Namespace": (("",), _parse_namespace),
    "Deployment": (("apps", "extensions"), _parse_workload),
    "ReplicaSet": (("apps", "extensions"), _parse_workload),
    "ReplicationController": (("",), _parse_workload),
    "StatefulSet": (("apps",), _parse_workload),
    "DaemonSet": (("apps", "extensions"), _parse_workload),
    "Job": (("batch",), _parse_workload),
    "Ingress": (("networking.k8s.io", "extensions"), _parse_ingress),
    "Gateway": ((GATEWAY_GROUP,), _parse_gateway),
    **{kind: ((GATEWAY_GROUP,), _parse_route) for kind in ROUTE_KINDS},
}
