"""Reading a set of manifest folders into one Cluster, as `kubectl apply -f DIR -R` would.

Every problem becomes a `ManifestError` naming the file, the document and the field, and
loading goes on past it, so `clusterdns check` can show them all at once. Objects are
put together as kubectl would leave them after applying every file in path order: an
identical copy is one object, a differing copy replaces the earlier (with a warning).
Workloads then become pods, and services and generated pods get their derived addresses.

Parsing YAML is the slow part, so results are kept per file while the file is unchanged,
and within a changed file per document: a reload re-parses only what changed.
"""

from __future__ import annotations

import hashlib
import sys
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

import yaml

from ..freeing import empty, empty_mapping
from ..shards import Shards, Table, empty_table, table_for, unordered_values
from . import addresses, documents, hostnames, workloads
from .addresses import AddressBook
from .documents import DEFAULT_MAX_FILE_BYTES, Unreadable
from .folders import STDIN, ManifestFile, manifest_files
from .hostnames import HostnameOptions
from .model import Cluster, EndpointSet, Gateway, Ingress, Pod, Route, Service, Workload
from .objects import Doc, Parsed, parse_document
from .problems import ManifestError, ManifestWarning

NOT_OBJECTS_SHOWN = 8  # files named in the warning about documents that are not objects
# Past this size a document's loaded values are freed a container at a time
# (`documents.release`), so a reload thread never holds the server up for long.
_BIG_TEXT = 1 << 18
# A file with more documents keeps their cache in `Shards` once read (see `_read_cached`).
SHARDED_DOCUMENTS = 50_000


@dataclass(frozen=True)
class LoadOptions:
    """What shapes the cluster besides the files: ranges, default namespace, nodes."""

    service_cidrs: tuple[str, ...] = addresses.DEFAULT_CIDRS
    pod_cidrs: tuple[str, ...] = addresses.DEFAULT_POD_CIDRS
    namespace: str = "default"  # of objects that name none, as `kubectl apply -n`
    nodes: int = 1  # a DaemonSet runs one pod per node
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES
    # Where Ingress, Gateway API and LoadBalancer names lead when the manifests do not say.
    hostnames: HostnameOptions = field(default_factory=HostnameOptions)


@dataclass(frozen=True)
class KindCount:
    """How many objects of one kind were read (and used), generated, or skipped."""

    read: int = 0
    generated: int = 0
    skipped: int = 0


@dataclass(frozen=True)
class Loaded:
    """Everything one load found. The cluster is usable only when `errors` is empty."""

    cluster: Cluster
    errors: list[ManifestError]
    warnings: list[ManifestWarning]
    counts: Mapping[str, KindCount]
    addresses: AddressBook  # the derived addresses in use, to remember
    # Where each object came from, by (kind, namespace, name): for messages about it.
    origins: Mapping[tuple[str, str, str], tuple[str, int]]
    newest_change: int  # the newest file modification time, in whole seconds


@dataclass(frozen=True)
class _Document:
    """What one YAML document produced, kept by its text's digest so an unchanged one is
    reused."""

    index: int
    items: tuple[Parsed, ...]
    errors: tuple[ManifestError, ...]
    warnings: tuple[ManifestWarning, ...]

    def at(self, index: int) -> _Document:
        """The same results for the document moved to another position in its file."""
        if index == self.index:
            return self
        return _Document(index, tuple(replace(item, doc=index) for item in self.items),
                         tuple(replace(error, doc=index) for error in self.errors),
                         tuple(replace(warning, doc=index) for warning in self.warnings))


@dataclass(frozen=True)
class _FileResult:
    items: list[Parsed]
    errors: list[ManifestError]
    warnings: list[ManifestWarning]


# What identifies one version of a file: any write changes the inode's change time
# (ctime), which no program can set back, unlike the modification time.
_Stamp = tuple[int, int, int, int, int]


