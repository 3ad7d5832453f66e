"""The kubelet's rules, against the kubelet's own cases (pkg/kubelet/network/dns/dns_test.go).

Each table names the kubelet test it follows. Where the kubelet compares options as a set
(its order is a Go map's), these tests compare clusterdns's sorted order exactly.
"""

from __future__ import annotations

import pytest

from clusterdns.dnspolicy import fit_limits, merge_options, pod_dns
from clusterdns.resolvconf import DNSConfig, Option
from clusterdns.source.poddns import (
    CLUSTER_FIRST,
    CLUSTER_FIRST_WITH_HOST_NET,
    DEFAULT,
    NONE,
    PodDNS,
    PodDNSConfig,
)

SEARCH_LIMIT = ("DNSConfigForming: Search Line limits were exceeded, some search paths have "
                "been omitted, the applied search line is: ")
NAMESERVER_LIMIT = ("DNSConfigForming: Nameserver limits were exceeded, some nameservers have "
                    "been omitted, the applied nameserver line is: ")
NDOTS_5: tuple[Option, ...] = (("ndots", "5"),)


def searches_only(searches: list[str]) -> tuple[tuple[str, ...], list[str]]:
    config, warnings = fit_limits(DNSConfig(searches=tuple(searches)))
    return config.searches, warnings


# TestFormDNSSearchFitsLimits, the cases that hold since ExpandedDNSConfig went GA.
CLUSTER_SEARCH = ["testNS.svc.TEST", "svc.TEST", "TEST"]
LIST_2048 = ["A" * 128] + ["A" * 127] * 15  # 128 + 15 * 127 + 15 separating spaces
NUMBERED_32 = [*CLUSTER_SEARCH, *map(str, range(4, 33))]


@pytest.mark.parametrize(("given", "applied"), [
    (CLUSTER_SEARCH, CLUSTER_SEARCH),
    ([*CLUSTER_SEARCH, "AAA", "BBB"], [*CLUSTER_SEARCH, "AAA", "BBB"]),
    (LIST_2048, LIST_2048),
    (NUMBERED_32, NUMBERED_32),
])
def test_search_lines_within_the_limits_are_kept_without_a_warning(
        given: list[str], applied: list[str]) -> None:
    assert searches_only(given) == (tuple(applied), [])


@pytest.mark.parametrize(("given", "applied"), [
    ([*CLUSTER_SEARCH, "AAA", "B" * 256, "BBB"], [*CLUSTER_SEARCH, "AAA", "BBB"]),
    ([*LIST_2048, "B"], LIST_2048),
    (["A" * 129, *LIST_2048[1:]], ["A" * 129, *LIST_2048[1:-1]]),  # 2049 characters
    ([*NUMBERED_32, "33"], NUMBERED_32),
    # Not the kubelet's: the count is cut before long domains are dropped, so fewer than
    # 32 can remain; the length is cut last, from the end, no more than it needs.
    ([*NUMBERED_32[:31], "x" * 254, "33"], NUMBERED_32[:31]),
    (["a" * 253] * 8 + ["b" * 10, "c" * 10], ["a" * 253] * 8 + ["b" * 10]),
])
def test_search_lines_over_the_limits_are_cut_with_the_kubelets_warning(
        given: list[str], applied: list[str]) -> None:
    assert searches_only(given) == (tuple(applied), [SEARCH_LIMIT + " ".join(applied)])


# TestFormDNSNameserversFitsLimits
@pytest.mark.parametrize(("given", "applied", "warned"), [
    (["127.0.0.1"], ["127.0.0.1"], False),
    (["127.0.0.1", "10.0.0.10", "8.8.8.8"], ["127.0.0.1", "10.0.0.10", "8.8.8.8"], False),
    (["127.0.0.1", "10.0.0.10", "8.8.8.8", "1.2.3.4"], ["127.0.0.1", "10.0.0.10", "8.8.8.8"],
     True),
])
def test_at_most_three_nameservers(given: list[str], applied: list[str], warned: bool) -> None:
    config, warnings = fit_limits(DNSConfig(nameservers=tuple(given)))
    assert config.nameservers == tuple(applied)
    assert warnings == ([NAMESERVER_LIMIT + " ".join(applied)] if warned else [])


def test_nameservers_are_cut_before_the_search_line() -> None:
    _, warnings = fit_limits(DNSConfig(("1.1.1.1", "2.2.2.2", "3.3.3.3", "4.4.4.4"),
                                       (*NUMBERED_32, "33")))
    assert [w.split(",")[0] for w in warnings] == [
        "DNSConfigForming: Nameserver limits were exceeded",
        "DNSConfigForming: Search Line limits were exceeded",
    ]


