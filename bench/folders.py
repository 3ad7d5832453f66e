"""Try clusterdns on app folders as a user would: check them, serve them, ask every name.

    .venv/bin/python bench/folders.py DIR [DIR ...] [--namespace DIR=NS]

For each folder: objects read (and used), generated and skipped, warnings, errors, the
time from a new `clusterdns serve` process starting to its first answer, and how many of
the folder's Services answer (every one must: a ClusterIP one with its address, a
headless one with its pods'). Prints one Markdown table, for closing notes and READMEs.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import dns.message
import dns.query
import dns.rcode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from clusterdns import snapshot  # noqa: E402
from clusterdns.source import manifests  # noqa: E402
from clusterdns.source.state import State  # noqa: E402
from clusterdns.zone.settings import ZoneSettings  # noqa: E402


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def ask(port: int, name: str, timeout: float = 1.0) -> dns.message.Message | None:
    try:
        return dns.query.udp(dns.message.make_query(name, "A"), "127.0.0.1", port=port,
                             timeout=timeout)
    except Exception:
        return None


def serve_and_ask(folder: str, namespace: str, loaded: manifests.Loaded,
                  state: Path) -> tuple[float, int, int]:
    """Seconds to the first answer, Services answering, Services asked."""
    port = free_port()
    env = {**os.environ, "XDG_STATE_HOME": str(state)}
    started = time.perf_counter()
    server = subprocess.Popen(
        [sys.executable, "-m", "clusterdns", "serve", "--manifests", folder, "--namespace",
         namespace, "--listen", f"127.0.0.1:{port}", "--upstream", "none"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        first = None
        while time.perf_counter() - started < 30 and server.poll() is None:
            if ask(port, "dns-version.cluster.local", timeout=0.01) is not None:
                first = time.perf_counter() - started
                break
            time.sleep(0.01)
        if first is None:
            return float("nan"), 0, len(loaded.cluster.services)
        answering = 0
        for service in loaded.cluster.services:
            reply = ask(port, f"{service.name}.{service.namespace}.svc.cluster.local")
            if reply is not None and reply.rcode() == dns.rcode.NOERROR and (
                    reply.answer or service.type == "ExternalName"):
                answering += 1
        return first, answering, len(loaded.cluster.services)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folders", nargs="+")
    parser.add_argument("--namespace", action="append", default=[], metavar="DIR=NS",
                        help="the namespace for objects that name none in DIR")
    args = parser.parse_args()
    namespaces = dict(item.split("=", 1) for item in args.namespace)
    print("| folder | read | generated | skipped | warnings | errors | start to first answer"
          " | Services answering |")
    print("|---|---|---|---|---|---|---|---|")
    for folder in args.folders:
        namespace = namespaces.get(folder, "default")
        taken = snapshot.take([folder], manifests.LoadOptions(namespace=namespace),
                              ZoneSettings(), State())
        loaded = taken.loaded
        counts = loaded.counts.values()
        read = sum(c.read for c in counts)
        generated = sum(c.generated for c in counts)
        skipped = sum(c.skipped for c in counts)
        with tempfile.TemporaryDirectory() as state:
            first, answering, asked = (serve_and_ask(folder, namespace, loaded, Path(state))
                                       if not loaded.errors else (float("nan"), 0, 0))
        print(f"| {folder} | {read} | {generated} | {skipped} | {len(taken.warnings)} | "
              f"{len(loaded.errors)} | {first:.2f} s | {answering} of {asked} |")


if __name__ == "__main__":
    main()
