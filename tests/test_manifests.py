"""Loading manifests: what is read, and how every problem is reported."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from clusterdns.shards import Shards
from clusterdns.source import manifests
from clusterdns.source.manifests import ManifestError

EXAMPLES = Path(__file__).resolve().parent.parent / "manifests"


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def test_article_examples_load_without_errors() -> None:
    loaded = manifests.load([EXAMPLES])
    cluster, errors = loaded.cluster, loaded.errors
    assert errors == []
    assert sorted(s.name for s in cluster.services) == [
        "endpoint2", "externalname1", "headless1", "service1"]
    assert {p.name: p.ips for p in cluster.pods} == {
        "pod4": ("20.109.5.11",), "pod9": ("20.109.5.12",)}
    assert all(s.namespace == "default" for s in cluster.services)
    headless = next(s for s in cluster.services if s.name == "headless1")
    assert headless.headless and headless.cluster_ips == ()


def test_reads_yaml_yml_json_recursively_and_skips_hidden(tmp_path: Path) -> None:
    svc = "apiVersion: v1\nkind: Service\nmetadata: {name: %s}\nspec: {ports: [{port: 80}]}\n"
    write(tmp_path, "a.yaml", svc % "a")
    write(tmp_path, "sub/deeper/b.yml", svc % "b")
    write(tmp_path, "c.json", '{"kind": "Service", "metadata": {"name": "c"},'
                              ' "spec": {"ports": [{"port": 80}]}}')
    write(tmp_path, "notes.txt", svc % "ignored")
    write(tmp_path, "..data/a.yaml", svc % "a")  # a ConfigMap volume's real files
    write(tmp_path, ".hidden/d.yaml", svc % "d")
    loaded = manifests.load([tmp_path])
    cluster, errors = loaded.cluster, loaded.errors
    assert errors == []
    assert sorted(s.name for s in cluster.services) == ["a", "b", "c"]


def test_a_single_file_root_reads_that_file_only(tmp_path: Path) -> None:
    one = write(tmp_path, "svc.yaml", "apiVersion: v1\nkind: Pod\nmetadata: {name: mine}\n")
    write(tmp_path, "sibling.yaml", "apiVersion: v1\nkind: Pod\nmetadata: {name: theirs}\n")
    write(tmp_path, "sub/deeper.yaml", "apiVersion: v1\nkind: Pod\nmetadata: {name: deep}\n")
    assert [p.name for p in manifests.load([one]).cluster.pods] == ["mine"]


def test_single_file_and_several_roots(tmp_path: Path) -> None:
    one = write(tmp_path, "one/x.yaml", "kind: Pod\nmetadata: {name: x}\n")
    write(tmp_path, "two/y.yaml", "kind: Pod\nmetadata: {name: y, namespace: other}\n")
    loaded = manifests.load([one, tmp_path / "two"])
    cluster, errors = loaded.cluster, loaded.errors
    assert errors == []
    assert {(p.namespace, p.name) for p in cluster.pods} == {("default", "x"), ("other", "y")}
    assert cluster.namespaces == {"default", "other"}


def test_multi_document_and_list(tmp_path: Path) -> None:
    write(tmp_path, "m.yaml", """\
        kind: Pod
        metadata: {name: p1}
        ---
        ---
        kind: List
        items:
        - kind: Pod
          metadata: {name: p2}
        - kind: ConfigMap
          metadata: {name: skipped}
        """)
    loaded = manifests.load([tmp_path])
    cluster, errors = loaded.cluster, loaded.errors
    assert errors == []
    assert sorted(p.name for p in cluster.pods) == ["p1", "p2"]


BAD = [
    ("kind: Service\nmetadata: {name: s}\nspec: {clusterIP: 10.0.0.300, ports: [{port: 80}]}\n",
     "s.yaml: document 1: spec.clusterIP: '10.0.0.300' is not an IP address"),
    ("kind: Service\nmetadata: {}\n", "s.yaml: document 1: metadata.name: required"),
    ("kind: Service\nmetadata: {name: s}\nspec: {ports: [{port: 70000}]}\n",
     "s.yaml: document 1: spec.ports[0].port: 70000 is not a port number (1-65535)"),
    ("kind: Service\nmetadata: {name: s}\nspec: {ports: [{port: 80, protocol: HTTP}]}\n",
     "s.yaml: document 1: spec.ports[0].protocol: 'HTTP' is not one of TCP, UDP, SCTP"),
    ("kind: Service\nmetadata: {name: s}\nspec: {ports: [{port: 80}, {port: 81}]}\n",
     "s.yaml: document 1: spec.ports[0].name: required when a service has more than one port"),
    ("kind: Service\nmetadata: {name: s}\nspec: {}\n",
     "s.yaml: document 1: spec.ports: required for a ClusterIP service"),
    ("kind: Service\nmetadata: {name: s}\nspec: {type: ExternalName}\n",
     "s.yaml: document 1: spec.externalName: required for an ExternalName service"),
    ("kind: Service\nmetadata: {name: s}\nspec: {type: ExternalName, externalName: 'a b'}\n",
     "s.yaml: document 1: spec.externalName: 'a b' is not a DNS name"),
    ("kind: Service\nmetadata: {name: s}\nspec: {type: Magic, ports: [{port: 1}]}\n",
     "s.yaml: document 1: spec.type: 'Magic' is not one of ClusterIP, NodePort, "
     "LoadBalancer, ExternalName"),
    ("kind: Service\nmetadata: {name: Bad_Name}\nspec: {ports: [{port: 1}]}\n",
     "s.yaml: document 1: metadata.name: 'Bad_Name' is not a valid DNS label"),
    ("kind: Pod\nmetadata: {name: p}\nstatus: {podIP: nope}\n",
     "s.yaml: document 1: status.podIP: 'nope' is not an IP address"),
    ("kind: Endpoints\nmetadata: {name: e}\nsubsets: [{addresses: [{ip: 1.2.3}]}]\n",
     "s.yaml: document 1: subsets[0].addresses[0].ip: '1.2.3' is not an IP address"),
    ("kind: EndpointSlice\nmetadata: {name: e, labels: {kubernetes.io/service-name: s}}\n"
     "addressType: IPv6\nendpoints: [{addresses: [10.0.0.1]}]\n",
     "s.yaml: document 1: endpoints[0].addresses[0]: '10.0.0.1' is not an IPv6 address"),
    ("kind: Service\nmetadata: {name: s}\nspec: {clusterIP: 8.8.8.8, ports: [{port: 80}]}\n",
     "s.yaml: document 1: spec.clusterIP: 8.8.8.8 is outside the service range 10.96.0.0/12"),
    ("kind: Service\nmetadata: {name: s}\n"
     "spec: {clusterIPs: [10.96.0.5, 10.96.0.6], ports: [{port: 80}]}\n",
     "s.yaml: document 1: spec.clusterIPs: at most one address per IP family"),
    ("kind: Service\nmetadata: {name: s}\nspec: {clusterIP: 'fd00:1::5', ports: [{port: 80}]}\n",
     "s.yaml: document 1: spec.clusterIP: fd00:1::5 is outside the service range "
     "fd00:10:96::/112"),
    ("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec: {replicas: three}\n",
     "s.yaml: document 1: spec.replicas: 'three' is not a whole number of 0 or more"),
    ("apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: s}\n"
     "spec: {serviceName: Bad_Name}\n",
     "s.yaml: document 1: spec.serviceName: 'Bad_Name' is not a valid DNS label"),
    ("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec:\n  template:\n"
     "    metadata: {labels: {app: [x]}}\n",
     "s.yaml: document 1: spec.template.metadata.labels.app: must be a string"),
    ("kind: List\nitems:\n- kind: Pod\n  metadata: {name: p}\n  status: {podIP: 1.1.1.x}\n",
     "s.yaml: document 1: items[0].status.podIP: '1.1.1.x' is not an IP address"),
    ("kind: Pod\nmetadata: {name: ok}\n---\nkind: Pod\nmetadata: {name: [unclosed\n",
     "s.yaml: document 2: invalid YAML"),
]


@pytest.mark.parametrize(("text", "expected"), BAD, ids=[e for _, e in BAD])
def test_every_problem_names_file_document_and_field(tmp_path: Path, text: str,
                                                      expected: str) -> None:
    write(tmp_path, "s.yaml", text)
    errors = manifests.load([tmp_path]).errors
    assert errors, "expected a ManifestError"
    assert str(errors[0]).replace(str(tmp_path) + "/", "").startswith(expected)
    assert all(isinstance(e, ManifestError) for e in errors)


def test_all_problems_are_reported_not_just_the_first(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", "kind: Pod\nmetadata: {name: p}\nstatus: {podIP: x}\n---\n"
                              "kind: Service\nmetadata: {name: s}\nspec: {clusterIP: y, "
                              "ports: [{port: 0}]}\n")
    write(tmp_path, "b.yaml", "kind: Service\nmetadata: {}\n")
    errors = manifests.load([tmp_path]).errors
    assert [(Path(e.file).name, e.doc, e.field) for e in errors] == [
        ("a.yaml", 1, "status.podIP"),
        ("a.yaml", 2, "spec.clusterIP"),
        ("a.yaml", 2, "spec.ports[0].port"),
        ("b.yaml", 1, "metadata.name"),
    ]


SVC = ("apiVersion: v1\nkind: Service\nmetadata: {name: %s}\n"
       "spec: {clusterIP: %s, ports: [{port: 1}]}\n")


def test_identical_copies_are_one_object(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", SVC % ("one", "10.96.0.50"))
    write(tmp_path, "copies/a.yaml", SVC % ("one", "10.96.0.50"))
    loaded = manifests.load([tmp_path])
    assert loaded.errors == [] and loaded.warnings == []
    assert [s.name for s in loaded.cluster.services] == ["one"]
    assert loaded.counts["Service"] == manifests.KindCount(read=1)


def test_a_differing_copy_wins_when_it_comes_last_in_path_order(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", SVC % ("one", "10.96.0.50"))
    write(tmp_path, "b.yaml", SVC % ("one", "10.96.0.51") + "---\n" + SVC % ("two", "10.96.0.52"))
    loaded = manifests.load([tmp_path])
    assert loaded.errors == []
    assert {s.name: s.cluster_ips for s in loaded.cluster.services} == {
        "one": ("10.96.0.51",), "two": ("10.96.0.52",)}
    (warning,) = loaded.warnings
    assert str(warning).replace(str(tmp_path) + "/", "") == (
        "b.yaml: document 1: metadata.name: Service default/one differs from its copy in "
        "a.yaml: document 1; this later copy wins, as `kubectl apply -R` would "
        "leave it")
    assert loaded.origins["Service", "default", "one"] == (str(tmp_path / "b.yaml"), 1)


def test_two_services_with_one_cluster_ip_is_an_error(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", SVC % ("one", "10.96.0.50"))
    write(tmp_path, "c.yaml", SVC % ("two", "10.96.0.50"))
    (error,) = manifests.load([tmp_path]).errors
    assert str(error).replace(str(tmp_path) + "/", "") == (
        "c.yaml: document 1: spec.clusterIP: 10.96.0.50 is already the clusterIP of "
        "Service default/one")


def test_same_name_different_kind_or_namespace_is_fine(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", "kind: Service\nmetadata: {name: x}\nspec: {ports: [{port: 1}]}\n"
                              "---\nkind: Endpoints\nmetadata: {name: x}\n---\n"
                              "kind: Service\nmetadata: {name: x, namespace: b}\n"
                              "spec: {ports: [{port: 1}]}\n")
    assert manifests.load([tmp_path]).errors == []


def test_unchanged_files_are_not_parsed_again(tmp_path: Path, monkeypatch) -> None:
    path = write(tmp_path, "a.yaml", "kind: Pod\nmetadata: {name: p}\n")
    cache = manifests.FileCache()
    manifests.load([tmp_path], cache=cache)
    calls = []
    real = manifests.read_file
    monkeypatch.setattr(manifests, "read_file",
                        lambda p, *rest: calls.append(p) or real(p, *rest))
    manifests.load([tmp_path], cache=cache)
    assert calls == []
    path.write_text("kind: Pod\nmetadata: {name: p2}\n")
    cluster = manifests.load([tmp_path], cache=cache).cluster
    assert calls == [path] and cluster.pods[0].name == "p2"


def test_not_ready_pod_and_publish_annotation(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", """\
        kind: Pod
        metadata: {name: p}
        status:
          podIP: 10.0.0.1
          conditions: [{type: Ready, status: "False"}]
        ---
        kind: Service
        metadata:
          name: s
          annotations: {service.alpha.kubernetes.io/tolerate-unready-endpoints: "true"}
        spec: {clusterIP: None}
        """)
    loaded = manifests.load([tmp_path])
    cluster, errors = loaded.cluster, loaded.errors
    assert errors == []
    assert cluster.pods[0].ready is False
    assert cluster.services[0].publish_not_ready is True


POD = "kind: Pod\nmetadata: {name: %s}\nstatus: {podIP: 10.0.0.%d}\n"
SPLIT_CASES = {
    "plain": POD % ("a", 1) + "---\n" + POD % ("b", 2),
    "leading marker and comments": "# pods\n---\n" + POD % ("a", 1) + "--- # two\n"
                                   + POD % ("b", 2),
    "empty documents": "---\n---\n" + POD % ("a", 1) + "---\n\n---\n",
    "content on the marker line": "--- {kind: Pod, metadata: {name: a}}\n--- {kind: Pod}\n",
    "block scalar": "kind: Pod\nmetadata:\n  name: a\n  annotations:\n    note: |\n"
                    "      --- not a document\n      ---\n---\n" + POD % ("b", 2),
    "end markers": POD % ("a", 1) + "...\n---\n" + POD % ("b", 2) + "...\n",
    "document after an end marker": POD % ("a", 1) + "...\n" + POD % ("b", 2),
    "directive": "%YAML 1.1\n---\n" + POD % ("a", 1) + "---\n" + POD % ("b", 2),
    "invalid YAML in the middle": POD % ("a", 1) + "---\nkind: [Pod\n---\n" + POD % ("b", 2),
    "field errors": POD % ("a", 1) + "---\nkind: Pod\nmetadata: {}\n---\n" + POD % ("b", 300),
    "list": "kind: List\nitems:\n- " + POD.replace("\n", "\n  ") % ("a", 1) + "\n---\n"
            + POD % ("b", 2),
    "crlf": (POD % ("a", 1) + "---\n" + POD % ("b", 2)).replace("\n", "\r\n"),
}


@pytest.mark.parametrize("text", SPLIT_CASES.values(), ids=SPLIT_CASES.keys())
def test_reading_document_by_document_equals_reading_the_file_whole(
        tmp_path: Path, text: str) -> None:
    path = tmp_path / "a.yaml"
    path.write_bytes(text.encode())
    assert manifests.read_file(path, {}) == manifests.read_file(path)


def test_unchanged_documents_of_a_changed_file_are_reused(tmp_path: Path) -> None:
    path = tmp_path / "a.yaml"
    docs = [POD % ("a", 1), "kind: Pod\nmetadata: {}\n", POD % ("c", 3)]
    path.write_text("---\n".join(docs))
    documents: dict = {}
    first = manifests.read_file(path, documents)
    assert [e.doc for e in first.errors] == [2]

    docs[2] = POD % ("c", 4)  # one document edited
    path.write_text("---\n".join(docs))
    after = manifests.read_file(path, documents).items
    assert after[0] is first.items[0]  # not parsed again
    assert after[1].value.ips == ("10.0.0.4",)

    path.write_text("---\n".join([POD % ("new", 9), *docs]))  # one inserted in front
    moved = manifests.read_file(path, documents)
    assert [item.doc for item in moved.items] == [1, 2, 4]
    assert moved.items[2].value is after[1].value  # reused, renumbered
    assert [str(e) for e in moved.errors] == [f"{path}: document 3: metadata.name: required"]
    assert moved == manifests.read_file(path)


def test_a_file_of_many_documents_keeps_them_in_shards_and_reuses_them(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(manifests, "SHARDED_DOCUMENTS", 2)
    path = tmp_path / "a.yaml"
    docs = [POD % (name, i) for i, name in enumerate("abcd", 1)]
    path.write_text("---\n".join(docs))
    cache = manifests.FileCache()
    first = manifests.load([tmp_path], cache=cache)
    assert isinstance(cache.documents[str(path)], Shards)
    docs[1] = POD % ("b", 9)
    path.write_text("---\n".join(docs))
    after = manifests.load([tmp_path], cache=cache)
    assert [p.ips for p in after.cluster.pods] == [("10.0.0.1",), ("10.0.0.9",),
                                                   ("10.0.0.3",), ("10.0.0.4",)]
    assert after.cluster.pods[0] is first.cluster.pods[0]  # not parsed again
    assert len(cache.documents[str(path)]) == 4


def test_documents_that_are_not_objects_are_skipped_with_one_warning(tmp_path: Path) -> None:
    write(tmp_path, "Chart.yaml", "name: shop\nversion: 1.0.0\n")  # no templates/ beside it
    write(tmp_path, "values.yaml", "replicas: 2\nimage: {tag: latest}\n")
    write(tmp_path, "kustomization.yaml", "resources: [svc.yaml]\n")
    write(tmp_path, "list.yaml", "- just\n- a list\n---\n" + POD % ("p", 1))
    loaded = manifests.load([tmp_path])
    assert loaded.errors == []
    assert [p.name for p in loaded.cluster.pods] == ["p"]
    (warning,) = [w for w in loaded.warnings if "without apiVersion" in str(w)]
    assert str(warning) == (
        "skipped 4 document(s) without apiVersion and kind (not Kubernetes objects, e.g. "
        f"Helm values or an old kustomization): {tmp_path}/Chart.yaml, "
        f"{tmp_path}/kustomization.yaml, {tmp_path}/list.yaml, {tmp_path}/values.yaml")


def test_kinds_dns_does_not_use_are_counted_and_never_break_the_zone(tmp_path: Path) -> None:
    write(tmp_path, "other.yaml", """\
        apiVersion: v1
        kind: ConfigMap
        metadata: [not, a, mapping]
        data: {a: {b: c}}
        ---
        apiVersion: serving.knative.dev/v1
        kind: Service
        metadata: {name: Not_A_Core_Service}
        ---
        apiVersion: monitoring.coreos.com/v1
        kind: ServiceMonitor
        spec: 42
        """)
    loaded = manifests.load([tmp_path])
    assert loaded.errors == [] and loaded.cluster.services == ()
    assert {k: c.skipped for k, c in loaded.counts.items()} == {
        "ConfigMap": 1, "Service.serving.knative.dev": 1, "ServiceMonitor.monitoring.coreos.com": 1}


def test_a_missing_api_version_is_read_with_a_warning(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", "kind: Pod\nmetadata: {name: p}\n")
    loaded = manifests.load([tmp_path])
    assert [p.name for p in loaded.cluster.pods] == ["p"]
    assert [str(w) for w in loaded.warnings] == [
        f"{tmp_path}/a.yaml: document 1: apiVersion: missing (kubectl would refuse it); "
        "read as a Pod"]


def test_objects_without_a_namespace_land_in_the_one_given(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", """\
        apiVersion: v1
        kind: Service
        metadata: {name: server}
        spec: {ports: [{port: 80}]}
        ---
        apiVersion: v1
        kind: Service
        metadata: {name: pinned, namespace: elsewhere}
        spec: {ports: [{port: 80}]}
        """)
    cache = manifests.FileCache()
    loaded = manifests.load([tmp_path], manifests.LoadOptions(namespace="argocd"), cache)
    assert {s.key for s in loaded.cluster.services} == {("argocd", "server"),
                                                         ("elsewhere", "pinned")}
    assert loaded.cluster.namespaces == {"argocd", "elsewhere"}
    again = manifests.load([tmp_path], manifests.LoadOptions(), cache)  # the cache follows
    assert ("default", "server") in {s.key for s in again.cluster.services}


APP = """\
apiVersion: v1
kind: Service
metadata: {name: nginx}
spec: {clusterIP: None, selector: {app: nginx}, ports: [{name: web, port: 80}]}
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: web}
spec:
  serviceName: nginx
  replicas: 2
  selector: {matchLabels: {app: nginx}}
  template:
    metadata: {labels: {app: nginx}}
    spec: {containers: [{name: nginx, ports: [{name: web, containerPort: 80}]}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: api, namespace: shop}
spec:
  replicas: 3
  template:
    metadata: {labels: {app: api}}
"""


def test_workloads_become_ready_pods_with_derived_addresses(tmp_path: Path) -> None:
    write(tmp_path, "app.yaml", APP)
    loaded = manifests.load([tmp_path])
    assert loaded.errors == []
    pods = {p.name: p for p in loaded.cluster.pods}
    assert sorted(n for n in pods if n.startswith("web-")) == ["web-0", "web-1"]
    assert sum(n.startswith("api-") for n in pods) == 3
    assert all(p.ready and len(p.ips) == 1 and p.ips[0].startswith("10.244.")
               for p in pods.values())
    assert (pods["web-1"].hostname, pods["web-1"].subdomain) == ("web-1", "nginx")
    assert loaded.counts["Pod"] == manifests.KindCount(generated=5)
    assert loaded.counts["StatefulSet"] == manifests.KindCount(read=1)
    assert set(loaded.addresses.pods) == {p.key for p in pods.values()}


def test_a_written_pod_stands_for_the_generated_pod_of_its_name(tmp_path: Path) -> None:
    write(tmp_path, "app.yaml", APP + "---\n" + """\
        apiVersion: v1
        kind: Pod
        metadata: {name: web-1, labels: {app: nginx}}
        spec: {hostname: web-1, subdomain: nginx}
        status: {podIP: 10.244.99.1}
        """.replace("        ", ""))
    loaded = manifests.load([tmp_path])
    web1 = [p for p in loaded.cluster.pods if p.name == "web-1"]
    assert len(web1) == 1 and web1[0].ips == ("10.244.99.1",) and web1[0].owner == ""
    assert loaded.counts["Pod"] == manifests.KindCount(read=1, generated=4)


def test_standard_input_is_read_once_and_kept(tmp_path: Path, monkeypatch) -> None:
    import io
    monkeypatch.setattr("sys.stdin", io.StringIO(POD % ("from-stdin", 1)))
    cache = manifests.FileCache()
    first = manifests.load(["-"], cache=cache)
    again = manifests.load(["-"], cache=cache)  # a reload: standard input is gone by now
    assert [p.name for p in first.cluster.pods] == ["from-stdin"]
    assert again.cluster == first.cluster
    assert first.origins["Pod", "default", "from-stdin"] == ("-", 1)
