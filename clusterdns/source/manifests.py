"""Reading Kubernetes manifests from files and folders into the model.

Every problem becomes a `ManifestError` that names the file, the document and the field,
and loading goes on past it, so `clusterdns check` can show them all at once. Parsing a
file is the slow part (YAML), so results are kept per file and reused while the file's
size and modification time stay the same: a reload re-reads only what changed.
"""

from __future__ import annotations

import hashlib
import ipaddress
import itertools
import json
import logging
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from . import addresses
from .model import (
    EXTERNAL_NAME,
    NO_PORT,
    SERVICE_TYPES,
    Cluster,
    EndpointAddress,
    EndpointPort,
    EndpointSet,
    Pod,
    Service,
    ServicePort,
)

log = logging.getLogger(__name__)

SUFFIXES = (".yaml", ".yml", ".json")
SERVICE_NAME_LABEL = "kubernetes.io/service-name"
TOLERATE_UNREADY = "service.alpha.kubernetes.io/tolerate-unready-endpoints"
PROTOCOLS = ("TCP", "UDP", "SCTP")

# RFC 1035 labels for Service names, RFC 1123 labels for the rest (as the API server checks).
_RFC1035_LABEL = re.compile(r"[a-z]([-a-z0-9]{0,61}[a-z0-9])?\Z")
_RFC1123_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\Z")
_RFC1123_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?\Z")
# A line that starts a YAML document. YAML forbids such a line inside any scalar, so the
# text from one to the next is exactly one document.
_DOCUMENT_START = re.compile(r"^---(?=[ \t\r]|$)", re.MULTILINE)

try:  # the C loader is about eight times faster on large folders
    _Loader: Any = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - PyYAML built without libyaml
    _Loader = yaml.SafeLoader


@dataclass(frozen=True)
class ManifestError(Exception):
    """A problem in one manifest, precise enough to find and fix it."""

    file: str
    doc: int
    field: str
    message: str

    def __str__(self) -> str:
        where = self.file if self.doc == 0 else f"{self.file}: document {self.doc}"
        field = f"{self.field}: " if self.field else ""
        return f"{where}: {field}{self.message}"


@dataclass(frozen=True)
class _Parsed:
    """What one document produced: a model object and where it came from."""

    kind: str
    namespace: str
    name: str
    value: Service | Pod | tuple[EndpointSet, ...] | None
    file: str
    doc: int
    field: str  # path prefix of the object inside the document ("" or "items[3]")


@dataclass(frozen=True)
class _Document:
    """What one YAML document produced, kept by its text's digest so an unchanged one is reused."""

    index: int
    items: tuple[_Parsed, ...]
    errors: tuple[ManifestError, ...]

    def at(self, index: int) -> _Document:
        """The same results for the document moved to another position in its file."""
        if index == self.index:
            return self
        return _Document(index, tuple(replace(item, doc=index) for item in self.items),
                         tuple(replace(error, doc=index) for error in self.errors))


@dataclass
class FileCache:
    """Parsed files keyed by path, valid while (mtime, size, inode) is unchanged.

    Within a YAML file that did change, documents whose text did not are reused too, so
    editing one Service in a file of ten thousand re-parses one document, not the file.
    """

    entries: dict[str, tuple[tuple[int, int, int], list[_Parsed], list[ManifestError]]] = field(
        default_factory=dict
    )
    # By the digest of each document's text, not the text: 10,000 Services' worth of
    # YAML would otherwise stay in memory only to be compared.
    documents: dict[str, dict[bytes, _Document]] = field(default_factory=dict)


