"""From a file write to the new answer, with 10,000 Services: the wait a user sees.

A real `clusterdns serve` runs on the generated manifests; each round rewrites one
service's clusterIP in place and asks for that name over UDP every 5 ms until the new
address comes back. The figure covers everything: the inotify event, the debounce, the
load, the build in the executor thread and the swap. The server's CPU time over the same
span (from /proc, so other load on the machine does not inflate it) is printed beside
it. Both layouts of zone_build.py are measured: 101 files, and everything in one file.

    .venv/bin/python bench/reload_latency.py [--services 10000] [--rounds 5]

`measure()` returns the figures as a dict.
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

from generate import cluster_ip, service_name
from servers import Server, answers, cpu_seconds, free_port, memory_mib, running
from zone_build import SERVICES_PER_FILE, write_single, write_split

TARGET = 5000  # a ClusterIP service (every third is headless) in the middle of the zone
_RELOAD = re.compile(r"reload: .*; ([\d.]+) ms")


def logged_reload_ms(server: Server) -> list[float]:
    """The load-and-build time of every reload the server logged."""
    return [float(m[1]) for m in map(_RELOAD.search, server.log.read_text().splitlines()) if m]


def wait_for(server: Server, name: str, address: str, limit: float = 10.0) -> tuple[float, int]:
    """Seconds until `name` answers `address`, asking every 5 ms, and how many of those
    questions went unanswered (0.5 s each, never retried)."""
    started = time.perf_counter()
    lost = 0
    while time.perf_counter() - started < limit:
        try:
            if answers(server.port, name)[1] == {address}:
                return time.perf_counter() - started, lost
        except TimeoutError:
            lost += 1
        time.sleep(0.005)
    raise RuntimeError(f"{name} did not answer {address} within {limit} s")


def rounds_for(folder: Path, file: Path, rounds: int) -> dict[str, float]:
    name = f"{service_name(TARGET)}.bench.svc.cluster.local"
    current = cluster_ip(TARGET)
    port = free_port()
    argv = [sys.executable, "-m", "clusterdns", "serve", "--manifests", str(folder),
            "--listen", f"127.0.0.1:{port}", "--upstream", "none"]
    with running(Server("clusterdns (reloads)", argv, folder.parent / f"{folder.name}.log",
                        port)) as server:
        server.wait_ready(name, timeout=120.0)
        if answers(port, name)[1] != {current}:
            raise RuntimeError(f"{name} does not answer {current} at start")
        seconds = []
        cpu = []
        lost = 0
        for index in range(rounds):
            before = cpu_seconds([server.pid])
            new = f"10.100.0.{index + 1}"
            text = file.read_text()
            file.write_text(text.replace(f"clusterIP: {current}\n", f"clusterIP: {new}\n"))
            took, missed = wait_for(server, name, new)
            seconds.append(took)
            cpu.append(cpu_seconds([server.pid]) - before)
            lost += missed
            current = new
        logged = logged_reload_ms(server)
        rss = memory_mib([server.pid], "VmRSS")  # old and new zones have overlapped by now
    return {"write_to_answer_ms_median": statistics.median(seconds) * 1000,
            "write_to_answer_ms_max": max(seconds) * 1000,
            "reload_ms_median": statistics.median(logged) if logged else 0.0,
            "server_cpu_ms_median": statistics.median(cpu) * 1000,
            "lost_questions": lost, "rss_after_reloads_mib": rss}


def measure(services: int = 10_000, rounds: int = 5) -> dict[str, float]:
    """Write-to-answer figures for both layouts; one-file ones carry `single_file_`."""
    out: dict[str, float] = {"services": services, "rounds": rounds}
    with tempfile.TemporaryDirectory(prefix="clusterdns-reload-") as tmp:
        split = Path(tmp, "split")
        files = write_split(split, services)
        out.update(rounds_for(split, files[TARGET // SERVICES_PER_FILE], rounds))
        single = Path(tmp, "single")
        file = write_single(single, services)
        one = rounds_for(single, file, rounds)
        out.update({f"single_file_{key}": value for key, value in one.items()})
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--services", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    out = measure(args.services, args.rounds)
    print(f"{args.services} services, {args.rounds} edits of one service's clusterIP; "
          "file write to new answer, and the reload the server logged")
    for prefix, label in (("", "101 files"), ("single_file_", "one file")):
        print(f"  {label}: median {out[prefix + 'write_to_answer_ms_median']:.0f} ms, "
              f"max {out[prefix + 'write_to_answer_ms_max']:.0f} ms "
              f"(reload {out[prefix + 'reload_ms_median']:.0f} ms, server CPU "
              f"{out[prefix + 'server_cpu_ms_median']:.0f} ms); "
              f"{out[prefix + 'lost_questions']:.0f} questions lost")


if __name__ == "__main__":
    main()
