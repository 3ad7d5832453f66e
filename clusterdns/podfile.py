"""The pod a manifest file describes: its first Pod, or the pod template of its first workload.

This is what `clusterdns resolv-conf --pod FILE` reads. The text comes in already read,
and every problem is a ManifestError naming the file, the document and the field, as
`clusterdns check` reports them.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from .source import documents
from .source.documents import Unreadable
from .source.poddns import POD_SPEC_PATHS, PodDNS, from_pod_spec
from .source.problems import ManifestError


def first_pod(file: str, text: str, namespace: str | None = None
              ) -> tuple[PodDNS | None, list[ManifestError]]:
    """The PodDNS of the first Pod or workload in `text` (YAML documents, `kind: List`, JSON).

    Returns the pod, or None and every problem found in it. A workload's pods live in the
    workload's namespace. `namespace` is the one for an object that names none (default
    `default`); an object naming another one is an error, as `kubectl apply -n` makes it.
    """
    try:
        objects = list(_objects(file, text))
    except Unreadable as exc:
        return None, [documents.error_at(file, exc, 1)]
    for doc, prefix, obj in objects:
        kind = obj.get("kind")
        if isinstance(kind, str) and kind in POD_SPEC_PATHS:
            return _pod(_Place(file, doc, prefix), obj, POD_SPEC_PATHS[kind], namespace)
    kinds = ", ".join(POD_SPEC_PATHS)
    return None, [ManifestError(file, 0, "", f"no object of a kind that makes pods ({kinds})")]


def _objects(file: str, text: str) -> Iterator[tuple[int, str, Mapping[str, Any]]]:
    """Each object in the file as (document number, field prefix, object), List items too."""
    # The one reader of manifest text, so YAML means here what it means to `serve`.
    for doc, obj in documents.documents(text, file.lower().endswith(".json")):
        if not isinstance(obj, Mapping):
            continue
        items = obj.get("items")
        if isinstance(items, list) and str(obj.get("kind", "")).endswith("List"):
            for i, item in enumerate(items):
                if isinstance(item, Mapping):
                    yield doc, f"items[{i}].", item
        else:
            yield doc, "", obj


@dataclass(frozen=True)
class _Place:
    """Where an object sits: file, document number, and its field prefix inside a List."""

    file: str
    doc: int
    prefix: str

    def error(self, field: str, message: str) -> ManifestError:
        return ManifestError(self.file, self.doc, self.prefix + field, message)


def _pod(place: _Place, obj: Mapping[str, Any], path: tuple[str, ...], namespace: str | None
         ) -> tuple[PodDNS | None, list[ManifestError]]:
    meta = obj.get("metadata")
    named = meta.get("namespace") if isinstance(meta, Mapping) else None
    if named is not None and not isinstance(named, str):
        return None, [place.error("metadata.namespace", f"{named!r} is not a name")]
    if named and namespace and named != namespace:
        return None, [place.error("metadata.namespace", f"{named!r} does not match the "
                                  f"namespace {namespace!r} asked for")]
    spec: Any = obj
    for depth, key in enumerate(path, start=1):
        spec = spec.get(key)
        if not isinstance(spec, Mapping):
            problem = "required" if spec is None else "must be a mapping"
            return None, [place.error(".".join(path[:depth]), problem)]
    pod, problems = from_pod_spec(named or namespace or "default", spec)
    where = ".".join(path)
    errors = [place.error(f"{where}.{field}", message) for field, message in problems]
    return (None, errors) if errors else (pod, [])
