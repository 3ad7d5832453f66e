"""Hypothesis strategies for small but varied clusters, shared by the property tests."""

from __future__ import annotations

from hypothesis import strategies as st

from clusterdns.source.model import (
    CLUSTER_IP,
    EXTERNAL_NAME,
    Cluster,
    EndpointAddress,
    EndpointPort,
    EndpointSet,
    Pod,
    Service,
    ServicePort,
)

labels = st.text("abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=12).map(
    lambda s: "s" + s)
octet = st.integers(1, 254)
ipv4 = st.tuples(octet, octet).map(lambda t: f"10.1.{t[0]}.{t[1]}")
ipv6 = st.integers(1, 0xFFFF).map(lambda n: f"fd00::{n:x}")


@st.composite
def clusters(draw: st.DrawFn) -> Cluster:
    """A small cluster: ClusterIP, headless and ExternalName services, endpoints, pods."""
    services, endpoints, pods = [], [], []
    for index, name in enumerate(draw(st.lists(labels, min_size=1, max_size=6, unique=True))):
        namespace = draw(st.sampled_from(["default", "shop"]))
        kind = draw(st.sampled_from(["clusterip", "headless", "external"]))
        ports = tuple(ServicePort(n, draw(st.integers(1, 65535)), draw(st.sampled_from(
            ["TCP", "UDP"]))) for n in draw(st.lists(st.sampled_from(["http", "grpc", ""]),
                                                     max_size=2, unique=True)))
        if kind == "external":
            services.append(Service(namespace, name, EXTERNAL_NAME, external_name=draw(
                st.sampled_from(["example.org", f"{name}.{namespace}.svc.cluster.local",
                                 "web.default.svc.cluster.local"]))))
            continue
        cluster_ips = () if kind == "headless" else (f"10.96.0.{index + 1}",)
        services.append(Service(namespace, name, CLUSTER_IP, cluster_ips,
                                headless=kind == "headless", ports=ports))
        addresses = tuple(
            EndpointAddress(ip, draw(st.sampled_from(["", "host-a", "host-b"])),
                            draw(st.booleans()))
            for ip in draw(st.lists(st.one_of(ipv4, ipv6), max_size=40, unique=True))
        )
        endpoint_ports = tuple(EndpointPort(p.name, p.port, p.protocol) for p in ports)
        endpoints.append(EndpointSet(namespace, name, addresses, endpoint_ports))
    for i, ip in enumerate(draw(st.lists(st.one_of(ipv4, ipv6), max_size=4, unique=True))):
        pods.append(Pod("default", f"pod{i}", ips=(ip,)))
    namespaces = frozenset(s.namespace for s in services) | {"default"}
    return Cluster(tuple(services), tuple(pods), tuple(endpoints), namespaces)