def manifest_files(paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """Every manifest file under `paths`, sorted, skipping hidden entries.

    Hidden entries include a ConfigMap volume's `..data` and `..<timestamp>` folders, which
    hold the same files as the visible symlinks and would otherwise be read twice.
    """
    found: list[Path] = []
    for root in map(Path, paths):
        if not root.is_dir():
            found.append(root)
            continue
        for folder, dirs, files in os.walk(root, followlinks=True):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            found.extend(
                Path(folder, f)
                for f in sorted(files)
                if not f.startswith(".") and f.lower().endswith(SUFFIXES)
            )
    return found


def load(
    paths: Iterable[str | os.PathLike[str]],
    service_cidrs: tuple[str, ...] = addresses.DEFAULT_CIDRS,
    cache: FileCache | None = None,
) -> tuple[Cluster, list[ManifestError]]:
    """Load every manifest under `paths`; return the cluster and every problem found.

    The cluster is complete only when the error list is empty; callers that serve DNS
    must keep their previous cluster otherwise.
    """
    cache = cache if cache is not None else FileCache()
    parsed: list[_Parsed] = []
    errors: list[ManifestError] = []
    files = manifest_files(paths)
    for path in files:
        items, problems = _read_cached(path, cache)
        parsed.extend(items)
        errors.extend(problems)
    live = {str(p) for p in files}
    for stale in set(cache.entries) - live:
        del cache.entries[stale]
    for stale in set(cache.documents) - live:
        del cache.documents[stale]
    cluster, join_errors = _assemble(parsed, service_cidrs)
    return cluster, errors + join_errors


def _read_cached(path: Path, cache: FileCache) -> tuple[list[_Parsed], list[ManifestError]]:
    name = str(path)
    try:
        st = path.stat()
    except OSError as exc:
        return [], [ManifestError(name, 0, "", f"cannot read: {exc.strerror or exc}")]
    stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
    hit = cache.entries.get(name)
    if hit and hit[0] == stamp:
        return hit[1], hit[2]
    items, problems = read_file(path, cache.documents.setdefault(name, {}))
    cache.entries[name] = (stamp, items, problems)
    return items, problems


def read_file(
    path: Path, documents: dict[bytes, _Document] | None = None
) -> tuple[list[_Parsed], list[ManifestError]]:
    """Parse one file: every document, `kind: List` items included.

    `documents` holds the file's YAML documents from its last read, by digest: those still
    present are not parsed again, and it is refilled with this read's.
    """
    name = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return [], [ManifestError(name, 0, "", f"cannot read: {exc}")]
    items: list[_Parsed] = []
    errors: list[ManifestError] = []
    if documents is not None and not name.lower().endswith(".json"):
        split = _split_documents(name, text, documents)
        documents.clear()
        if split is not None:
            for key, document in split:
                documents[key] = document
                items.extend(document.items)
                errors.extend(document.errors)
            return items, errors
    for index, doc in _documents(name, text, errors):
        _parse_document(_Doc(name, index, errors), doc, items)
    return items, errors


class _Unsplittable(Exception):
    """The text is not plain `---`-separated documents (directives, `...`, bad YAML)."""


def _split_documents(
    name: str, text: str, previous: Mapping[bytes, _Document]
) -> list[tuple[bytes, _Document]] | None:
    """Parse `text` one document at a time, reusing `previous` for unchanged ones.

    None when the text does not split cleanly; the caller then parses it whole, which
    also gives YAML errors their usual position.
    """
    starts = [match.start() for match in _DOCUMENT_START.finditer(text)]
    bounds = [0, *starts, len(text)]
    out: list[tuple[bytes, _Document]] = []
    for begin, end in itertools.pairwise(bounds):
        chunk = text[begin:end]
        key = hashlib.blake2b(chunk.encode(), digest_size=16).digest()
        index = len(out) + 1
        document = previous.get(key)
        try:
            document = document.at(index) if document else _parse_chunk(name, chunk, index)
        except _Unsplittable:
            return None
        if document is not None:
            out.append((key, document))
    return out


def _parse_chunk(name: str, chunk: str, index: int) -> _Document | None:
    """The one document in `chunk`; None for text before the first `---` that holds none."""
    try:
        values = list(yaml.load_all(chunk, Loader=_Loader))
    except yaml.YAMLError:
        raise _Unsplittable from None
    if len(values) > 1:  # a `...` end marker followed by a document without `---`
        raise _Unsplittable
    if not values:
        return None
    items: list[_Parsed] = []
    errors: list[ManifestError] = []
    _parse_document(_Doc(name, index, errors), values[0], items)
    return _Document(index, tuple(items), tuple(errors))


def _documents(name: str, text: str, errors: list[ManifestError]) -> Iterator[tuple[int, Any]]:
    if name.lower().endswith(".json"):
        try:
            yield 1, json.loads(text)
        except json.JSONDecodeError as exc:
            errors.append(ManifestError(name, 1, "", f"invalid JSON: {exc}"))
        return
    index = 0
    try:
        for index, doc in enumerate(yaml.load_all(text, Loader=_Loader), start=1):
            yield index, doc
    except yaml.YAMLError as exc:
        detail = str(exc).replace("\n", " ")
        errors.append(ManifestError(name, index + 1, "", f"invalid YAML: {detail}"))


@dataclass
class _Doc:
    """The position being parsed, so every error can say where it is."""

    file: str
    index: int
    errors: list[ManifestError]
    prefix: str = ""

    def at(self, path: str) -> str:
        return f"{self.prefix}.{path}" if self.prefix and path else (self.prefix or path)

    def error(self, path: str, message: str) -> None:
        self.errors.append(ManifestError(self.file, self.index, self.at(path), message))


def _parse_document(doc: _Doc, obj: Any, out: list[_Parsed]) -> None:
    if obj is None:
        return
    if not isinstance(obj, Mapping):
        doc.error("", f"expected a mapping with kind and metadata, got {type(obj).__name__}")
        return
    kind = obj.get("kind")
    if kind == "List" or (isinstance(kind, str) and kind.endswith("List") and "items" in obj):
        items = obj.get("items") or []
        if not isinstance(items, list):
            doc.error("items", "must be a list")
            return
        for i, item in enumerate(items):
            _parse_document(_Doc(doc.file, doc.index, doc.errors, doc.at(f"items[{i}]")), item, out)
        return
    if not isinstance(kind, str) or not kind:
        doc.error("kind", "required")
        return
    parser = _PARSERS.get(kind)
    if parser is None:
        log.debug("%s: document %d: skipping kind %s", doc.file, doc.index, kind)
        return
    meta = obj.get("metadata")
    if not isinstance(meta, Mapping):
        doc.error("metadata", "required")
        return
    name = meta.get("name")
    if not isinstance(name, str) or not name:
        doc.error("metadata.name", "required")
        return
    namespace = meta.get("namespace") or "default"
    if kind == "Namespace":
        namespace = name
    if not isinstance(namespace, str) or not _RFC1123_LABEL.match(namespace):
        doc.error("metadata.namespace", f"{namespace!r} is not a valid namespace name")
        return
    count = len(doc.errors)
    value = parser(doc, name, namespace, obj)
    if len(doc.errors) == count:
        out.append(_Parsed(kind, namespace, name, value, doc.file, doc.index, doc.prefix))


def _mapping(doc: _Doc, obj: Mapping[str, Any], key: str, path: str) -> Mapping[str, Any]:
    value = obj.get(key)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        doc.error(path, "must be a mapping")
        return {}
    return value


def _list(doc: _Doc, obj: Mapping[str, Any], key: str, path: str) -> list[Any]:
    value = obj.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        doc.error(path, "must be a list")
        return []
    return value


def _ip(doc: _Doc, value: Any, path: str, family: int | None = None) -> str | None:
    try:
        address = ipaddress.ip_address(value if isinstance(value, str) else "")
    except ValueError:
        doc.error(path, f"{value!r} is not an IP address")
        return None
    if family is not None and address.version != family:
        doc.error(path, f"{value!r} is not an IPv{family} address")
        return None
    return str(address)


def _port(doc: _Doc, value: Any, path: str) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        doc.error(path, f"{value!r} is not a port number (1-65535)")
        return None
    return value


def _label(doc: _Doc, value: Any, path: str, pattern: re.Pattern[str] = _RFC1123_LABEL) -> str:
    if value in (None, ""):
        return ""
    if not isinstance(value, str) or not pattern.match(value):
        doc.error(path, f"{value!r} is not a valid DNS label")
        return ""
    return value


def _protocol(doc: _Doc, value: Any, path: str) -> str:
    protocol = "TCP" if value is None else value
    if protocol not in PROTOCOLS:
        doc.error(path, f"{value!r} is not one of {', '.join(PROTOCOLS)}")
    return protocol


def _string_map(doc: _Doc, obj: Mapping[str, Any], key: str, path: str) -> dict[str, str]:
    value = _mapping(doc, obj, key, path)
    out = {}
    for k, v in value.items():
        if not isinstance(k, str) or isinstance(v, (Mapping, list)):
            doc.error(f"{path}.{k}", "must be a string")
            continue
        out[k] = "" if v is None else str(v)
    return out


def _parse_service(doc: _Doc, name: str, namespace: str, obj: Mapping[str, Any]) -> Service:
    _label(doc, name, "metadata.name", _RFC1035_LABEL)
    meta = _mapping(doc, obj, "metadata", "metadata")
    spec = _mapping(doc, obj, "spec", "spec")
    kind = spec.get("type") or "ClusterIP"
    if kind not in SERVICE_TYPES:
        doc.error("spec.type", f"{kind!r} is not one of {', '.join(SERVICE_TYPES)}")
    external = ""
    if kind == EXTERNAL_NAME:
        raw = spec.get("externalName")
        external = raw.rstrip(".").lower() if isinstance(raw, str) else ""
        if raw in (None, ""):
            doc.error("spec.externalName", "required for an ExternalName service")
        elif not _RFC1123_SUBDOMAIN.match(external) or ".." in external:
            doc.error("spec.externalName", f"{raw!r} is not a DNS name")

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
                    doc.error("spec.clusterIPs[0]", f"{value!r} must equal spec.clusterIP")
                ips.append(ip)
        if len({ipaddress.ip_address(ip).version for ip in ips}) < len(ips):
            doc.error("spec.clusterIPs", "at most one address per IP family")

    families = tuple(_list(doc, spec, "ipFamilies", "spec.ipFamilies"))
    for i, family in enumerate(families):
        if family not in ("IPv4", "IPv6"):
            doc.error(f"spec.ipFamilies[{i}]", f"{family!r} is not IPv4 or IPv6")
    if not families and spec.get("ipFamilyPolicy") in ("PreferDualStack", "RequireDualStack"):
        families = ("IPv4", "IPv6")

    ports = []
    seen_names: set[str] = set()
    raw_ports = _list(doc, spec, "ports", "spec.ports")
    for i, raw in enumerate(raw_ports):
        path = f"spec.ports[{i}]"
        if not isinstance(raw, Mapping):
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
            doc.error(f"{path}.targetPort", f"{target!r} is not a port number or name")
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
    )


