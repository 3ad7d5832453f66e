"""What a running `clusterdns serve` costs on a big zone: time to first answer, peak memory.

The peak is VmHWM of the serving process (and its workers) read from /proc, so it counts
the interpreter, the libraries and every zone held while loading: what a user's machine
pays, not what one function allocates.
"""

from __future__ import annotations

from pathlib import Path

from inputs import service_fqdn
from servers import Server, free_port, memory_mib, pinned, running


def serve_figures(command: list[str], extra: list[str], manifests: Path, log: Path,
                  timeout: float = 120.0) -> dict[str, float]:
    """Start `command serve` on `manifests` on core 0, wait for an answer, read VmHWM, stop."""
    port = free_port()
    argv = pinned(0, [*command, "serve", "--manifests", str(manifests),
                      "--listen", f"127.0.0.1:{port}", *extra])
    with running(Server("clusterdns (big zone)", argv, log, port)) as server:
        ready = server.wait_ready(service_fqdn(1), timeout)
        return {"serve_ready_s": ready, "serve_peak_rss_mib": memory_mib(server.tree())}
