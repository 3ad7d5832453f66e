"""Runs Debian's dnsperf (2.10) on its own core and reads its figures.

dnsperf 2.10 prints only an average latency and its standard deviation; it has no latency
histogram. Its `-v` mode prints one line per answer with that query's latency
("> NOERROR name A 0.000123"), so percentiles come from those lines: real per-query
figures, measured by dnsperf itself. Printing costs dnsperf some CPU, so saturation runs
do without it.
"""

from __future__ import annotations

import math
import re
import resource
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from servers import pinned

_SUMMARY = {
    "sent": re.compile(r"Queries sent:\s+(\d+)"),
    "completed": re.compile(r"Queries completed:\s+(\d+)"),
    "lost": re.compile(r"Queries lost:\s+(\d+)"),
    "run_time": re.compile(r"Run time \(s\):\s+([\d.]+)"),
    "qps": re.compile(r"Queries per second:\s+([\d.]+)"),
    "average_latency": re.compile(r"Average Latency \(s\):\s+([\d.]+)"),
}
_RCODES = re.compile(r"Response codes:\s*(.*)")
_RCODE_ITEM = re.compile(r"([A-Z]+) (\d+)")
CLIENT_BUFFER_KIB = 4096
WARMUP_SECONDS = 0.5  # the start of a fixed-rate run, reported apart (see Result.percentile)


@dataclass
class Result:
    """What one dnsperf run measured; latencies in seconds, rates per second."""

    sent: int
    completed: int
    lost: int
    run_time: float
    qps: float
    average_latency: float
    rcodes: dict[str, int]
    # In the order the answers came (`-v` only), so a run's first moments can be set apart.
    latencies: list[float] = field(default_factory=list, repr=False)
    client_cpu_s: float = 0.0  # dnsperf's own CPU time: near run_time, dnsperf was the limit

    @property
    def client_busy(self) -> float:
        """Share of its core dnsperf used; near 1.0 the load generator, not the server,
        set the rate."""
        return self.client_cpu_s / self.run_time if self.run_time else 0.0

    @property
    def sent_rate(self) -> float:
        """Queries per second dnsperf really offered (less than `-Q` when it fell behind)."""
        return self.sent / self.run_time if self.run_time else 0.0

    def share(self, rcode: str) -> float:
        """Fraction of the answers that carried `rcode`."""
        return self.rcodes.get(rcode, 0) / self.completed if self.completed else 0.0

    def percentile(self, p: float, after: float = 0.0) -> float | None:
        """Nearest-rank percentile of the per-query latencies (None without `-v`).

        `after` leaves out the answers of the run's first seconds, at the offered rate:
        on this kind of machine every server, dnsmasq and a bare uvloop echo included,
        builds a backlog of several milliseconds in the first ~0.25 s of a fixed-rate run,
        which would otherwise be most of the p99.
        """
        skip = int(after * self.sent_rate)
        ordered = sorted(self.latencies[skip:])
        if not ordered:
            return None
        return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]

    def summary(self) -> dict[str, object]:
        """The figures as JSON-ready values, percentiles included."""
        return {
            "sent": self.sent, "completed": self.completed, "lost": self.lost,
            "run_time_s": self.run_time, "qps": self.qps, "sent_rate": self.sent_rate,
            "average_latency_s": self.average_latency, "rcodes": self.rcodes,
            "p50_s": self.percentile(50), "p99_s": self.percentile(99),
            "p99_after_warmup_s": self.percentile(99, WARMUP_SECONDS),
            "samples": len(self.latencies), "client_busy": self.client_busy,
        }


def parse(output: str) -> Result:
    """A Result from dnsperf's stdout; fails loudly when the summary is missing."""
    values: dict[str, float] = {}
    for key, pattern in _SUMMARY.items():
        match = pattern.search(output)
        if match is None:
            raise RuntimeError(f"dnsperf printed no '{key}':\n{output[-2000:]}")
        values[key] = float(match.group(1))
    rcodes_line = _RCODES.search(output)
    rcodes = {name: int(count) for name, count in
              _RCODE_ITEM.findall(rcodes_line.group(1) if rcodes_line else "")}
    latencies = [float(parts[-1]) for line in output.splitlines()
                 if line.startswith("> ") and len(parts := line.split()) == 5 and parts[1] != "T"]
    return Result(int(values["sent"]), int(values["completed"]), int(values["lost"]),
                  values["run_time"], values["qps"], values["average_latency"], rcodes,
                  latencies)


def run(port: int, queries: Path, *, seconds: float | None, rate: int | None = None,
        outstanding: int = 100, clients: int = 4, timeout: float = 1.0,
        per_query: bool = False, core: int | None = 1, passes: int | None = None) -> Result:
    """One bounded dnsperf run against 127.0.0.1:`port`.

    `rate` fixes the offered load; `outstanding` must then cover rate x latency, or dnsperf
    silently offers less (and past a few thousand dnsperf itself slows down). `per_query`
    turns on `-v` for percentiles. `passes` (`-n`) reads the query file that many times
    instead of running for `seconds`. dnsperf's own sockets get 4 MiB buffers (`-b`), so a
    reply dropped at the client never counts as the server's loss.
    """
    argv = ["dnsperf", "-s", "127.0.0.1", "-p", str(port), "-d", str(queries),
            "-c", str(clients), "-q", str(outstanding), "-t", str(timeout),
            "-b", str(CLIENT_BUFFER_KIB), "-O", "suppress=timeouts"]
    if seconds is not None:
        argv += ["-l", str(seconds)]
    if passes is not None:
        argv += ["-n", str(passes)]
    if rate is not None:
        argv += ["-Q", str(rate)]
    if per_query:
        argv.append("-v")
    limit = (seconds or 30) + timeout + 30
    # The only child that ends during this call is dnsperf (taskset execs it), so the
    # growth of the children's CPU time is dnsperf's.
    before = _children_cpu()
    done = subprocess.run(pinned(core, argv), capture_output=True, text=True, timeout=limit,
                          check=False)
    if done.returncode != 0:
        raise RuntimeError(f"dnsperf failed ({done.returncode}): {' '.join(argv)}\n"
                           f"{done.stderr[-2000:]}{done.stdout[-2000:]}")
    result = parse(done.stdout)
    result.client_cpu_s = _children_cpu() - before
    return result


def _children_cpu() -> float:
    """User+system seconds of this process's finished children."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def version() -> str:
    """dnsperf's version line, for the report header."""
    done = subprocess.run(["dnsperf", "-h"], capture_output=True, text=True, check=False)
    match = re.search(r"Version (\S+)", done.stdout + done.stderr)
    return match.group(1) if match else "?"