def _parse_pod(doc: _Doc, name: str, namespace: str, obj: Mapping[str, Any]) -> Pod:
    meta = _mapping(doc, obj, "metadata", "metadata")
    spec = _mapping(doc, obj, "spec", "spec")
    status = _mapping(doc, obj, "status", "status")
    ips: list[str] = []
    if status.get("podIP"):
        ip = _ip(doc, status["podIP"], "status.podIP")
        ips += [ip] if ip else []
    for i, entry in enumerate(_list(doc, status, "podIPs", "status.podIPs")):
        value = entry.get("ip") if isinstance(entry, Mapping) else entry
        ip = _ip(doc, value, f"status.podIPs[{i}].ip")
        if ip and ip not in ips:
            ips.append(ip)
    ready = status.get("phase") not in ("Succeeded", "Failed")
    for i, condition in enumerate(_list(doc, status, "conditions", "status.conditions")):
        if not isinstance(condition, Mapping):
            doc.error(f"status.conditions[{i}]", "must be a mapping")
        elif condition.get("type") == "Ready" and str(condition.get("status")) != "True":
            ready = False
    container_ports = []
    for i, container in enumerate(_list(doc, spec, "containers", "spec.containers")):
        if not isinstance(container, Mapping):
            continue
        for j, port in enumerate(_list(doc, container, "ports", f"spec.containers[{i}].ports")):
            if isinstance(port, Mapping) and port.get("name"):
                number = _port(doc, port.get("containerPort"),
                               f"spec.containers[{i}].ports[{j}].containerPort")
                if number:
                    container_ports.append((str(port["name"]), number))
    labels = _string_map(doc, meta, "labels", "metadata.labels")
    return Pod(
        namespace=namespace,
        name=name,
        labels=tuple(sorted(labels.items())),
        hostname=_label(doc, spec.get("hostname"), "spec.hostname").lower(),
        subdomain=_label(doc, spec.get("subdomain"), "spec.subdomain").lower(),
        ips=tuple(ips),
        ready=ready,
        container_ports=tuple(container_ports),
    )


