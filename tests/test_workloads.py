"""Workloads become pods as their controllers would make them (source/workloads.py)."""

from __future__ import annotations

import re

import pytest

from clusterdns.source.model import PodTemplate, Workload
from clusterdns.source.workloads import MAX_PODS_PER_WORKLOAD, pod_count, pods_of

TEMPLATE = PodTemplate(labels=(("app", "web"),), container_ports=(("http", 8080),))
# Kubernetes' suffix alphabet: consonants and digits without 0, 1 and 3.
SUFFIX = r"[bcdfghjklmnpqrstvwxz2456789]"
PINNED_DEPLOYMENT_POD = "web-268bt6rnhf-rxffh"  # Deployment shop/web's first pod
PINNED_REPLICASET_POD = "web-6z5fh"  # ReplicaSet shop/web's first pod


def workload(kind: str, **fields: object) -> Workload:
    return Workload(kind=kind, namespace="shop", name="web", template=TEMPLATE,
                    **fields)  # type: ignore[arg-type]


def test_statefulset_pods_are_ordinals_with_hostname_and_service_subdomain() -> None:
    template = PodTemplate(labels=(("app", "web"),), hostname="ignored", subdomain="ignored")
    sts = Workload("StatefulSet", "shop", "web", template, replicas=3, service_name="nginx")
    pods = pods_of(sts)
    assert [(p.name, p.hostname, p.subdomain) for p in pods] == [
        ("web-0", "web-0", "nginx"), ("web-1", "web-1", "nginx"), ("web-2", "web-2", "nginx")]
    assert dict(pods[1].labels) == {"app": "web", "statefulset.kubernetes.io/pod-name": "web-1",
                                    "apps.kubernetes.io/pod-index": "1"}
    assert all(p.owner == "StatefulSet shop/web" and p.ready and not p.ips for p in pods)


def test_statefulset_ordinals_start_where_the_spec_says() -> None:
    pods = pods_of(workload("StatefulSet", replicas=2, first_ordinal=5, service_name="web"))
    assert [p.name for p in pods] == ["web-5", "web-6"]


def test_deployment_pods_share_a_template_hash_and_keep_their_names() -> None:
    pods = pods_of(workload("Deployment", replicas=3))
    assert all(re.fullmatch(rf"web-{SUFFIX}{{10}}-{SUFFIX}{{5}}", p.name) for p in pods)
    hashes = {p.name.split("-")[1] for p in pods}
    assert len(hashes) == 1 and dict(pods[0].labels)["pod-template-hash"] == hashes.pop()
    assert len({p.name for p in pods}) == 3
    assert pods_of(workload("Deployment", replicas=3)) == pods  # the same every time
    assert [p.name for p in pods_of(workload("Deployment", replicas=2))] == [
        p.name for p in pods[:2]]  # scaling down keeps the others
    assert all(p.hostname == "" and p.container_ports == (("http", 8080),) for p in pods)


@pytest.mark.parametrize("kind", ["ReplicaSet", "ReplicationController", "DaemonSet"])
def test_other_controllers_name_pods_with_one_suffix(kind: str) -> None:
    pods = pods_of(workload(kind, replicas=2), nodes=2)
    assert all(re.fullmatch(rf"web-{SUFFIX}{{5}}", p.name) for p in pods)
    assert all(p.owner == f"{kind} shop/web" and dict(p.labels) == {"app": "web"} for p in pods)


def test_a_daemonset_runs_one_pod_per_node() -> None:
    assert len(pods_of(workload("DaemonSet"), nodes=1)) == 1
    assert len(pods_of(workload("DaemonSet"), nodes=4)) == 4


def test_template_hostname_and_subdomain_apply_to_other_controllers() -> None:
    template = PodTemplate(labels=(("app", "w"),), hostname="box", subdomain="grid")
    (pod,) = pods_of(Workload("Deployment", "shop", "w", template))
    assert (pod.hostname, pod.subdomain) == ("box", "grid")


def test_indexed_job_pods_get_their_index_as_hostname() -> None:
    template = PodTemplate(subdomain="workers")
    job = Workload("Job", "batch", "crunch", template, replicas=3, indexed=True)
    pods = pods_of(job)
    assert [p.hostname for p in pods] == ["crunch-0", "crunch-1", "crunch-2"]
    assert all(re.fullmatch(rf"crunch-{i}-{SUFFIX}{{5}}", p.name) for i, p in enumerate(pods))
    assert all(p.subdomain == "workers" for p in pods)
    assert dict(pods[2].labels) == {"job-name": "crunch", "batch.kubernetes.io/job-name": "crunch",
                                    "batch.kubernetes.io/job-completion-index": "2"}


def test_a_plain_job_pod_has_no_hostname() -> None:
    (pod,) = pods_of(Workload("Job", "batch", "once", PodTemplate()))
    assert pod.hostname == "" and dict(pod.labels)["job-name"] == "once"


def test_zero_replicas_make_no_pods_and_huge_counts_are_capped() -> None:
    assert pods_of(workload("Deployment", replicas=0)) == []
    huge = workload("StatefulSet", replicas=10**9, service_name="web")
    assert pod_count(huge) == 10**9
    assert len(pods_of(huge)) == MAX_PODS_PER_WORKLOAD


def test_a_hostname_longer_than_a_label_is_cut_as_the_kubelet_cuts_it() -> None:
    name = "a" * 61
    pods = pods_of(Workload("StatefulSet", "shop", name, PodTemplate(), replicas=11,
                            service_name="s"))
    assert (pods[0].name, pods[0].hostname) == (f"{name}-0", f"{name}-0")  # 63: fits
    assert (pods[10].name, pods[10].hostname) == (f"{name}-10", f"{name}-1")  # 64: cut


def test_generated_pod_names_are_pinned() -> None:
    # A pod's name seeds its derived address: a change of naming moves every pod's address.
    (deployment,) = pods_of(Workload("Deployment", "shop", "web", TEMPLATE))
    (replicas,) = pods_of(Workload("ReplicaSet", "shop", "web", TEMPLATE))
    assert (deployment.name, replicas.name) == (PINNED_DEPLOYMENT_POD, PINNED_REPLICASET_POD)
    assert len(pods_of(Workload("DaemonSet", "shop", "agent", TEMPLATE))) == 1  # one node
