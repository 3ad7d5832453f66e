"""Which names autopath tries for a pod, and for whom (serve/autopath.py)."""

from __future__ import annotations

from clusterdns.serve.autopath import Autopath
from clusterdns.source.model import Cluster, Pod
from clusterdns.zone import build as zones

ZONE = zones.build(Cluster(pods=(Pod("shop", "client", ips=("10.244.0.5",)),
                                 Pod("data", "db-0", ips=("10.244.0.9", "fd00::9"))),
                           namespaces=frozenset({"shop", "data"})))


def test_a_pods_first_search_expansion_walks_the_rest_of_its_path() -> None:
    walk = Autopath(("corp.example.",)).walk(ZONE, "Example.org.shop.svc.cluster.local.",
                                             "10.244.0.5")
    assert walk == ["example.org.svc.cluster.local.", "example.org.cluster.local.",
                    "example.org.corp.example.", "example.org."]


def test_only_known_pods_and_only_their_own_namespace() -> None:
    autopath = Autopath()
    assert autopath.walk(ZONE, "a.shop.svc.cluster.local.", "127.0.0.1") is None
    assert autopath.walk(ZONE, "a.data.svc.cluster.local.", "10.244.0.5") is None
    assert autopath.walk(ZONE, "shop.svc.cluster.local.", "10.244.0.5") is None
    assert autopath.walk(ZONE, "a.data.svc.cluster.local.", "fd00::9") == [
        "a.svc.cluster.local.", "a.cluster.local.", "a."]
    assert autopath.walk(ZONE, "a.data.svc.cluster.local", "::ffff:10.244.0.9") is not None


def test_a_reload_forgets_pods_that_are_gone() -> None:
    autopath = Autopath()
    assert autopath.walk(ZONE, "a.shop.svc.cluster.local.", "10.244.0.5") is not None
    moved = zones.build(Cluster(pods=(Pod("shop", "other", ips=("10.244.0.6",)),),
                                namespaces=frozenset({"shop"})))
    assert autopath.walk(moved, "a.shop.svc.cluster.local.", "10.244.0.5") is None