def _endpoint_ports(doc: _Doc, raw_ports: list[Any], path: str) -> tuple[EndpointPort, ...]:
    ports = []
    for k, raw in enumerate(raw_ports):
        where = f"{path}[{k}]"
        if not isinstance(raw, Mapping):
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
    return str(ref.get("name") or "") if isinstance(ref, Mapping) else ""


def _parse_endpoints(
    doc: _Doc, name: str, namespace: str, obj: Mapping[str, Any]
) -> tuple[EndpointSet, ...]:
    sets = []
    for i, subset in enumerate(_list(doc, obj, "subsets", "subsets")):
        path = f"subsets[{i}]"
        if not isinstance(subset, Mapping):
            doc.error(path, "must be a mapping")
            continue
        addresses = []
        for key, ready in (("addresses", True), ("notReadyAddresses", False)):
            for j, entry in enumerate(_list(doc, subset, key, f"{path}.{key}")):
                where = f"{path}.{key}[{j}]"
                if not isinstance(entry, Mapping):
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
    doc: _Doc, name: str, namespace: str, obj: Mapping[str, Any]
) -> tuple[EndpointSet, ...]:
    labels = _string_map(doc, _mapping(doc, obj, "metadata", "metadata"), "labels",
                         "metadata.labels")
    address_type = obj.get("addressType")
    if address_type not in ("IPv4", "IPv6", "FQDN"):
        doc.error("addressType", f"{address_type!r} is not IPv4, IPv6 or FQDN")
        return ()
    service = labels.get(SERVICE_NAME_LABEL)
    if address_type == "FQDN" or not service:
        log.debug("%s: document %d: EndpointSlice %s is not served (no %s label or FQDN)",
                  doc.file, doc.index, name, SERVICE_NAME_LABEL)
        return ()
    family = 4 if address_type == "IPv4" else 6
    addresses = []
    for i, entry in enumerate(_list(doc, obj, "endpoints", "endpoints")):
        path = f"endpoints[{i}]"
        if not isinstance(entry, Mapping):
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


