"""What the kubelet reads of a pod, from a Pod, a workload's pod template, or a whole file."""

from __future__ import annotations

import json

import pytest

from clusterdns.podfile import first_pod
from clusterdns.source.poddns import POD_SPEC_PATHS, PodDNS, PodDNSConfig, from_pod_spec

SPEC = {
    "dnsPolicy": "None",
    "hostNetwork": True,
    "dnsConfig": {
        "nameservers": ["192.0.2.1", "2001:db8::53"],
        "searches": ["ns1.svc.cluster-domain.example", "my.dns.search.suffix"],
        "options": [{"name": "ndots", "value": "2"}, {"name": "edns0"}],
    },
    "containers": [{"name": "test", "image": "nginx"}],
}
POD = PodDNS("shop", "None", True, PodDNSConfig(
    ("192.0.2.1", "2001:db8::53"),
    ("ns1.svc.cluster-domain.example", "my.dns.search.suffix"),
    (("ndots", "2"), ("edns0", None))))


def test_a_pod_spec_gives_its_policy_host_network_and_dns_config() -> None:
    assert from_pod_spec("shop", SPEC) == (POD, [])


def test_an_empty_spec_is_cluster_first_on_the_pod_network_without_dns_config() -> None:
    assert from_pod_spec("shop", {}) == (PodDNS("shop"), [])
    assert from_pod_spec("shop", {"dnsPolicy": "", "dnsConfig": None}) == (PodDNS("shop"), [])


def test_an_unknown_policy_is_kept_for_the_rules_to_warn_about() -> None:
    assert from_pod_spec("shop", {"dnsPolicy": "Nearest"})[0].dns_policy == "Nearest"


def test_an_empty_dns_config_is_not_no_dns_config() -> None:
    assert from_pod_spec("shop", {"dnsConfig": {}})[0].dns_config == PodDNSConfig()


@pytest.mark.parametrize(("spec", "problem"), [
    ({"dnsPolicy": 3}, ("dnsPolicy", "3 is not a string")),
    ({"hostNetwork": "yes"}, ("hostNetwork", "'yes' is not true or false")),
    ({"dnsConfig": ["1.2.3.4"]}, ("dnsConfig", "must be a mapping")),
    ({"dnsConfig": {"nameservers": "1.2.3.4"}}, ("dnsConfig.nameservers", "must be a list")),
    ({"dnsConfig": {"nameservers": ["1.2.3.4", "dns.example"]}},
     ("dnsConfig.nameservers[1]", "'dns.example' is not an IP address")),
    ({"dnsConfig": {"nameservers": [16843009]}},
     ("dnsConfig.nameservers[0]", "16843009 is not an IP address")),
    ({"dnsConfig": {"searches": ["a", ""]}}, ("dnsConfig.searches[1]", "'' is not a domain")),
    ({"dnsConfig": {"options": ["ndots:2"]}},
     ("dnsConfig.options[0]", "must be a mapping with a name")),
    ({"dnsConfig": {"options": [{"value": "2"}]}}, ("dnsConfig.options[0].name", "required")),
    ({"dnsConfig": {"options": [{"name": "ndots", "value": 2}]}},
     ("dnsConfig.options[0].value", "2 is not a string (quote it)")),
])
def test_a_malformed_spec_names_the_field(spec: dict[str, object],
                                          problem: tuple[str, str]) -> None:
    assert from_pod_spec("shop", spec)[1] == [problem]


def template(spec: dict[str, object]) -> dict[str, object]:
    return {"metadata": {"labels": {"app": "x"}}, "spec": spec}


# Written out by hand, not from POD_SPEC_PATHS, so a wrong path there fails here.
WRAPS = {
    "Pod": lambda spec: spec,
    "Deployment": lambda spec: {"replicas": 2, "template": template(spec)},
    "StatefulSet": lambda spec: {"serviceName": "x", "template": template(spec)},
    "DaemonSet": lambda spec: {"template": template(spec)},
    "ReplicaSet": lambda spec: {"template": template(spec)},
    "ReplicationController": lambda spec: {"template": template(spec)},
    "Job": lambda spec: {"template": template(spec)},
    "CronJob": lambda spec: {"schedule": "@daily",
                             "jobTemplate": {"spec": {"template": template(spec)}}},
}