@dataclass
class FileCache:
    """Parsed files by path, valid while their stamp (ctime, mtime, size, inode, device)
    is unchanged, for one set of load options.

    Within a YAML file that did change, documents whose text did not are reused too, so
    editing one Service in a file of ten thousand re-parses one document, not the file.
    """

    entries: dict[str, tuple[_Stamp, _FileResult]] = field(default_factory=dict)
    # By the digest of each document's text, not the text: 10,000 Services' worth of
    # YAML would otherwise stay in memory only to be compared.
    documents: dict[str, Table[bytes, _Document]] = field(default_factory=dict)
    namespace: str = ""  # the default namespace the entries were parsed with
    stdin: str | None = None  # standard input, read once: it cannot be read again


def load(paths: Iterable[str | Path], options: LoadOptions | None = None,
         cache: FileCache | None = None, remembered: AddressBook | None = None) -> Loaded:
    """Load every manifest under `paths` (`-` is standard input).

    `remembered` holds the derived addresses handed out before (in this process or, from
    the state file, an earlier one): objects that still exist keep them.
    """
    options = options or LoadOptions()
    cache = cache if cache is not None else FileCache()
    if cache.namespace != options.namespace:
        cache.entries.clear()
        cache.documents.clear()
        cache.namespace = options.namespace
    files, warnings = manifest_files(paths)
    parsed: list[Parsed] = []
    errors: list[ManifestError] = []
    file_warnings: list[ManifestWarning] = list(warnings)
    newest = 0
    for entry in files:
        result = _read_cached(entry, cache, options)
        parsed.extend(result.items)
        errors.extend(result.errors)
        file_warnings.extend(result.warnings)
        if entry.stat is not None:
            newest = max(newest, int(entry.stat.st_mtime))
    live = {str(f.path) for f in files}
    for stale in set(cache.entries) - live:
        del cache.entries[stale]
    for stale in set(cache.documents) - live:
        del cache.documents[stale]
    assembled = _Assembly(options, remembered or AddressBook())
    cluster = assembled.run(parsed)
    return Loaded(cluster, errors + assembled.errors, file_warnings + assembled.warnings,
                  assembled.counts(), assembled.book, assembled.origins, newest)


def _read_cached(entry: ManifestFile, cache: FileCache, options: LoadOptions) -> _FileResult:
    name = str(entry.path)
    if name == STDIN:
        if cache.stdin is None:
            cache.stdin = sys.stdin.read()
        hit = cache.entries.get(name)
        if hit is None:
            hit = ((0, 0, 0, 0, 0), parse_text(name, cache.stdin, options.namespace, {}))
            cache.entries[name] = hit
        return hit[1]
    st = entry.stat
    if st is None:  # a dangling link, or gone since the folder was listed
        try:
            st = entry.path.stat()
        except OSError as exc:
            return _FileResult([], [ManifestError(name, 0, "", f"cannot read: "
                                                  f"{exc.strerror or exc}")], [])
    stamp = (st.st_ctime_ns, st.st_mtime_ns, st.st_size, st.st_ino, st.st_dev)
    hit = cache.entries.get(name)
    if hit and hit[0] == stamp:
        return hit[1]
    documents = cache.documents.setdefault(name, {})
    result = read_file(entry.path, documents, options)
    if isinstance(documents, dict) and len(documents) > SHARDED_DOCUMENTS:
        # Refilled at every edit of the file, beside the server: 100,000 documents' dict
        # growing held the interpreter lock for 7-16 ms. The first read, at start-up,
        # fills a faster dict.
        cache.documents[name] = Shards(documents.items())
        empty_mapping(documents)
    cache.entries[name] = (stamp, result)
    if hit:  # what the file held before, let go a step at a time
        empty(hit[1].items)
    return result