def _parse_namespace(doc: _Doc, name: str, namespace: str, obj: Mapping[str, Any]) -> None:
    _label(doc, name, "metadata.name")


_PARSERS = {
    "Service": _parse_service,
    "Pod": _parse_pod,
    "Endpoints": _parse_endpoints,
    "EndpointSlice": _parse_slice,
    "Namespace": _parse_namespace,
}


def _assemble(
    parsed: list[_Parsed], service_cidrs: tuple[str, ...]
) -> tuple[Cluster, list[ManifestError]]:
    """Join per-file results: reject duplicates, then give services their cluster IPs."""
    errors: list[ManifestError] = []
    first: dict[tuple[str, str, str], _Parsed] = {}
    services: list[tuple[Service, _Parsed]] = []
    pods: list[Pod] = []
    endpoints: list[EndpointSet] = []
    namespaces: set[str] = set()
    for item in parsed:
        key = (item.kind, item.namespace, item.name)
        if key in first:
            other = first[key]
            errors.append(ManifestError(
                item.file, item.doc, _join(item.field, "metadata.name"),
                f"duplicate {item.kind} {item.namespace}/{item.name}, "
                f"first defined in {other.file}: document {other.doc}",
            ))
            continue
        first[key] = item
        namespaces.add(item.namespace)
        if isinstance(item.value, Service):
            services.append((item.value, item))
        elif isinstance(item.value, Pod):
            pods.append(item.value)
        elif isinstance(item.value, tuple):
            endpoints.extend(item.value)
    owners: dict[str, _Parsed] = {}
    for service, item in services:
        for ip in service.cluster_ips:
            if ip in owners:
                other = owners[ip]
                errors.append(ManifestError(
                    item.file, item.doc, _join(item.field, "spec.clusterIP"),
                    f"{ip} is already the clusterIP of Service {other.namespace}/{other.name}",
                ))
            owners.setdefault(ip, item)
    try:
        assigned = addresses.assign([s for s, _ in services], service_cidrs)
    except ValueError as exc:
        errors.append(ManifestError("--service-cidr", 0, "", str(exc)))
        assigned = [s for s, _ in services]
    cluster = Cluster(
        services=tuple(assigned),
        pods=tuple(pods),
        endpoints=tuple(endpoints),
        namespaces=frozenset(namespaces),
    )
    return cluster, errors


def _join(prefix: str, path: str) -> str:
    return f"{prefix}.{path}" if prefix else path
