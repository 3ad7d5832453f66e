"""resolv.conf both ways: what a pod's says (with the Docker flags), and reading the host's."""

from __future__ import annotations

import ipaddress


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


def nameservers(text: str) -> list[str]:
    """The `nameserver` addresses of resolv.conf `text`, in order, as the resolver reads them.

    Comments (`#`, `;`) and anything that is not an IP address (a hostname, a typo) are
    skipped rather than fatal: a broken line there must not stop the cluster zone.
    """
    found = []
    for line in text.splitlines():
        words = line.split("#", 1)[0].split(";", 1)[0].split()
        if len(words) < 2 or words[0] != "nameserver":
            continue
        try:
            ipaddress.ip_address(words[1])
        except ValueError:
            continue
        found.append(words[1])
    return found
