"""`make bench`: clusterdns side by side with dnsmasq on the same records, one table out.

Absolute rates on a shared two-core machine are noise; ratios to dnsmasq measured in the
same run are less so (DESIGN.md section 5). Both servers serve the same 1,000 services from
a temporary folder, each pinned to core 0, and dnsperf loads them from core 1 with bounded
runs. Each measurement runs dnsmasq and then clusterdns back to back, `--repeat` times, and
keeps each server's best run: another process on the machine only ever slows a run down, so
the best run is the one least disturbed. The table lists each figure for both servers,
their ratio and the design's target; bench/out/ keeps the table and every raw figure.

clusterdns answers stored UDP replies by default on a native thread per socket, in C,
where that was built. Three controls run in the same rounds, on A queries only: clusterdns
`--batch-loop python` (the same batches answered in Python through ctypes, as on a
machine that had no compiler at install time), clusterdns `--no-batch` (one datagram
per event-loop callback) and bench/echo.py, a bare uvloop server that sends each query
back: the floor of the one-datagram-per-callback design, which the batched path has to
beat.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import dnsperf
import reload_latency
import reload_stall
import zone_build
from generate import write_manifests
from inputs import Inputs, service_fqdn, write_inputs
from report import Row, table
from serve_cost import serve_figures
from servers import (
    CLOCK_TICKS,
    Server,
    answers,
    busy_loop,
    cpu_seconds,
    free_port,
    pinned,
    running,
)

BENCH = Path(__file__).resolve().parent
OUT = BENCH / "out"
SERVER_CORE, LOAD_CORE = 0, 1
LOW_RATE, HIGH_RATE = 10_000, 50_000
# dnsperf may keep 50 ms of queries in flight at a fixed rate: enough that it offers the
# whole rate to a server a few ms behind, few enough that dnsperf itself keeps up.
IN_FLIGHT_SECONDS = 0.05
EXPECTED_RCODE = {"a": "NOERROR", "nxdomain": "NXDOMAIN", "srv": "NOERROR"}
PYTHON_LOOP = "clusterdns --batch-loop python"  # the controls' names
NO_BATCH = "clusterdns --no-batch"
ECHO = "uvloop echo"
CONTROLS = (PYTHON_LOOP, NO_BATCH, ECHO)


@dataclass
class Subject:
    """One server under test; dnsmasq answers SRV from a second instance (see inputs.py)."""

    name: str
    server: Server
    srv_server: Server

    def for_kind(self, kind: str) -> Server:
        """The process that answers queries of `kind` (a, nxdomain, srv)."""
        return self.srv_server if kind == "srv" else self.server


@dataclass
class Measured:
    """The best dnsperf result of each kind for one server, and its CPU readings."""

    saturation: dict[str, dnsperf.Result] = field(default_factory=dict)
    fixed: dict[int, dnsperf.Result] = field(default_factory=dict)
    cpu_seconds: dict[int, float] = field(default_factory=dict)
    server_bound: dnsperf.Result | None = None
    saturation_cpu_seconds: float = 0.0  # during the kept A saturation run

    def cpu_per_100k(self, rate: int) -> float | None:
        """Server CPU seconds per 100,000 answered queries at the offered `rate`."""
        result = self.fixed.get(rate)
        if result is None or not result.completed:
            return None
        return self.cpu_seconds[rate] / result.completed * 100_000

    def cpu_per_100k_saturated(self) -> float | None:
        """Server CPU seconds per 100,000 answered queries in the kept A saturation run."""
        result = self.saturation.get("a")
        if result is None or not result.completed:
            return None
        return self.saturation_cpu_seconds / result.completed * 100_000

    def runs(self) -> list[tuple[str, dnsperf.Result]]:
        """Every kept run, labelled `<what> <query kind>` for notes and JSON."""
        named = [(f"saturation {kind}", r) for kind, r in self.saturation.items()]
        named += [(f"fixed {rate}/s a", r) for rate, r in self.fixed.items()]
        if self.server_bound is not None:
            named.append(("server-bound a", self.server_bound))
        return named

    def as_json(self) -> dict[str, object]:
        """Every kept run's raw figures, for bench/out/*.json."""
        return {name: result.summary() for name, result in self.runs()} | {
            "cpu_seconds": self.cpu_seconds,
            "cpu_per_100k": {rate: self.cpu_per_100k(rate) for rate in self.fixed},
            "cpu_per_100k_saturated": self.cpu_per_100k_saturated(),
        }