def read_file(path: Path, previous: Table[bytes, _Document] | None = None,
              options: LoadOptions | None = None) -> _FileResult:
    """Parse one file: every document, `kind: List` items included.

    `previous` holds the file's YAML documents from its last read, by digest: those still
    present are not parsed again, and it is refilled with this read's.
    """
    options = options or LoadOptions()
    name = str(path)
    try:
        data = documents.read_bytes(path, options.max_file_bytes)
        if previous is not None and not name.lower().endswith(".json"):
            result = _parse_split(name, data, options.namespace, previous)
            if result is not None:
                return result
        text = documents.decode(data)
    except Unreadable as exc:
        return _FileResult([], [ManifestError(name, 0, "", str(exc))], [])
    del data
    return _parse_whole(name, text, options.namespace)


def parse_text(name: str, text: str, namespace: str = "default",
               previous: Table[bytes, _Document] | None = None) -> _FileResult:
    """Parse the text of file `name`; `previous` as for `read_file`."""
    if previous is not None and not name.lower().endswith(".json"):
        result = _parse_split(name, text, namespace, previous)
        if result is not None:
            return result
    return _parse_whole(name, text, namespace)


def _parse_split(name: str, content: str | bytes, namespace: str,
                 previous: Table[bytes, _Document]) -> _FileResult | None:
    """Parse `content` a document at a time (see `_split_documents`); None when it does not
    split cleanly."""
    split = _split_documents(name, content, namespace, previous)
    empty_table(previous)  # 100,000 documents freed at once hold the lock
    if split is None:
        return None
    result = _FileResult([], [], [])
    split.reverse()
    while split:  # taken one by one: 100,000 pairs freed at the end hold the lock
        key, document = split.pop()
        previous[key] = document
        result.items.extend(document.items)
        result.errors.extend(document.errors)
        result.warnings.extend(document.warnings)
    return result


def _parse_whole(name: str, text: str, namespace: str) -> _FileResult:
    """Parse every document of `text` in one pass of the YAML (or JSON) parser."""
    result = _FileResult([], [], [])
    try:
        for index, value in documents.documents(text, name.lower().endswith(".json")):
            doc = Doc(name, index, result.errors, result.warnings, namespace)
            parse_document(doc, value, result.items)
            if len(text) > _BIG_TEXT:
                values = [value]
                del value
                documents.release(values)
    except Unreadable as exc:
        result.errors.append(documents.error_at(name, exc, 1))
    return result


class _Unsplittable(Exception):
    """The text is not plain `---`-separated documents (directives, `...`, bad YAML)."""


def _split_documents(name: str, content: str | bytes, namespace: str,
                     previous: Mapping[bytes, _Document]
                     ) -> list[tuple[bytes, _Document]] | None:
    """Parse `content` one document at a time, reusing `previous` for unchanged ones.

    A file's bytes are decoded a document at a time, and only where the document is new.
    None when the text does not split cleanly; the caller then parses it whole, which
    also gives YAML errors their position in the file. Raises Unreadable for bytes that
    are not UTF-8.
    """
    out: list[tuple[bytes, _Document]] = []
    offset = 0
    for chunk in documents.split(content):
        raw = chunk.encode() if isinstance(chunk, str) else chunk
        key = hashlib.blake2b(raw, digest_size=16).digest()
        index = len(out) + 1
        document = previous.get(key)
        try:
            if document:
                document = document.at(index)
            else:
                text = chunk if isinstance(chunk, str) else documents.decode(chunk, offset)
                document = _parse_chunk(name, text, index, namespace)
        except _Unsplittable:
            return None
        offset += len(chunk)
        if document is not None:
            out.append((key, document))
    return out


def _parse_chunk(name: str, chunk: str, index: int, namespace: str) -> _Document | None:
    """The one document in `chunk`; None for text before the first `---` that holds none."""
    try:
        values = documents.load_yaml(chunk)
    except (yaml.YAMLError, Unreadable):
        raise _Unsplittable from None
    if len(values) > 1:  # a `...` end marker followed by a document without `---`
        raise _Unsplittable
    if not values:
        return None
    items: list[Parsed] = []
    errors: list[ManifestError] = []
    warnings: list[ManifestWarning] = []
    parse_document(Doc(name, index, errors, warnings, namespace), values[0], items)
    if len(chunk) > _BIG_TEXT:
        documents.release(values)
    return _Document(index, tuple(items), tuple(errors), tuple(warnings))


