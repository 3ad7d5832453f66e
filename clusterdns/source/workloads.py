"""Workloads become pods, named and labelled as their controllers would make them.

Real apps ship Deployments and StatefulSets, not Pods with `status.podIP`; without the
pods, every headless Service is NXDOMAIN and `web-0.nginx.<ns>.svc.<zone>` never exists.
So each workload is expanded into the pods its controller keeps running, all ready (the
IPs come later, from the pod range). Names follow the controllers' shapes:

- StatefulSet `<name>-<ordinal>`, hostname = pod name, subdomain = `spec.serviceName`
  (the controller sets both, whatever the template says);
- Deployment `<name>-<hash>-<suffix>`, ReplicaSet, ReplicationController and DaemonSet
  `<name>-<suffix>`, Job `<name>-<suffix>` or, indexed, `<name>-<index>-<suffix>` with
  hostname `<name>-<index>`.

Where a controller would pick something at random (the suffix, the template hash) it is
derived from the workload's namespace and name instead, so a pod keeps its name, and
with it its address, from one start to the next and when the template is edited.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

from .model import Pod, Workload

# The alphabet Kubernetes uses for generated name suffixes (no vowels, no 0/1/3).
_SAFE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
MAX_PODS_PER_WORKLOAD = 10_000  # `replicas: 1000000` must not exhaust memory


def pods_of(workload: Workload, nodes: int = 1) -> list[Pod]:
    """The pods `workload`'s controller runs, on a cluster of `nodes` nodes."""
    return [_pod(workload, name, hostname, labels)
            for name, hostname, labels in _members(workload, nodes)]


def pod_count(workload: Workload, nodes: int = 1) -> int:
    """How many pods `workload` runs, before the per-workload limit."""
    return workload.replicas * nodes if workload.kind == "DaemonSet" else workload.replicas


def _members(workload: Workload, nodes: int) -> Iterator[tuple[str, str, dict[str, str]]]:
    """(pod name, hostname, extra labels) for every pod, in ordinal or index order."""
    name = workload.name
    count = min(pod_count(workload, nodes), MAX_PODS_PER_WORKLOAD)
    if workload.kind == "StatefulSet":
        for ordinal in range(workload.first_ordinal, workload.first_ordinal + count):
            pod = f"{name}-{ordinal}"
            yield pod, pod, {"statefulset.kubernetes.io/pod-name": pod,
                             "apps.kubernetes.io/pod-index": str(ordinal)}
    elif workload.kind == "Deployment":
        template_hash = _safe(workload, "pod-template-hash", 10)
        for i in range(count):
            yield (f"{name}-{template_hash}-{_safe(workload, str(i), 5)}", "",
                   {"pod-template-hash": template_hash})
    elif workload.kind == "Job":
        labels = {"job-name": name, "batch.kubernetes.io/job-name": name}
        for i in range(count):
            suffix = _safe(workload, str(i), 5)
            if workload.indexed:
                yield (f"{name}-{i}-{suffix}", f"{name}-{i}",
                       {**labels, "batch.kubernetes.io/job-completion-index": str(i)})
            else:
                yield f"{name}-{suffix}", "", labels
    else:  # ReplicaSet, ReplicationController, DaemonSet (one per node)
        for i in range(count):
            yield f"{name}-{_safe(workload, str(i), 5)}", "", {}


def _pod(workload: Workload, name: str, hostname: str, extra: dict[str, str]) -> Pod:
    template = workload.template
    if workload.kind == "StatefulSet":
        subdomain = workload.service_name
    else:
        hostname = hostname or template.hostname
        subdomain = template.subdomain
    labels = dict(template.labels)
    labels.update(extra)
    # A hostname is one DNS label: the kubelet cuts a longer pod name to 63 characters.
    hostname = hostname[:63].rstrip("-.")
    return Pod(
        namespace=workload.namespace,
        name=name,
        labels=tuple(sorted(labels.items())),
        hostname=hostname,
        subdomain=subdomain,
        container_ports=template.container_ports,
        owner=workload.owner,
        dns=template.dns,
    )


def _safe(workload: Workload, salt: str, length: int) -> str:
    """`length` characters of Kubernetes' name alphabet, fixed for this workload and salt."""
    seed = f"{workload.kind}/{workload.namespace}/{workload.name}/{salt}".encode()
    number = int.from_bytes(hashlib.sha256(seed).digest()[:8], "big")
    out = []
    for _ in range(length):
        number, index = divmod(number, len(_SAFE_ALPHABET))
        out.append(_SAFE_ALPHABET[index])
    return "".join(out)