def fastest(old: dnsperf.Result | None, new: dnsperf.Result) -> bool:
    """Whether `new` beats `old` at saturation: interference only ever lowers a rate."""
    return old is None or new.qps > old.qps


def calmest(old: dnsperf.Result | None, new: dnsperf.Result) -> bool:
    """Fewer lost queries first, then the lower p99."""
    if old is None:
        return True
    return (new.lost, new.percentile(99) or 0.0) < (old.lost, old.percentile(99) or 0.0)


def clusterdns_command() -> list[str]:
    """The clusterdns of this venv: its console script, else `python -m clusterdns`."""
    script = Path(sys.executable).with_name("clusterdns")
    return [str(script)] if script.exists() else [sys.executable, "-m", "clusterdns"]


# Options that keep the benchmark about the zone: no upstream to ask, no file watching.
CLUSTERDNS_EXTRA = ("--upstream", "none", "--no-watch")


def start_dnsmasq(name: str, conf: Path, work: Path) -> Server:
    """dnsmasq on core 0 answering only from `conf`: no resolv.conf, no /etc/hosts, no
    upstream, TTL 5 as clusterdns's default, in the foreground so its PID is ours."""
    port = free_port()
    user = "root" if os.geteuid() == 0 else os.environ.get("USER", "nobody")
    argv = ["dnsmasq", "-k", "-p", str(port), "--listen-address=127.0.0.1", "--bind-interfaces",
            "--no-resolv", "--no-hosts", f"--conf-file={conf}", "--pid-file=", "-u", user,
            "--local-ttl=5", "--log-facility=-"]
    return Server(name, pinned(SERVER_CORE, argv), work / f"{name}.log", port)


def start_clusterdns(command: list[str], extra: list[str], manifests: Path, log: Path,
                     core: int | None = SERVER_CORE) -> Server:
    """`clusterdns serve` on `manifests`, on `core` (None: wherever the kernel likes)."""
    port = free_port()
    argv = [*command, "serve", "--manifests", str(manifests), "--listen", f"127.0.0.1:{port}",
            *extra]
    return Server("clusterdns", pinned(core, argv), log, port)


def start_echo(work: Path) -> Server:
    """bench/echo.py on core 0: the bare uvloop control."""
    port = free_port()
    argv = [sys.executable, str(BENCH / "echo.py"), str(port)]
    return Server("uvloop echo", pinned(SERVER_CORE, argv), work / "echo.log", port)