class _Assembly:
    """Puts parsed objects together into a Cluster: duplicates, workloads, addresses."""

    def __init__(self, options: LoadOptions, remembered: AddressBook) -> None:
        self.options = options
        self.remembered = remembered
        self.errors: list[ManifestError] = []
        self.warnings: list[ManifestWarning] = []
        self.book = AddressBook()
        self.origins: Table[tuple[str, str, str], tuple[str, int]] = {}
        self.read: Counter[str] = Counter()
        self.skipped: Counter[str] = Counter()
        self.generated: Counter[str] = Counter()

    def counts(self) -> dict[str, KindCount]:
        kinds = sorted(set(self.read) | set(self.skipped) | set(self.generated))
        return {k: KindCount(self.read[k], self.generated[k], self.skipped[k]) for k in kinds}

    def run(self, parsed: list[Parsed]) -> Cluster:
        objects = self._deduplicated(parsed)
        self.origins = table_for(len(objects))
        services: list[tuple[Service, Parsed]] = []
        written: list[Pod] = []
        owners: list[tuple[Workload, Parsed]] = []
        endpoints: list[EndpointSet] = []
        routing: list[Ingress | Gateway | Route] = []
        namespaces: set[str] = set()
        for item in objects:
            namespaces.add(item.namespace)
            self.origins[item.kind, item.namespace, item.name] = (item.file, item.doc)
            if isinstance(item.value, Service):
                services.append((item.value, item))
            elif isinstance(item.value, Pod):
                written.append(item.value)
            elif isinstance(item.value, Workload):
                owners.append((item.value, item))
            elif isinstance(item.value, tuple):
                endpoints.extend(item.value)
            elif isinstance(item.value, Ingress | Gateway | Route):
                routing.append(item.value)
        assigned = self._services(services)
        pods = self._pods(written, owners, assigned)
        names = self.options.hostnames
        claims, warnings = hostnames.resolve(
            [o for o in routing if isinstance(o, Ingress)],
            [o for o in routing if isinstance(o, Gateway)],
            [o for o in routing if isinstance(o, Route)], assigned, names, self.origins)
        self.warnings.extend(warnings)
        cluster = Cluster(services=tuple(assigned), pods=tuple(pods),
                          endpoints=tuple(endpoints), namespaces=frozenset(namespaces),
                          hostnames=claims, external_zone=names.external_zone,
                          origins=self.origins)
        # Let go a step at a time: on return, these lists' 250,000 references and the
        # pairs made here held the interpreter lock for 8 ms (50,000 services).
        for made in (services, objects, assigned, pods, endpoints, owners, written):
            empty(made)
        return cluster

    def _deduplicated(self, parsed: list[Parsed]) -> list[Parsed]:
        """One object per kind, namespace and name: the last copy in path order, as
        applying every file in turn would leave it."""
        last: Table[tuple[str, str, str], int] = table_for(len(parsed))  # key: its index
        not_objects: list[Parsed] = []
        for index, item in enumerate(parsed):
            if not item.used:
                if item.kind:
                    self.skipped[item.kind] += 1
                else:
                    not_objects.append(item)
                continue
            key = (item.kind, item.namespace, item.name)
            at = last.get(key)
            if at is not None and parsed[at].value != item.value:
                earlier = parsed[at]
                self.warnings.append(ManifestWarning(
                    item.file, item.doc, _join(item.field, "metadata.name"),
                    f"{item.kind} {item.namespace}/{item.name} differs from its copy in "
                    f"{earlier.file}: document {earlier.doc}; this later copy wins, as "
                    "`kubectl apply -R` would leave it"))
            last[key] = index
        if not_objects:
            names = [f"{i.file}" + (f": document {i.doc}" if i.doc > 1 else "")
                     for i in not_objects]
            more = len(names) - NOT_OBJECTS_SHOWN
            shown = ", ".join(names[:NOT_OBJECTS_SHOWN]) + (f" and {more} more" if more > 0
                                                            else "")
            self.warnings.append(ManifestWarning(
                "", 0, "", f"skipped {len(not_objects)} document(s) without apiVersion and "
                f"kind (not Kubernetes objects, e.g. Helm values or an old kustomization): "
                f"{shown}"))
        # Each object stands where its last copy is, as the last `kubectl apply` leaves it.
        wanted = bytearray(len(parsed))
        for at in unordered_values(last):
            wanted[at] = 1
        kept = [item for item, keep in zip(parsed, wanted, strict=True) if keep]
        for item in kept:
            self.read[item.kind] += 1
        empty_table(last)  # a key made per object: 100,000 freed at once hold the lock ~14 ms
        return kept

    def _services(self, services: list[tuple[Service, Parsed]]) -> list[Service]:
        """Check explicit cluster IPs, then derive the missing ones."""
        try:
            networks = addresses.parse_cidrs(self.options.service_cidrs)
        except ValueError as exc:
            self.errors.append(ManifestError("--service-cidr", 0, "", str(exc)))
            return [s for s, _ in services]
        owners: Table[str, Parsed] = table_for(len(services))
        for service, item in services:
            for i, ip in enumerate(service.cluster_ips):
                path = _join(item.field, "spec.clusterIP" if i == 0 else "spec.clusterIPs")
                network = addresses.outside(ip, networks)
                if network is not None:
                    self.errors.append(ManifestError(
                        item.file, item.doc, path, f"{ip} is outside the service range "
                        f"{network} (the API server would refuse it; --service-cidr sets "
                        "the range)"))
                if ip in owners:
                    other = owners[ip]
                    self.errors.append(ManifestError(
                        item.file, item.doc, path,
                        f"{ip} is already the clusterIP of Service {other.namespace}/"
                        f"{other.name}"))
                owners.setdefault(ip, item)
        try:
            assigned, derived = addresses.assign([s for s, _ in services],
                                                 self.options.service_cidrs,
                                                 self.remembered.services)
        except ValueError as exc:
            self.errors.append(ManifestError("--service-cidr", 0, "", str(exc)))
            return [s for s, _ in services]
        self.book = replace(self.book, services=derived)
        return assigned

    def _pods(self, written: list[Pod], owners: list[tuple[Workload, Parsed]],
              services: list[Service]) -> list[Pod]:
        """Written pods, then every workload's pods that no written pod replaces."""
        names = {pod.key for pod in written}
        pods = list(written)
        for workload, item in owners:
            count = workloads.pod_count(workload, self.options.nodes)
            if count > workloads.MAX_PODS_PER_WORKLOAD:
                self.warnings.append(ManifestWarning(
                    item.file, item.doc, _join(item.field, "spec.replicas"),
                    f"{count:,} pods; only the first {workloads.MAX_PODS_PER_WORKLOAD:,} "
                    "are made"))
            for pod in workloads.pods_of(workload, self.options.nodes):
                if pod.key in names:
                    continue  # a Pod manifest of that name stands for it
                names.add(pod.key)
                pods.append(pod)
                self.generated["Pod"] += 1
        try:
            reserved = (ip for service in services for ip in service.cluster_ips)
            pods, derived = addresses.assign_pods(pods, self.options.pod_cidrs,
                                                  self.remembered.pods, reserved)
        except ValueError as exc:
            self.errors.append(ManifestError("--pod-cidr", 0, "", str(exc)))
            return written
        self.book = replace(self.book, pods=derived)
        return pods


def _join(prefix: str, path: str) -> str:
    return f"{prefix}.{path}" if prefix else path
