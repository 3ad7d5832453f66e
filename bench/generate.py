"""Synthetic manifests for benchmarks: N services, some headless, each with endpoints.

Shared by the throughput and the zone-build benchmarks so both measure the same shape:
one Service and one Endpoints object per service, ports named `http`, a fixed fraction
headless. Explicit cluster IPs keep the generated zone independent of allocation.
"""

from __future__ import annotations

import argparse
import ipaddress
from pathlib import Path

SERVICE_NET = ipaddress.ip_network("10.96.0.0/12")
POD_NET = ipaddress.ip_network("10.128.0.0/9")


def service_name(index: int) -> str:
    return f"svc{index:05d}"


def is_headless(index: int, headless_every: int) -> bool:
    return headless_every > 0 and index % headless_every == 0


def cluster_ip(index: int) -> str:
    """The explicit clusterIP of service `index`; other tools (bench/run.py) need it too."""
    return str(SERVICE_NET.network_address + 16 + index)


def endpoint_ips(index: int, endpoints: int = 3) -> list[str]:
    """The endpoint addresses of service `index`, in manifest order."""
    first = POD_NET.network_address + 16 + index * endpoints
    return [str(first + j) for j in range(endpoints)]


def manifest_text(services: int, endpoints: int = 3, headless_every: int = 3,
                  namespace: str = "bench") -> str:
    """One multi-document YAML with `services` Services and their Endpoints."""
    docs = [f"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {namespace}\n"]
    for i in range(services):
        name = service_name(i)
        address = "None" if is_headless(i, headless_every) else cluster_ip(i)
        docs.append(
            f"apiVersion: v1\nkind: Service\nmetadata:\n  name: {name}\n"
            f"  namespace: {namespace}\nspec:\n  clusterIP: {address}\n"
            f"  ports:\n  - name: http\n    port: 80\n    targetPort: 8080\n"
        )
        addresses = "".join(f"  - ip: {ip}\n" for ip in endpoint_ips(i, endpoints))
        docs.append(
            f"apiVersion: v1\nkind: Endpoints\nmetadata:\n  name: {name}\n"
            f"  namespace: {namespace}\nsubsets:\n- addresses:\n{addresses}"
            f"  ports:\n  - name: http\n    port: 8080\n"
        )
    return "---\n".join(docs)


def write_manifests(folder: Path, services: int, endpoints: int = 3, headless_every: int = 3,
                    namespace: str = "bench") -> Path:
    """Write the manifests into `folder/services.yaml` and return that path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "services.yaml"
    path.write_text(manifest_text(services, endpoints, headless_every, namespace))
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("folder", type=Path)
    parser.add_argument("--services", type=int, default=1000)
    parser.add_argument("--endpoints", type=int, default=3)
    parser.add_argument("--headless-every", type=int, default=3,
                        help="every Nth service is headless (0: none)")
    args = parser.parse_args()
    print(write_manifests(args.folder, args.services, args.endpoints, args.headless_every))


if __name__ == "__main__":
    main()
