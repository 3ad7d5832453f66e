"""What a running `clusterdns serve` costs on a big zone: time to first answer, peak memory.

The CPU seconds the server spent until that answer come along: on a shared machine the
wall time moves with the neighbours' load, the CPU time much less.

The peak is VmHWM of the serving process (and its workers) read from /proc, so it counts
the interpreter, the libraries and every zone held while loading: what a user's machine
pays, not what one function allocates.

Run alone, it starts the server `--repeat` times on one generated folder and prints the
median, min and max time to first answer, because one start on a shared machine is noise:

    .venv/bin/python bench/serve_cost.py [--services 10000] [--repeat 7]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

from generate import write_manifests
from inputs import service_fqdn
from servers import Server, cpu_seconds, free_port, memory_mib, pinned, running


def serve_figures(command: list[str], extra: list[str], manifests: Path, log: Path,
                  timeout: float = 120.0) -> dict[str, float]:
    """Start `command serve` on `manifests` on core 0, wait for an answer, read its CPU
    time and VmHWM, stop."""
    port = free_port()
    argv = pinned(0, [*command, "serve", "--manifests", str(manifests),
                      "--listen", f"127.0.0.1:{port}", *extra])
    with running(Server("clusterdns (big zone)", argv, log, port)) as server:
        ready = server.wait_ready(service_fqdn(1), timeout)
        tree = server.tree()
        return {"serve_ready_s": ready, "serve_ready_cpu_s": cpu_seconds(tree),
                "serve_peak_rss_mib": memory_mib(tree)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--services", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    command = [str(Path(sys.executable).parent / "clusterdns")]
    with tempfile.TemporaryDirectory(prefix="clusterdns-serve-cost-") as tmp:
        work = Path(tmp)
        folder = work / "manifests"
        write_manifests(folder, args.services, endpoints=3)
        runs = [serve_figures(command, [], folder, work / f"serve-{i}.log")
                for i in range(args.repeat)]
    print(f"{args.services} services, {args.repeat} starts")
    for key, label in (("serve_ready_s", "first answer after (s)"),
                       ("serve_ready_cpu_s", "CPU until then (s)"),
                       ("serve_peak_rss_mib", "peak RSS (MiB)")):
        values = sorted(run[key] for run in runs)
        print(f"  {label}: median {statistics.median(values):.3f} "
              f"(min {values[0]:.3f}, max {values[-1]:.3f}); each "
              + " ".join(f"{v:.3f}" for v in values))


if __name__ == "__main__":
    main()