def manifest(kind: str, spec: dict[str, object], namespace: str | None = "shop") -> dict:
    """A `kind` object whose pods have `spec`."""
    meta = {"name": "x"} | ({"namespace": namespace} if namespace else {})
    return {"apiVersion": "v1", "kind": kind, "metadata": meta, "spec": WRAPS[kind](spec)}


def test_every_kind_that_makes_pods_is_read() -> None:
    assert set(POD_SPEC_PATHS) == set(WRAPS)


@pytest.mark.parametrize("kind", list(WRAPS))
def test_every_kind_that_makes_pods_gives_its_pods_dns(kind: str) -> None:
    text = json.dumps(manifest(kind, SPEC))
    assert first_pod("x.json", text) == (POD, [])


def test_the_first_pod_or_workload_in_a_yaml_file_counts() -> None:
    text = (
        "apiVersion: v1\nkind: Service\nmetadata: {name: web}\n---\n"
        "apiVersion: batch/v1\nkind: CronJob\nmetadata: {name: nightly, namespace: jobs}\n"
        "spec:\n  schedule: '@daily'\n  jobTemplate:\n    spec:\n      template:\n"
        "        spec:\n          dnsPolicy: Default\n---\n"
        "apiVersion: v1\nkind: Pod\nmetadata: {name: later}\n"
    )
    assert first_pod("f.yaml", text) == (PodDNS("jobs", "Default"), [])


def test_list_items_are_searched_too() -> None:
    text = json.dumps({"kind": "List", "items": [
        {"kind": "ConfigMap", "metadata": {"name": "c"}},
        manifest("Deployment", {"dnsConfig": {"searches": ["corp"]}}, namespace=None),
    ]})
    assert first_pod("l.json", text) == (
        PodDNS("default", dns_config=PodDNSConfig(searches=("corp",))), [])


@pytest.mark.parametrize(("named", "asked", "namespace"), [
    (None, None, "default"),
    (None, "dev", "dev"),
    ("shop", None, "shop"),
    ("shop", "shop", "shop"),
])
def test_the_namespace_is_the_manifests_else_the_one_asked_for(
        named: str | None, asked: str | None, namespace: str) -> None:
    text = json.dumps(manifest("Pod", {}, namespace=named))
    pod, errors = first_pod("p.json", text, asked)
    assert (pod, errors) == (PodDNS(namespace), [])


def test_a_namespace_other_than_the_one_asked_for_is_an_error() -> None:
    _, errors = first_pod("p.json", json.dumps(manifest("Pod", {})), "dev")
    assert [str(e) for e in errors] == [
        "p.json: document 1: metadata.namespace: 'shop' does not match the namespace 'dev' "
        "asked for"]


@pytest.mark.parametrize(("text", "messages"), [
    ("kind: Service\nmetadata: {name: s}\n",
     ["f.yaml: no object of a kind that makes pods (Pod, Deployment, StatefulSet, DaemonSet, "
      "ReplicaSet, ReplicationController, Job, CronJob)"]),
    ("kind: Pod\nspec: [\n", None),
    ("kind: Service\n---\nkind: Deployment\nmetadata: {name: d}\nspec: {}\n",
     ["f.yaml: document 2: spec.template: required"]),
    ("kind: List\nitems:\n- kind: Job\n  spec: {template: 3}\n",
     ["f.yaml: document 1: items[0].spec.template: must be a mapping"]),
    ("kind: Deployment\nspec:\n  template:\n    spec:\n      hostNetwork: 1\n"
     "      dnsConfig: {nameservers: [x]}\n",
     ["f.yaml: document 1: spec.template.spec.hostNetwork: 1 is not true or false",
      "f.yaml: document 1: spec.template.spec.dnsConfig.nameservers[0]: 'x' is not an IP "
      "address"]),
])
def test_problems_name_the_file_the_document_and_the_field(
        text: str, messages: list[str] | None) -> None:
    pod, errors = first_pod("f.yaml", text)
    assert pod is None
    if messages is None:  # the YAML error as `check` reports it: document, line, column
        (error,) = errors
        assert str(error).startswith("f.yaml: document 1: invalid YAML at line 3, column 1: ")
    else:
        assert [str(e) for e in errors] == messages