# TestMergeDNSOptions
@pytest.mark.parametrize(("base", "extra", "merged"), [
    ([("ndots", "5"), ("debug", None)], [], {"ndots": "5", "debug": None}),
    ([("ndots", "5"), ("debug", None)], [("single-request", None), ("attempts", "3")],
     {"ndots": "5", "debug": None, "single-request": None, "attempts": "3"}),
    ([("ndots", "5"), ("debug", None)],
     [("ndots", "3"), ("debug", None), ("single-request", None), ("attempts", "3")],
     {"ndots": "3", "debug": None, "single-request": None, "attempts": "3"}),
    # An empty value is written bare, from the base and from the pod alike.
    ([("ndots", ""), ("timeout", "1")], [("timeout", "")], {"ndots": None, "timeout": None}),
])
def test_pod_options_are_merged_by_name_and_win(
        base: list[Option], extra: list[Option], merged: dict[str, str | None]) -> None:
    assert dict(merge_options(base, extra)) == merged


# TestGetPodDNSType, through what each type gives a pod.
CLUSTER_DNS = ["203.0.113.1"]
HOST = DNSConfig(("8.8.8.8",), ("host.domain",), (("timeout", "1"),))
CLUSTER = DNSConfig(("203.0.113.1",), ("testNS.svc.TEST", "svc.TEST", "TEST", "host.domain"),
                    NDOTS_5)


@pytest.mark.parametrize(("policy", "host_network", "expected"), [
    (CLUSTER_FIRST, False, CLUSTER),
    (CLUSTER_FIRST_WITH_HOST_NET, True, CLUSTER),
    (CLUSTER_FIRST_WITH_HOST_NET, False, CLUSTER),
    (DEFAULT, False, HOST),
    (DEFAULT, True, HOST),
    (CLUSTER_FIRST, True, HOST),  # a hostNetwork pod falls back to the node's DNS
    (NONE, False, DNSConfig(nameservers=("192.0.2.1",))),  # nothing but its own dnsConfig
])
def test_the_policy_picks_cluster_host_or_no_dns(
        policy: str, host_network: bool, expected: DNSConfig) -> None:
    own = PodDNSConfig(nameservers=("192.0.2.1",)) if policy == NONE else None
    pod = PodDNS("testNS", policy, host_network, own)
    assert pod_dns(pod, HOST, CLUSTER_DNS, "TEST") == (expected, [])


def test_an_unknown_policy_falls_back_to_cluster_first_with_a_warning() -> None:
    config, warnings = pod_dns(PodDNS("testNS", "invalidPolicy"), HOST, CLUSTER_DNS, "TEST")
    assert config == CLUSTER
    assert warnings == ["invalid DNSPolicy=invalidPolicy: falling back to ClusterFirst policy"]


def test_without_cluster_dns_cluster_first_falls_back_to_the_nodes_dns() -> None:
    config, warnings = pod_dns(PodDNS("testNS"), HOST, [], "TEST")
    assert config == HOST
    assert warnings == [
        'MissingClusterDNS: kubelet does not have ClusterDNS IP configured and cannot create '
        'Pod using "ClusterFirst" policy. Falling back to "Default" policy.']


# testGetPodDNS: hostNetwork pods (as newTestPods makes them), first with no --resolv-conf.
@pytest.mark.parametrize(("policy", "host_network", "servers", "first_search"), [
    (CLUSTER_FIRST_WITH_HOST_NET, True, ("203.0.113.1",), ".svc.kubernetes.io"),
    (CLUSTER_FIRST, True, ("127.0.0.1",), "."),
    (CLUSTER_FIRST, False, ("203.0.113.1",), ".svc.kubernetes.io"),
    (DEFAULT, True, ("127.0.0.1",), "."),
])
def test_without_a_host_file_the_node_itself_is_the_nameserver(
        policy: str, host_network: bool, servers: tuple[str, ...], first_search: str) -> None:
    # newTestPods sets no namespace, hence the kubelet's ".svc.kubernetes.io".
    config, warnings = pod_dns(PodDNS("", policy, host_network), None, CLUSTER_DNS,
                               "kubernetes.io")
    assert config.nameservers == servers
    assert config.searches[0] == first_search
    if first_search == ".":
        assert config == DNSConfig(("127.0.0.1",), (".",))
    else:
        assert config.searches == (".svc.kubernetes.io", "svc.kubernetes.io", "kubernetes.io")
    assert warnings == []


def test_with_a_host_file_its_search_domains_follow_the_clusters() -> None:
    host = DNSConfig(("10.0.0.2",), ("a.example", "b.example"), (("rotate", None),))
    config, _ = pod_dns(PodDNS("", CLUSTER_FIRST_WITH_HOST_NET, True), host, CLUSTER_DNS,
                        "kubernetes.io")
    assert config == DNSConfig(
        ("203.0.113.1",),
        (".svc.kubernetes.io", "svc.kubernetes.io", "kubernetes.io", "a.example", "b.example"),
        NDOTS_5)  # the cluster's servers and options replace the host's