def cross_check(inputs: Inputs, subjects: list[Subject], samples: int = 25) -> list[str]:
    """Ask each server a spread of names and compare with the generator; returns problems.

    A server that answers wrongly (REFUSED, empty, other addresses) could look fast; the
    rates mean something only when this finds nothing.
    """
    names = list(inputs.expected)
    nxdomain = inputs.nxdomain_queries.read_text().split()[0]
    srv = inputs.srv_queries.read_text().split()[0]
    problems = []
    for subject in subjects:
        # server, name, type, rcode wanted, answers wanted (None: any non-empty set)
        questions: list[tuple[Server, str, str, int, frozenset[str] | None]] = [
            (subject.server, name, "A", 0, inputs.expected[name])
            for name in names[::max(1, len(names) // samples)]
        ]
        questions += [(subject.server, nxdomain, "A", 3, frozenset()),
                      (subject.srv_server, srv, "SRV", 0, None)]
        for server, name, qtype, rcode_wanted, wanted in questions:
            try:
                rcode, found = answers(server.port, name, qtype)
            except OSError as exc:
                problems.append(f"{subject.name}: {name} {qtype} -> no answer ({exc})")
                continue
            if rcode != rcode_wanted or (found != wanted if wanted is not None else not found):
                problems.append(f"{subject.name}: {name} {qtype} -> rcode {rcode} "
                                f"{sorted(found)}, expected rcode {rcode_wanted} "
                                f"{sorted(wanted) if wanted is not None else 'some records'}")
    return problems


def measure(subjects: list[Subject], controls: list[Subject], inputs: Inputs, seconds: float,
            repeat: int, work: Path) -> dict[str, Measured]:
    """Every run for every server, interleaved so all see the same machine; `controls`
    only answer A queries, at saturation, at the high fixed rate and server-bound."""
    files = {"a": inputs.a_queries, "nxdomain": inputs.nxdomain_queries,
             "srv": inputs.srv_queries}
    everyone = subjects + controls
    measured = {subject.name: Measured() for subject in everyone}

    def rounds(group: list[Subject]) -> list[Subject]:
        # Every server in each round, so a burst of other work hits one round, not one server.
        return [subject for _ in range(repeat) for subject in group]

    for subject in everyone:  # one pass first: whatever a server fills lazily is filled
        for kind, queries in files.items():
            if subject in subjects or kind == "a":
                dnsperf.run(subject.for_kind(kind).port, queries, seconds=None, passes=1)
    for kind, queries in files.items():
        progress(f"saturation, {kind}")
        for subject in rounds(everyone if kind == "a" else subjects):
            server = subject.for_kind(kind)
            before = cpu_seconds(server.tree())
            result = dnsperf.run(server.port, queries, seconds=seconds)
            used = cpu_seconds(server.tree()) - before
            m = measured[subject.name]
            if fastest(m.saturation.get(kind), result):
                m.saturation[kind] = result
                if kind == "a":
                    m.saturation_cpu_seconds = used
    for rate in (LOW_RATE, HIGH_RATE):
        progress(f"fixed rate {rate:,} q/s")
        for subject in rounds(everyone if rate == HIGH_RATE else subjects):
            server, m = subject.server, measured[subject.name]
            before = cpu_seconds(server.tree())
            result = dnsperf.run(server.port, inputs.a_queries, seconds=seconds, rate=rate,
                                 outstanding=int(rate * IN_FLIGHT_SECONDS), per_query=True)
            used = cpu_seconds(server.tree()) - before
            if calmest(m.fixed.get(rate), result):
                m.fixed[rate], m.cpu_seconds[rate] = result, used
    progress("server-bound (a busy loop shares the server's core)")
    for subject in rounds(everyone):
        with running(busy_loop(SERVER_CORE, seconds + 5, work / f"busy-{subject.name}.log")):
            time.sleep(0.2)
            result = dnsperf.run(subject.server.port, inputs.a_queries, seconds=seconds)
        m = measured[subject.name]
        if fastest(m.server_bound, result):
            m.server_bound = result
    return measured


def measure_workers(command: list[str], extra: list[str], inputs: Inputs, seconds: float,
                    repeat: int, work: Path) -> tuple[dnsperf.Result, int]:
    """Saturation with `--workers 2`, unpinned: the workers need both cores, one of which
    dnsperf uses too. Returns the best run and how many processes served."""
    server = start_clusterdns(command, [*extra, "--workers", "2"], inputs.manifests,
                              work / "workers.log", core=None)
    with running(server):
        server.wait_ready(service_fqdn(1))
        time.sleep(0.5)  # workers past the first may bind a moment after it answers
        processes = len(server.tree())
        dnsperf.run(server.port, inputs.a_queries, seconds=None, passes=2)
        best: dnsperf.Result | None = None
        for _ in range(repeat):
            result = dnsperf.run(server.port, inputs.a_queries, seconds=seconds)
            best = result if fastest(best, result) else best
    assert best is not None
    return best, processes


# What watching clusterdns costs: each variant's server-bound A rate is compared with the
# same server without it (DESIGN.md: metrics on within 5% of off).
COST_VARIANTS = {"off": [], "--metrics": ["--metrics", "127.0.0.1:0"],
                 "--log-queries": ["--log-queries"]}


def measure_costs(command: list[str], extra: list[str], inputs: Inputs, seconds: float,
                  repeat: int, work: Path) -> dict[str, dnsperf.Result]:
    """The best server-bound A run of clusterdns without and with each watched variant.

    The servers run side by side on core 0 and take turns, so all see the same machine.
    """
    servers = {name: start_clusterdns(command, [*extra, *options], inputs.manifests,
                                      work / f"cost-{name.strip('-')}.log")
               for name, options in COST_VARIANTS.items()}
    best: dict[str, dnsperf.Result] = {}
    with contextlib.ExitStack() as stack:
        for server in servers.values():
            stack.enter_context(running(server))
            server.wait_ready(service_fqdn(1))
            dnsperf.run(server.port, inputs.a_queries, seconds=None, passes=1)
        for _ in range(repeat):
            for name, server in servers.items():
                with running(busy_loop(SERVER_CORE, seconds + 5, work / f"busy-{name}.log")):
                    time.sleep(0.2)
                    result = dnsperf.run(server.port, inputs.a_queries, seconds=seconds)
                if fastest(best.get(name), result):
                    best[name] = result
    return best


def cost_rows(costs: dict[str, dnsperf.Result]) -> list[Row]:
    """clusterdns's server-bound rate with metrics and with the query log, against off."""
    off = costs["off"].qps
    metrics, log = costs["--metrics"].qps, costs["--log-queries"].qps
    return [
        Row("A q/s server-bound, --metrics on (ratio: to off)", None, metrics,
            target=">= 0.95x", ok=metrics >= 0.95 * off, ratio=metrics / off),
        Row("A q/s server-bound, --log-queries on (ratio: to off)", None, log,
            ratio=log / off),
    ]


def big_zone(command: list[str], extra: list[str], services: int, work: Path,
             notes: list[str]) -> dict[str, float]:
    """Figures of bench/zone_build.py (load, build, reload) and bench/reload_latency.py
    (file write to new answer), each module's `measure(services)`, and a real server's
    peak RSS. A measurement that fails costs its rows and leaves a note."""
    figures: dict[str, float] = {}
    for module, measure_zone in (("zone_build", zone_build.measure),
                                 ("reload_latency", reload_latency.measure)):
        try:
            figures |= measure_zone(services)
        except (RuntimeError, OSError, subprocess.SubprocessError, ValueError) as exc:
            notes.append(f"bench/{module}.py failed, its rows are missing: {exc}")
    for shape, size in (("endpoints", 100_000), ("services", services)):
        try:
            stall = reload_stall.measure(shape, size, reloads=2)
        except (RuntimeError, OSError) as exc:
            notes.append(f"bench/reload_stall.py --shape {shape} failed: {exc}")
            continue
        figures[f"stall_{shape}_p99_ms"] = stall["p99_ms"]
        figures[f"stall_{shape}_max_ms"] = stall["max_ms"]
    folder = work / "big-zone"
    write_manifests(folder, services, endpoints=3)
    try:
        figures |= serve_figures(command, extra, folder, work / "clusterdns-big-zone.log")
    except (RuntimeError, OSError) as exc:
        notes.append(f"serve memory not measured: {exc}")
    return figures


class NoiseMeter:
    """CPU time other processes took while the benchmark ran: the machine is shared, and a
    reader should know how much of it the figures had to share.

    Machine-wide user+system time from /proc/stat minus this process's and its waited-for
    children's (servers, dnsperf, busy loops). Interrupt time is left out on both sides:
    the kernel books loopback packet work there, not to any process.
    """

    def __init__(self) -> None:
        self.start = time.monotonic()
        self.machine_start = self._machine()
        self.own_start = self._own()

    @staticmethod
    def _machine() -> float:
        user, nice, system = Path("/proc/stat").read_text().split()[1:4]
        return (int(user) + int(nice) + int(system)) / CLOCK_TICKS

    @staticmethod
    def _own() -> float:
        t = os.times()
        return t.user + t.system + t.children_user + t.children_system

    def other_share(self) -> tuple[float, float]:
        """(CPU seconds other processes used, their share of all cores' time)."""
        other = (self._machine() - self.machine_start) - (self._own() - self.own_start)
        capacity = (time.monotonic() - self.start) * (os.cpu_count() or 1)
        return max(other, 0.0), max(other, 0.0) / capacity if capacity else 0.0


def progress(message: str) -> None:
    """A line on stderr, so a two-minute run shows where it is; the table goes to stdout."""
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def ms(value: float | None) -> float | None:
    """Seconds (as dnsperf reports them) to milliseconds, keeping a missing value missing."""
    return None if value is None else value * 1000


def at_most(d: float | None, c: float | None, ratio: float) -> bool | None:
    """Whether clusterdns's `c` is within `ratio` times dnsmasq's `d`; None if unmeasured."""
    return None if not (d and c) else c <= ratio * d


def offered(result: dnsperf.Result, rate: int) -> bool:
    """Whether dnsperf really sent `rate`: a server far behind gets fewer queries, and then
    its fixed-rate latency and loss do not answer the question asked."""
    return result.sent_rate >= 0.95 * rate


def latency_rows(d: Measured, c: Measured, rate: int) -> list[Row]:
    """Average, p50 and p99 at one offered rate; the design's p99 target is at 50k."""
    fmt, dr, cr = "{:.3f}", d.fixed[rate], c.fixed[rate]
    at = f"@{rate // 1000}k q/s (ms)"
    warm = dnsperf.WARMUP_SECONDS
    d_p99, c_p99 = ms(dr.percentile(99, warm)), ms(cr.percentile(99, warm))
    steady_ok = at_most(d_p99, c_p99, 1.0)
    return [
        Row(f"avg latency {at}", ms(dr.average_latency), ms(cr.average_latency), fmt),
        Row(f"p50 latency {at}", ms(dr.percentile(50)), ms(cr.percentile(50)), fmt),
        Row(f"p99 latency {at}, whole run", ms(dr.percentile(99)), ms(cr.percentile(99)), fmt),
        Row(f"p99 latency {at}, after {warm:g} s", d_p99, c_p99, fmt,
            "<= 1.0x" if rate == HIGH_RATE else "",
            None if rate != HIGH_RATE or steady_ok is None else steady_ok and offered(cr, rate)),
    ]


def throughput_rows(d: Measured, c: Measured,
                    workers: tuple[dnsperf.Result, int]) -> list[Row]:
    """The rows measured with dnsperf, in the order DESIGN.md lists the targets."""
    d_sat, c_sat = d.saturation["a"].qps, c.saturation["a"].qps
    rows = [Row("A q/s at saturation", d_sat, c_sat, target=">= 1.0x", ok=c_sat >= d_sat)]
    if d.server_bound and c.server_bound:
        rows.append(Row("A q/s server-bound (busy loop on core)", d.server_bound.qps,
                        c.server_bound.qps, target=">= 1.3x",
                        ok=c.server_bound.qps >= 1.3 * d.server_bound.qps))
    d_sat_cpu, c_sat_cpu = d.cpu_per_100k_saturated(), c.cpu_per_100k_saturated()
    d_cpu, c_cpu = d.cpu_per_100k(HIGH_RATE), c.cpu_per_100k(HIGH_RATE)
    rows += [
        Row("server CPU s per 100k queries at saturation", d_sat_cpu, c_sat_cpu, "{:.3f}",
            "<= 0.75x", at_most(d_sat_cpu, c_sat_cpu, 0.75)),
        Row("server CPU s per 100k queries @50k q/s", d_cpu, c_cpu, "{:.3f}", "<= 0.9x",
            at_most(d_cpu, c_cpu, 0.9)),
        Row("answered q/s @50k q/s offered", d.fixed[HIGH_RATE].qps, c.fixed[HIGH_RATE].qps),
        *latency_rows(d, c, LOW_RATE),
        *latency_rows(d, c, HIGH_RATE),
    ]
    for rate in (LOW_RATE, HIGH_RATE):
        lost = c.fixed[rate].lost
        rows.append(Row(f"lost queries @{rate // 1000}k q/s", d.fixed[rate].lost, lost,
                        target="0", ok=lost == 0 and offered(c.fixed[rate], rate)))
    d_lost = sum(r.lost for r in d.saturation.values())
    c_lost = sum(r.lost for r in c.saturation.values())
    rows.append(Row("lost queries, saturation runs", d_lost, c_lost, target="0",
                    ok=c_lost == 0))
    for kind, label in (("nxdomain", "NXDOMAIN"), ("srv", "SRV")):
        d_rate, c_rate = d.saturation[kind].qps, c.saturation[kind].qps
        d_share, c_share = 100 * d_rate / d_sat, 100 * c_rate / c_sat
        rows += [
            Row(f"{label} q/s at saturation", d_rate, c_rate),
            Row(f"{label} rate, % of own A rate", d_share, c_share, "{:.0f}%", ">= 80%",
                c_share >= 80, ratio=c_share / d_share if d_share else None),
        ]
    result, processes = workers
    # No target row: with two cores and dnsperf needing one, a second worker can only
    # take time from the client here; the figure shows the workers answer correctly.
    rows.append(Row(f"A q/s, --workers 2 ({processes} procs, unpinned)", None,
                    result.qps, ratio=result.qps / c_sat if c_sat else None))
    return rows


def control_rows(d: Measured, controls: dict[str, Measured]) -> list[Row]:
    """The controls beside dnsmasq, in the clusterdns column: where the batches answered
    in Python stand, and one datagram per event-loop callback, with and without any DNS
    work."""
    rows = []
    warm = dnsperf.WARMUP_SECONDS
    for name, m in controls.items():
        rows += [
            Row(f"{name}: A q/s server-bound", d.server_bound and d.server_bound.qps,
                m.server_bound and m.server_bound.qps),
            Row(f"{name}: CPU s per 100k at saturation", d.cpu_per_100k_saturated(),
                m.cpu_per_100k_saturated(), "{:.3f}"),
            Row(f"{name}: CPU s per 100k @50k q/s", d.cpu_per_100k(HIGH_RATE),
                m.cpu_per_100k(HIGH_RATE), "{:.3f}"),
            Row(f"{name}: p99 latency @50k q/s, after {warm:g} s (ms)",
                ms(d.fixed[HIGH_RATE].percentile(99, warm)),
                ms(m.fixed[HIGH_RATE].percentile(99, warm)), "{:.3f}"),
        ]
    return rows


def zone_rows(services: int, figures: dict[str, float]) -> list[Row]:
    """Rows for the big-zone figures that were measured (a failed measurement is absent)."""
    label = f"{services / 1000:g}k svc"
    figures = dict(figures)
    for prefix in ("", "single_file_"):
        if f"{prefix}load_s" in figures and f"{prefix}build_s" in figures:
            figures[f"{prefix}cold_s"] = figures[f"{prefix}load_s"] + figures[f"{prefix}build_s"]
    # key, metric, target, the limit the value must stay under
    spec: list[tuple[str, str, str, float | None]] = [
        ("load_s", "manifests.load, files of 100 (s)", "", None),
        ("build_s", "zone.build (s)", "< 1 s", 1.0),
        ("cold_s", "load + build (s)", "", None),
        ("reload_s", "reload, 1 of 100 files edited (s)", "< 1 s", 1.0),
        ("single_file_cold_s", "load + build, one file (s)", "", None),
        ("single_file_reload_s", "reload, the one file edited (s)", "", None),
        ("peak_rss_mib", "zone_build.py peak RSS (MiB)", "", None),
        ("write_to_answer_ms_median", "file write to new answer, median (ms)", "", None),
        ("write_to_answer_ms_max", "file write to new answer, worst (ms)", "< 1000 ms",
         1000.0),
        ("single_file_write_to_answer_ms_max", "same, everything in one file (ms)", "", None),
        ("lost_questions", "questions unanswered during reloads", "0", 0.5),
        ("single_file_lost_questions", "same, everything in one file", "0", 0.5),
        ("serve_ready_s", "serve: start to first answer (s)", "< 1.5 s", 1.5),
        ("serve_peak_rss_mib", "serve: peak RSS at start (MiB, VmHWM)", "< 150 MB",
         150 / 1.048576),
        ("rss_after_reloads_mib", "serve: RSS after 5 reloads (MiB)", "< 150 MB", 150 / 1.048576),
        # bench/reload_stall.py: an unchanged name asked every 2 ms while big reloads run
        ("stall_services_p99_ms", "answer while every 10th reloads, p99 (ms)", "< 5 ms", 5.0),
        ("stall_services_max_ms", "answer while every 10th reloads, worst (ms)", "< 5 ms", 5.0),
        ("stall_endpoints_p99_ms", "same, 1 svc of 100k endpoints instead, p99 (ms)", "< 5 ms",
         5.0),
        ("stall_endpoints_max_ms", "same, 1 svc of 100k endpoints instead, worst (ms)",
         "< 5 ms", 5.0),
    ]
    def fmt(key: str) -> str:
        return "{:.3f}" if key.endswith("_s") else "{:,.0f}" if "lost" in key else "{:,.1f}"

    return [Row(f"{label}: {text}", None, figures[key], fmt(key), target,
                None if limit is None else figures[key] < limit)
            for key, text, target, limit in spec if key in figures]


def sanity_notes(name: str, measured: Measured) -> list[str]:
    """Anything that makes a figure mean less than it seems: wrong rcodes, short load."""
    notes = []
    for label, result in measured.runs():
        expected = EXPECTED_RCODE[label.split()[-1]]
        if result.completed and result.share(expected) < 0.99:
            notes.append(f"{name} {label}: only {result.share(expected):.0%} {expected} "
                         f"({result.rcodes})")
    client_bound = [f"{label} ({result.client_busy:.0%})" for label, result in measured.runs()
                    if label.startswith(("saturation", "server-bound"))
                    and result.client_busy > 0.9]
    if client_bound:
        notes.append(f"{name}: dnsperf used >90% of its core in {', '.join(client_bound)}: "
                     "there the client may set the rate (the server-bound row is fairer)")
    for rate, result in measured.fixed.items():
        if not offered(result, rate):
            notes.append(f"{name} at {rate:,} q/s: dnsperf could offer only "
                         f"{result.sent_rate:,.0f} q/s (server too far behind)")
    return notes


def machine() -> dict[str, str]:
    """What the figures were measured on, for the report header."""
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    dnsmasq = subprocess.run(["dnsmasq", "--version"], capture_output=True, text=True,
                             check=False).stdout.split("  ", 1)[0]
    commit = subprocess.run(["git", "-C", str(BENCH), "describe", "--always", "--dirty"],
                            capture_output=True, text=True, check=False).stdout.strip()
    load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    return {"date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
            "cpus": str(os.cpu_count()), "cpu": model, "kernel": platform.release(),
            "python": platform.python_version(), "dnsperf": dnsperf.version(),
            "dnsmasq": dnsmasq, "clusterdns": commit or "?", "load_before": load}


def require_tools() -> None:
    """Stop early, with the fix, when a tool is missing or there is no second core."""
    missing = [tool for tool in ("dnsperf", "dnsmasq", "taskset") if shutil.which(tool) is None]
    if missing:
        sys.exit(f"missing {', '.join(missing)}: `make debs-bench` installs them")
    if (os.cpu_count() or 1) < 2:
        sys.exit("the benchmark pins servers and dnsperf to separate cores: it needs 2 CPUs")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    # Several short runs dodge other processes' bursts better than a few long ones.
    parser.add_argument("--seconds", type=float, default=3.0,
                        help="length of each dnsperf run (default 3)")
    parser.add_argument("--repeat", type=int, default=3,
                        help="runs per measurement and server; the best is kept (default 3)")
    parser.add_argument("--services", type=int, default=1000,
                        help="services both servers serve (default 1000)")
    parser.add_argument("--zone-services", type=int, default=10_000,
                        help="services of the zone-build figures (default 10000; 0 skips)")
    parser.add_argument("--out", type=Path, default=OUT, help="where to write the report")
    return parser.parse_args()


def main() -> None:
    # SIGTERM (a CI timeout) and SIGINT (even when started in the background, where the
    # shell ignores it) must unwind through the finally blocks that stop the servers.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        benchmark(parse_args())
    except RuntimeError as exc:  # a server that would not start, a dnsperf that failed
        sys.exit(f"bench failed: {exc}")


def benchmark(args: argparse.Namespace) -> None:
    """Everything `make bench` does, in order; every process it starts is stopped here."""
    require_tools()
    started = time.monotonic()
    command = clusterdns_command()
    extra = list(CLUSTERDNS_EXTRA)
    about = machine()
    notes: list[str] = []
    figures: dict[str, float] = {}
    noise = NoiseMeter()
    with tempfile.TemporaryDirectory(prefix="clusterdns-bench-") as tmp:
        work = Path(tmp)
        inputs = write_inputs(work / "data", args.services)
        with contextlib.ExitStack() as stack:
            dnsmasq = stack.enter_context(running(
                start_dnsmasq("dnsmasq", inputs.dnsmasq_conf, work)))
            srv = stack.enter_context(running(
                start_dnsmasq("dnsmasq-srv", inputs.dnsmasq_srv_conf, work)))
            clusterdns = stack.enter_context(running(
                start_clusterdns(command, extra, inputs.manifests, work / "clusterdns.log")))
            python_loop = stack.enter_context(running(
                start_clusterdns(command, [*extra, "--batch-loop", "python"],
                                 inputs.manifests, work / "clusterdns-python-loop.log")))
            unbatched = stack.enter_context(running(
                start_clusterdns(command, [*extra, "--no-batch"], inputs.manifests,
                                 work / "clusterdns-no-batch.log")))
            echo = stack.enter_context(running(start_echo(work)))
            for server in (dnsmasq, srv, clusterdns, python_loop, unbatched):
                server.wait_ready(service_fqdn(1))
            echo.wait_ready(service_fqdn(1), answered=False)
            if "not built" in clusterdns.log.read_text():
                notes.append("the C threads are not built here: the clusterdns column is "
                             "the Python loop too (pip install -v -e . says why)")
            subjects = [Subject("dnsmasq", dnsmasq, srv),
                        Subject("clusterdns", clusterdns, clusterdns)]
            controls = [Subject(PYTHON_LOOP, python_loop, python_loop),
                        Subject(NO_BATCH, unbatched, unbatched), Subject(ECHO, echo, echo)]
            problems = cross_check(inputs, [*subjects, *controls[:2]])
            notes += [f"WRONG ANSWER {problem}" for problem in problems]
            progress(f"answers cross-checked: {len(problems)} problem(s)")
            measured = measure(subjects, controls, inputs, args.seconds, args.repeat, work)
        progress("clusterdns --workers 2")
        workers = measure_workers(command, extra, inputs, args.seconds, args.repeat, work)
        progress("clusterdns server-bound with --metrics, with --log-queries, and without")
        costs = measure_costs(command, extra, inputs, args.seconds, args.repeat, work)
        if args.zone_services:
            progress(f"the {args.zone_services:,}-service zone")
            figures = big_zone(command, extra, args.zone_services, work, notes)
    other_seconds, other_share = noise.other_share()
    d, c = measured["dnsmasq"], measured["clusterdns"]
    notes += [note for name, m in measured.items() for note in sanity_notes(name, m)]
    notes.append(f"other processes used {other_seconds:.0f} CPU-s during the run, "
                 f"{other_share:.0%} of the machine"
                 + (": figures are noisy, re-run on a quiet machine or with --repeat 5"
                    if other_share > 0.05 else ""))
    rows = (throughput_rows(d, c, workers) + cost_rows(costs)
            + control_rows(d, {name: measured[name] for name in CONTROLS})
            + zone_rows(args.zone_services, figures))
    elapsed = time.monotonic() - started
    text = render(about, args, extra, rows, notes, elapsed)
    print(text)
    write_report(args.out, text, {
        "machine": about, "seconds_per_run": args.seconds, "repeat": args.repeat,
        "services": args.services, "clusterdns_options": extra,
        "rows": [row.as_json() for row in rows], "dnsmasq": d.as_json(),
        "clusterdns": c.as_json(),
        "controls": {name: measured[name].as_json() for name in CONTROLS},
        "workers_2": workers[0].summary() | {"processes": workers[1]},
        "watched_server_bound": {name: r.summary() for name, r in costs.items()},
        "zone": figures, "notes": notes, "elapsed_s": elapsed,
        "other_processes_cpu_s": other_seconds, "other_processes_share": other_share,
    })


def render(about: dict[str, str], args: argparse.Namespace, extra: list[str],
           rows: list[Row], notes: list[str], elapsed: float) -> str:
    """The header that says what was measured and how, the table, and the notes."""
    head = [
        f"clusterdns benchmark {about['date']}, clusterdns {about['clusterdns']}",
        f"{about['cpus']} CPUs ({about['cpu']}), load before {about['load_before']}, "
        f"Linux {about['kernel']}, Python {about['python']}, dnsperf {about['dnsperf']}, "
        f"{about['dnsmasq']}",
        f"{args.services:,} services (every 3rd headless), loopback UDP; servers on core "
        f"{SERVER_CORE}, dnsperf on core {LOAD_CORE}; {args.seconds:g} s a run, best of "
        f"{args.repeat}, dnsmasq and clusterdns alternating",
        f"clusterdns serve {' '.join(extra) or '(no extra options)'}; dnsmasq --local-ttl=5, "
        "its SRV from a 2nd dnsmasq holding the srv-host lines",
        "saturation: dnsperf -c 4 -q 100; fixed rate: -Q RATE -q RATE/20 -t 1 -v, "
        "percentiles from dnsperf's per-query latencies; all runs -b 4096",
        "--workers 2 runs unpinned (its 2nd process shares dnsperf's core)",
        "clusterdns answers stored UDP replies on C threads (the default; a note says when "
        "they were not built); controls, A queries only: clusterdns --batch-loop python, "
        "clusterdns --no-batch, and bench/echo.py (a bare uvloop echo, no DNS work)",
        "",
    ]
    tail = ["", *(f"note: {note}" for note in notes), f"took {elapsed:.0f} s"]
    return "\n".join([*head, table(rows), *tail])


def write_report(out: Path, text: str, data: dict[str, object]) -> None:
    """bench/out/<stamp>.txt and .json, and latest.* copies for scripts and eyes."""
    out.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    encoded = json.dumps(data, indent=2, default=str)
    for name in (stamp, "latest"):
        (out / f"{name}.txt").write_text(text + "\n")
        (out / f"{name}.json").write_text(encoded + "\n")
    print(f"written to {out}/{stamp}.txt and .json")


if __name__ == "__main__":
    main()
