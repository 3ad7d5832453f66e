"""What a pod's /etc/resolv.conf says, and the Docker flags that produce the same."""

from __future__ import annotations


def search_path(namespace: str, domain: str) -> list[str]:
    """The kubelet's search list for a pod in `namespace` (ClusterFirst DNS policy)."""
    return [f"{namespace}.svc.{domain}", f"svc.{domain}", domain]


def resolv_conf(namespace: str = "default", nameserver: str = "127.0.0.1",
                domain: str = "cluster.local") -> str:
    """A resolv.conf as the kubelet writes it, with the Docker equivalents as comments.

    resolv.conf has no port field: the nameserver must answer on port 53.
    """
    search = search_path(namespace, domain)
    docker = " ".join(
        [f"--dns {nameserver}"] + [f"--dns-search {s}" for s in search] + ["--dns-option ndots:5"]
    )
    return "\n".join([
        f"# what a pod in namespace {namespace!r} gets; clusterdns must listen on {nameserver}:53",
        f"# docker run {docker} IMAGE",
        f"# compose: dns: [{nameserver}]  dns_search: [{', '.join(search)}]  dns_opt: [ndots:5]",
        f"nameserver {nameserver}",
        f"search {' '.join(search)}",
        "options ndots:5",
        "",
    ])