# TestGetPodDNSCustom: host "nameserver 8.8.8.8 / search host.domain", cluster 10.0.0.10.
CUSTOM_HOST = DNSConfig(("8.8.8.8",), ("host.domain",))
POD_CONFIG = PodDNSConfig(("10.0.0.11",), ("my.domain",), (("ndots", "3"), ("debug", None)))
MERGED_OPTIONS: tuple[Option, ...] = (("debug", None), ("ndots", "3"))
CUSTOM_CLUSTER = DNSConfig(
    ("10.0.0.10", "10.0.0.11"),
    ("testNS.svc.kubernetes.io", "svc.kubernetes.io", "kubernetes.io", "host.domain",
     "my.domain"),
    MERGED_OPTIONS)


@pytest.mark.parametrize(("policy", "host_network", "dns_config", "expected"), [
    (NONE, False, PodDNSConfig(("203.0.113.1",), ("my.domain", "second.domain"),
                               (("ndots", "3"), ("debug", None))),
     DNSConfig(("203.0.113.1",), ("my.domain", "second.domain"), MERGED_OPTIONS)),
    (CLUSTER_FIRST, False, POD_CONFIG, CUSTOM_CLUSTER),
    (CLUSTER_FIRST_WITH_HOST_NET, True, POD_CONFIG, CUSTOM_CLUSTER),
    (DEFAULT, False, POD_CONFIG,
     DNSConfig(("8.8.8.8", "10.0.0.11"), ("host.domain", "my.domain"), MERGED_OPTIONS)),
])
def test_dns_config_is_appended_to_what_the_policy_gives(
        policy: str, host_network: bool, dns_config: PodDNSConfig, expected: DNSConfig) -> None:
    pod = PodDNS("testNS", policy, host_network, dns_config)
    assert pod_dns(pod, CUSTOM_HOST, ["10.0.0.10"], "kubernetes.io") == (expected, [])


def test_none_without_dns_config_is_empty_and_would_be_refused_by_the_api_server() -> None:
    config, warnings = pod_dns(PodDNS("testNS", NONE), CUSTOM_HOST, ["10.0.0.10"],
                               "kubernetes.io")
    assert config == DNSConfig()
    assert warnings == ["the API server rejects this pod: dnsPolicy None needs at least one "
                        "nameserver in spec.dnsConfig"]


def test_duplicates_are_dropped_where_they_first_appear_again() -> None:
    host = DNSConfig(("8.8.8.8",), ("svc.cluster.local", "corp", "corp"), (("ndots", "2"),))
    pod = PodDNS("shop", CLUSTER_FIRST, False,
                 PodDNSConfig(("10.96.0.10", "8.8.8.8"), ("corp", "shop.svc.cluster.local")))
    config, _ = pod_dns(pod, host, ["10.96.0.10"], "cluster.local")
    assert config == DNSConfig(
        ("10.96.0.10", "8.8.8.8"),
        ("shop.svc.cluster.local", "svc.cluster.local", "cluster.local", "corp"),
        NDOTS_5)  # the host's ndots:2 is the host's, which ClusterFirst does not take


def test_the_host_files_own_duplicates_stay_unless_dns_config_is_merged() -> None:
    host = DNSConfig(("8.8.8.8", "8.8.8.8"), ("corp", "corp"))
    alone, _ = pod_dns(PodDNS(dns_policy=DEFAULT), host, [], "cluster.local")
    merged, _ = pod_dns(PodDNS(dns_policy=DEFAULT, dns_config=PodDNSConfig()), host, [],
                        "cluster.local")
    assert alone == host
    assert merged == DNSConfig(("8.8.8.8",), ("corp",))


def test_without_a_cluster_domain_only_the_host_searches_remain() -> None:
    config, _ = pod_dns(PodDNS("shop"), CUSTOM_HOST, ["10.96.0.10"], "")
    assert config.searches == ("host.domain",)


def test_limits_apply_after_the_merge_with_the_kubelets_warnings() -> None:
    pod = PodDNS("shop", CLUSTER_FIRST, False,
                 PodDNSConfig(("10.0.0.11", "10.0.0.12", "10.0.0.13"), ("x" * 254, "ok.domain")))
    config, warnings = pod_dns(pod, CUSTOM_HOST, ["10.96.0.10"], "cluster.local")
    assert config.nameservers == ("10.96.0.10", "10.0.0.11", "10.0.0.12")
    assert config.searches[-2:] == ("host.domain", "ok.domain")
    assert warnings == [
        NAMESERVER_LIMIT + "10.96.0.10 10.0.0.11 10.0.0.12",
        SEARCH_LIMIT + " ".join(config.searches),
    ]


def test_options_come_out_sorted_by_name() -> None:
    host = DNSConfig(("8.8.8.8",), (), (("timeout", "1"), ("attempts", "2"), ("rotate", None)))
    config, _ = pod_dns(PodDNS(dns_policy=DEFAULT), host, [], "cluster.local")
    assert [name for name, _ in config.options] == ["attempts", "rotate", "timeout"]
