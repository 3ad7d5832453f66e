"""CoreDNS's metrics, counted in plain numbers and read at scrape time.

The names, labels and buckets are CoreDNS's (`plugin/metrics/vars`, `plugin/cache`,
`plugin/pkg/proxy`, `plugin/reload`), so dashboards and alerts written for CoreDNS work
unchanged; clusterdns's own figures are under `clusterdns_`.

Counting costs the answer path almost nothing. The UDP fast path (a stored reply sent
without a Python call) bumps one integer (`Listener.stored_hits`); every other reply is
recorded in full by `Listener.record`, a few dictionary increments. What the fast path
sent (type, rcode, sizes) is not looked at there: at scrape time its hits are shared out
over the kinds of stored replies clients were seen to ask for (`StoredMix`), learnt from
the stored replies as they are made and from short sampling windows during which the fast
path steps aside and every stored reply is counted in full (`sample_stored`). Totals are
exact; the per-type, per-rcode and per-size split of fast-path hits is that estimate.
"""

from __future__ import annotations

import asyncio
import bisect
import os
import platform
import resource
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Protocol

from .. import __version__
from .exposition import COUNTER, GAUGE, HISTOGRAM, Family, Histogram, Samples, Value

# plugin.TimeBuckets: prometheus.ExponentialBuckets(0.00025, 2, 16), 0.25 ms to 8.192 s.
TIME_BUCKETS = tuple(0.00025 * 2**i for i in range(16))
# The request and response size buckets of plugin/metrics/vars.
SIZE_BUCKETS = (0, 100, 200, 300, 400, 511, 1023, 2047, 4095, 8291, 16e3, 32e3, 48e3, 64e3)

# miekg/dns RcodeToString; 16 is BADSIG there (BADVERS shares the number).
RCODE_NAMES = {
    0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED",
    6: "YXDOMAIN", 7: "YXRRSET", 8: "NXRRSET", 9: "NOTAUTH", 10: "NOTZONE", 11: "DSOTYPENI",
    16: "BADSIG", 17: "BADKEY", 18: "BADTIME", 19: "BADMODE", 20: "BADNAME", 21: "BADALG",
    22: "BADTRUNC", 23: "BADCOOKIE",
}
# The query types CoreDNS counts by name (plugin/metrics/vars/monitor.go); others: "other".
TYPE_LABELS = {
    1: "A", 2: "NS", 5: "CNAME", 6: "SOA", 12: "PTR", 15: "MX", 16: "TXT", 28: "AAAA",
    33: "SRV", 43: "DS", 46: "RRSIG", 47: "NSEC", 48: "DNSKEY", 50: "NSEC3", 64: "SVCB",
    65: "HTTPS", 251: "IXFR", 252: "AXFR", 255: "ANY",
}
OTHER = "other"

# Label values. `zone` is the server block's zone, "." as in kubeadm's `.:53`; queries
# answered before any lookup (malformed, wrong opcode, class or EDNS version) are
# CoreDNS's "dropped". `plugin` is whoever wrote the reply, "" for the server itself.
ZONE = "."
DROPPED = "dropped"
KUBERNETES, FORWARD, CACHE, SERVER = "kubernetes", "forward", "cache", ""
UDP, TCP = "udp", "tcp"
VIEW = ""

# How often the fast path steps aside so stored replies are counted in full, for how long
# at least (1% of the time: 1% of stored replies pay a few microseconds more), how many
# samples a window waits for, and how often it looks while it waits.
SAMPLE_EVERY = 1.0
SAMPLE_FOR = 0.01
SAMPLE_MIN = 1000
SAMPLE_WAIT = 0.1


def rcode_name(rcode: int) -> str:
    """CoreDNS's rcode label: miekg's name, else RCODE and the number."""
    return RCODE_NAMES.get(rcode, f"RCODE{rcode}")


def reply_rcode(reply: bytes, query_version: int = 0) -> int:
    """The rcode `reply` carries. Only BADVERS (16) needs the OPT record's upper bits, and
    it is sent exactly when the query's EDNS version was above 0."""
    rcode = reply[3] & 0xF if len(reply) > 3 else 0
    return 16 if query_version > 0 and rcode == 0 else rcode


def _family(name: str, kind: str, help_text: str, *labels: str,
            buckets: tuple[float, ...] = ()) -> Family:
    return Family(name, kind, help_text, labels, buckets)


REQUESTS = _family("coredns_dns_requests_total", COUNTER,
                   "Counter of DNS requests made per zone, protocol and family.",
                   "server", "zone", "view", "proto", "family", "type")
DURATION = _family("coredns_dns_request_duration_seconds", HISTOGRAM,
                   "Histogram of the time (in seconds) each request took per zone.",
                   "server", "zone", "view", buckets=TIME_BUCKETS)
REQUEST_SIZE = _family("coredns_dns_request_size_bytes", HISTOGRAM,
                       "Size of the EDNS0 UDP buffer in bytes (64K for TCP) per zone and "
                       "protocol.", "server", "zone", "view", "proto", buckets=SIZE_BUCKETS)
DO_REQUESTS = _family("coredns_dns_do_requests_total", COUNTER,
                      "Counter of DNS requests with DO bit set per zone.",
                      "server", "zone", "view")
RESPONSE_SIZE = _family("coredns_dns_response_size_bytes", HISTOGRAM,
                        "Size of the returned response in bytes.",
                        "server", "zone", "view", "proto", buckets=SIZE_BUCKETS)
RESPONSES = _family("coredns_dns_responses_total", COUNTER,
                    "Counter of response status codes.",
                    "server", "zone", "view", "rcode", "plugin")
PANICS = _family("coredns_panics_total", COUNTER,
                 "A metrics that counts the number of panics.")
AUTOPATH = _family("coredns_autopath_success_total", COUNTER,
                   "Counter of requests that did autopath.", "server")
PLUGIN_ENABLED = _family("coredns_plugin_enabled", GAUGE,
                         "A metric that indicates whether a plugin is enabled on per server "
                         "and zone basis.", "server", "zone", "view", "name")
CACHE_ENTRIES = _family("coredns_cache_entries", GAUGE, "The number of elements in the cache.",
                        "server", "type", "zones", "view")
CACHE_REQUESTS = _family("coredns_cache_requests_total", COUNTER,
                         "The count of cache requests.", "server", "zones", "view")
CACHE_HITS = _family("coredns_cache_hits_total", COUNTER, "The count of cache hits.",
                     "server", "type", "zones", "view")
CACHE_MISSES = _family("coredns_cache_misses_total", COUNTER,
                       "The count of cache misses. Deprecated, derive misses from cache "
                       "hits/requests counters.", "server", "zones", "view")
PROXY_DURATION = _family("coredns_proxy_request_duration_seconds", HISTOGRAM,
                         "Histogram of the time each request took.",
                         "proxy_name", "to", "rcode", buckets=TIME_BUCKETS)
RELOAD_FAILED = _family("coredns_reload_failed_total", COUNTER,
                        "Counter of the number of failed reload attempts.")
BUILD_INFO = _family("clusterdns_build_info", GAUGE,
                     "A metric with a constant '1' value labeled by the version of clusterdns "
                     "and of the Python that runs it.", "version", "pythonversion")
ZONE_RECORDS = _family("clusterdns_zone_records", GAUGE, "Records in the zone being served.")
ZONE_SERVICES = _family("clusterdns_zone_services", GAUGE,
                        "Services in the zone being served.")
ZONE_PODS = _family("clusterdns_zone_pods", GAUGE, "Pods in the zone being served.")
ZONE_ENDPOINTS = _family("clusterdns_zone_endpoints", GAUGE,
                         "Endpoint addresses in the zone being served.")
MANIFEST_PROBLEMS = _family("clusterdns_manifest_problems", GAUGE,
                            "Manifest errors found by the last load of the files.")
ZONE_STALE = _family("clusterdns_zone_stale", GAUGE,
                     "1 while the files have errors and an older zone is served, else 0.")
ZONE_LOADED = _family("clusterdns_zone_loaded_timestamp_seconds", GAUGE,
                      "When the zone being served was loaded, in seconds since the epoch.")
RELOADS = _family("clusterdns_reloads_total", COUNTER, "Zones swapped in by reloads.")
LAST_RELOAD = _family("clusterdns_last_reload_timestamp_seconds", GAUGE,
                      "When the files were last loaded, in seconds since the epoch.")
RELOAD_DURATION = _family("clusterdns_reload_duration_seconds", GAUGE,
                          "How long the last load and build of the files took.")
STORED_REPLIES = _family("clusterdns_stored_replies", GAUGE,
                         "In-zone replies kept as wire bytes, per protocol table.", "proto")
STORED_HITS = _family("clusterdns_stored_reply_hits_total", COUNTER,
                      "Stored replies sent by the UDP fast path (counted by type, rcode and "
                      "size in coredns_dns_* by estimate).", "server")
LOG_DROPPED = _family("clusterdns_query_log_dropped_total", COUNTER,
                      "Query log lines dropped because the writer fell behind.")
CPU = _family("process_cpu_seconds_total", COUNTER,
              "Total user and system CPU time spent in seconds.")
OPEN_FDS = _family("process_open_fds", GAUGE, "Number of open file descriptors.")
MAX_FDS = _family("process_max_fds", GAUGE, "Maximum number of open file descriptors.")
VIRTUAL_MEMORY = _family("process_virtual_memory_bytes", GAUGE, "Virtual memory size in bytes.")
RESIDENT_MEMORY = _family("process_resident_memory_bytes", GAUGE,
                          "Resident memory size in bytes.")
START_TIME = _family("process_start_time_seconds", GAUGE,
                     "Start time of the process since unix epoch in seconds.")

FAMILIES = {f.name: f for f in (
    REQUESTS, DURATION, REQUEST_SIZE, DO_REQUESTS, RESPONSE_SIZE, RESPONSES, PANICS,
    PLUGIN_ENABLED, CACHE_ENTRIES, CACHE_REQUESTS, CACHE_HITS, CACHE_MISSES, PROXY_DURATION,
    RELOAD_FAILED, BUILD_INFO, ZONE_RECORDS, ZONE_SERVICES, ZONE_PODS, ZONE_ENDPOINTS,
    MANIFEST_PROBLEMS, ZONE_STALE, ZONE_LOADED, RELOADS, LAST_RELOAD, RELOAD_DURATION,
    STORED_REPLIES, STORED_HITS, LOG_DROPPED, CPU, OPEN_FDS, MAX_FDS, VIRTUAL_MEMORY,
    RESIDENT_MEMORY, START_TIME,
)}

# What a stored reply answered, as far as the metrics care: type label, DO bit, rcode
# label, and the request and response size buckets.
MixKey = tuple[str, bool, str, int, int]


def stored_key(data: bytes, reply: bytes) -> tuple[MixKey, int, int]:
    """The kind of a stored reply to `data`, and the two sizes.

    Only queries `wire.answer_key` accepts are stored: one question, then nothing or one
    bare OPT record, whose DO bit sits 11 octets past the end of the name.
    """
    end = data.find(0, 12) + 1
    qtype = (data[end] << 8) | data[end + 1]
    do = len(data) - end == 15 and bool(data[end + 11] & 0x80)
    return ((TYPE_LABELS.get(qtype, OTHER), do, rcode_name(reply[3] & 0xF),
             _bucket(SIZE_BUCKETS, len(data)), _bucket(SIZE_BUCKETS, len(reply))),
            len(data), len(reply))


def _bucket(bounds: Sequence[float], value: float) -> int:
    return bisect.bisect_left(bounds, value)


class StoredMix:
    """The kinds of stored replies clients ask for, by count and bytes, to share out the
    fast path's hits at scrape time (see the module docstring).

    `sampling` is True during a sampling window; stored replies counted in full then are
    what `shares` prefers, and before any window the kinds of stored replies as they were
    made stand in.
    """

    __slots__ = ("_seconds", "_since", "_window", "_written", "sampled", "sampling")

    def __init__(self) -> None:
        self.sampling = False
        self.sampled = 0  # samples in the current window
        self._window: dict[MixKey, list[int]] = {}  # sampled since the last `shares`
        self._since: dict[MixKey, list[int]] = {}  # sampled since start
        self._written: dict[MixKey, list[int]] = {}  # stored replies as they were made
        self._seconds = [0.0, 0]  # time spent on stored replies counted in full, and how many

    def written(self, data: bytes, reply: bytes) -> None:
        """A reply to `data` was just stored for UDP."""
        _tally(self._written, *stored_key(data, reply))

    def hit(self, key: MixKey, asked: int, sent: int, seconds: float, sample: bool) -> None:
        """A stored reply went out the counted way; a UDP one (`sample`) in a sampling
        window is a sample of what the fast path sends."""
        self._seconds[0] += seconds
        self._seconds[1] += 1
        if sample and self.sampling:
            self.sampled += 1
            _tally(self._window, key, asked, sent)
            _tally(self._since, key, asked, sent)

    def shares(self) -> tuple[dict[MixKey, list[int]], float]:
        """What to share the next hits by (count, request bytes, response bytes per kind),
        and the seconds a stored reply takes; starts a new window."""
        weights = self._window or self._since or self._written
        self._window = {}
        seconds, count = self._seconds
        return weights, seconds / count if count else 0.0


def _tally(table: dict[MixKey, list[int]], key: MixKey, asked: int, sent: int) -> None:
    entry = table.get(key)
    if entry is None:
        table[key] = [1, asked, sent]
    else:
        entry[0] += 1
        entry[1] += asked
        entry[2] += sent


def apportion(total: int, weights: Mapping[MixKey, int]) -> dict[MixKey, int]:
    """`total` split in proportion to `weights`, in whole numbers that add up to it exactly
    (largest remainder); nothing when there is nothing to split by."""
    whole = sum(weights.values())
    if not whole or not total:
        return {}
    shares = {key: total * weight // whole for key, weight in weights.items()}
    left = total - sum(shares.values())
    for key in sorted(weights, key=lambda k: total * weights[k] % whole, reverse=True)[:left]:
        shares[key] += 1
    return shares


class HitCounter(Protocol):
    """An answering thread's count of the stored replies it sent."""

    @property
    def hits(self) -> int: ...


class Listener:
    """What one listen address (UDP and TCP) answered, kept for the scrape.

    `udp_hits` is the one counter the UDP fast path bumps in Python: a plain integer.
    The answering threads in C (`serve.native.Answerer`) count their own in `threads`;
    `stored_hits` adds both. The rest are dictionaries of plain numbers, filled by
    `record` for every other reply.
    """

    __slots__ = ("cache_hits", "cache_misses", "do_requests", "durations", "family",
                 "request_sizes", "requests", "response_sizes", "responses", "server",
                 "threads", "udp_hits", "udp_hits_shared")

    def __init__(self, host: str, port: int) -> None:
        self.server = "dns://" + (f"[{host}]:{port}" if ":" in host else f"{host}:{port}")
        self.family = "2" if ":" in host else "1"
        self.udp_hits = 0  # stored replies the UDP fast path sent
        self.udp_hits_shared = 0  # of those, how many are already in the tables below
        self.threads: list[HitCounter] = []  # answering threads, each with its own count
        self.requests: dict[tuple[str, str, str], int] = {}  # zone, proto, type
        self.do_requests: dict[str, int] = {}  # zone
        self.responses: dict[tuple[str, str, str], int] = {}  # zone, rcode, plugin
        self.durations: dict[str, Histogram] = {}  # zone
        self.request_sizes: dict[tuple[str, str], Histogram] = {}  # zone, proto
        self.response_sizes: dict[tuple[str, str], Histogram] = {}  # zone, proto
        self.cache_hits: dict[str, int] = {}  # success or denial
        self.cache_misses = 0

    def stored_hits(self) -> int:
        """Stored replies sent without a Python call per reply: by the Python loops and
        by the C threads."""
        return self.udp_hits + sum(thread.hits for thread in self.threads)

    def record(self, zone: str, tcp: bool, qtype: int | None, do: bool, rcode: int,
               plugin: str, seconds: float, request_size: int, response_size: int) -> None:
        """Count one reply in full; `qtype` None when the query could not be read."""
        proto = TCP if tcp else UDP
        kind = TYPE_LABELS.get(qtype, OTHER) if qtype is not None else OTHER
        self._count(zone, proto, kind, do, rcode_name(rcode), plugin, 1)
        _histogram(self.durations, zone, TIME_BUCKETS).observe(seconds)
        _histogram(self.request_sizes, (zone, proto), SIZE_BUCKETS).observe(request_size)
        _histogram(self.response_sizes, (zone, proto), SIZE_BUCKETS).observe(response_size)

    def record_stored(self, tcp: bool, key: MixKey, asked: int, sent: int,
                      seconds: float) -> None:
        """Count one stored reply sent the counted way (TCP, another spelling, a sample)."""
        kind, do, rcode, _, _ = key
        proto = TCP if tcp else UDP
        self._count(ZONE, proto, kind, do, rcode, KUBERNETES, 1)
        _histogram(self.durations, ZONE, TIME_BUCKETS).observe(seconds)
        _histogram(self.request_sizes, (ZONE, proto), SIZE_BUCKETS).observe(asked)
        _histogram(self.response_sizes, (ZONE, proto), SIZE_BUCKETS).observe(sent)

    def cache_lookup(self, hit: bool, denial: bool) -> None:
        """A forwarded question was looked up in the answer cache."""
        if not hit:
            self.cache_misses += 1
            return
        kind = "denial" if denial else "success"
        self.cache_hits[kind] = self.cache_hits.get(kind, 0) + 1

    def share_hits(self, weights: Mapping[MixKey, list[int]], seconds: float) -> None:
        """Count the fast path's hits since the last call, split by `weights`."""
        total = self.stored_hits() - self.udp_hits_shared
        shares = apportion(total, {key: entry[0] for key, entry in weights.items()})
        self.udp_hits_shared += sum(shares.values())
        for (kind, do, rcode, _, _), count in shares.items():
            self._count(ZONE, UDP, kind, do, rcode, KUBERNETES, count)
        for key, count in shares.items():
            seen, asked, sent = weights[key]
            _add(self.durations, ZONE, TIME_BUCKETS, count, seconds)
            _add(self.request_sizes, (ZONE, UDP), SIZE_BUCKETS, count, asked / seen)
            _add(self.response_sizes, (ZONE, UDP), SIZE_BUCKETS, count, sent / seen)

    def _count(self, zone: str, proto: str, kind: str, do: bool, rcode: str, plugin: str,
               count: int) -> None:
        requests = self.requests
        key = (zone, proto, kind)
        requests[key] = requests.get(key, 0) + count
        if do:
            self.do_requests[zone] = self.do_requests.get(zone, 0) + count
        responses = self.responses
        outcome = (zone, rcode, plugin)
        responses[outcome] = responses.get(outcome, 0) + count


def _histogram(table: dict, key: object, bounds: tuple[float, ...]) -> Histogram:
    histogram = table.get(key)
    if histogram is None:
        histogram = table[key] = Histogram(bounds)
    return histogram  # type: ignore[no-any-return]


def _add(table: dict, key: object, bounds: tuple[float, ...], count: int, each: float) -> None:
    """`count` observations of about `each` in one step."""
    histogram = _histogram(table, key, bounds)
    histogram.counts[_bucket(bounds, each)] += count
    histogram.sum += count * each


class Sampled(Protocol):
    def sample(self, on: bool) -> None: ...


async def sample_stored(table: Callable[[], Sampled], mix: StoredMix) -> None:
    """Open a sampling window now and `SAMPLE_EVERY` seconds after each, until cancelled.

    A window lasts `SAMPLE_FOR` seconds and until it holds `SAMPLE_MIN` samples, so a
    busy server steps off its fast path 1% of the time, and a quiet one, where the fast
    path saves nothing worth having, stays counted in full until its traffic picks up.
    `table` gives the current stored-reply table: a reload replaces it, and the window
    then covers the new one.
    """
    while True:
        current = table()
        mix.sampled = 0
        mix.sampling = True
        current.sample(True)
        try:
            await asyncio.sleep(SAMPLE_FOR)
            while mix.sampled < SAMPLE_MIN:
                await asyncio.sleep(SAMPLE_WAIT)
                if table() is not current:
                    current = table()
                    current.sample(True)
        finally:
            current.sample(False)
            mix.sampling = False
        await asyncio.sleep(SAMPLE_EVERY)


def answered(listeners: Iterable[Listener], mix: StoredMix, panics: int) -> Samples:
    """The coredns_dns_* families and panics, the fast path's hits shared out first."""
    weights, seconds = mix.shares()
    samples: Samples = {f: {} for f in (REQUESTS, DURATION, REQUEST_SIZE, DO_REQUESTS,
                                         RESPONSE_SIZE, RESPONSES, STORED_HITS, CACHE_REQUESTS,
                                         CACHE_HITS, CACHE_MISSES)}
    samples[PANICS] = {(): panics}
    for listener in listeners:
        listener.share_hits(weights, seconds)
        server = listener.server
        for (zone, proto, kind), count in listener.requests.items():
            samples[REQUESTS][(server, zone, VIEW, proto, listener.family, kind)] = count
        for zone, count in listener.do_requests.items():
            samples[DO_REQUESTS][(server, zone, VIEW)] = count
        for (zone, rcode, plugin), count in listener.responses.items():
            samples[RESPONSES][(server, zone, VIEW, rcode, plugin)] = count
        for zone, histogram in listener.durations.items():
            samples[DURATION][(server, zone, VIEW)] = histogram
        for (zone, proto), histogram in listener.request_sizes.items():
            samples[REQUEST_SIZE][(server, zone, VIEW, proto)] = histogram
        for (zone, proto), histogram in listener.response_sizes.items():
            samples[RESPONSE_SIZE][(server, zone, VIEW, proto)] = histogram
        samples[STORED_HITS][(server,)] = listener.stored_hits()
        hits = sum(listener.cache_hits.values())
        if hits or listener.cache_misses:
            samples[CACHE_REQUESTS][(server, ZONE, VIEW)] = hits + listener.cache_misses
            samples[CACHE_MISSES][(server, ZONE, VIEW)] = listener.cache_misses
            for kind, count in listener.cache_hits.items():
                samples[CACHE_HITS][(server, kind, ZONE, VIEW)] = count
    return samples


def forwarding(server: str, entries: Mapping[str, int],
               timings: Mapping[tuple[str, str], Histogram]) -> Samples:
    """The answer cache's size (under the first listener's `server`) and the upstreams'
    answer times."""
    return {
        CACHE_ENTRIES: {(server, kind, ZONE, VIEW): count for kind, count in entries.items()},
        PROXY_DURATION: {("forward", to, rcode): histogram
                         for (to, rcode), histogram in timings.items()},
    }


def autopath(server: str, successes: int) -> Samples:
    """Answers autopath found further down a pod's search path (under the first
    listener's `server`, as one process keeps one count)."""
    return {AUTOPATH: {(server,): successes}}


def stored(tables: Mapping[str, int], log_dropped: int) -> Samples:
    """Stored-reply table sizes by protocol, and query log lines dropped."""
    return {STORED_REPLIES: {(proto,): size for proto, size in tables.items()},
            LOG_DROPPED: {(): log_dropped}}


class Freshness(Protocol):
    """How fresh the served zone is (serve.reload.ReloadState)."""

    loaded_at: float
    stale: bool
    problems: int
    reloads: int
    failures: int
    last_attempt_at: float
    last_duration: float


def served_zone(stats: Mapping[str, int], reload: Freshness, servers: Iterable[str],
                plugins: Iterable[str]) -> Samples:
    """What the first process alone says: the zone, its freshness, reloads, the build, and
    which plugins each server has (every worker serves the same files the same way)."""
    names = tuple(plugins)
    return {
        BUILD_INFO: {(__version__, platform.python_version()): 1},
        PLUGIN_ENABLED: {(server, ZONE, VIEW, name): 1 for server in servers for name in names},
        ZONE_RECORDS: {(): stats.get("records", 0)},
        ZONE_SERVICES: {(): stats.get("services", 0)},
        ZONE_PODS: {(): stats.get("pods", 0)},
        ZONE_ENDPOINTS: {(): stats.get("endpoints", 0)},
        MANIFEST_PROBLEMS: {(): reload.problems},
        ZONE_STALE: {(): int(reload.stale)},
        ZONE_LOADED: {(): reload.loaded_at},
        RELOADS: {(): reload.reloads},
        RELOAD_FAILED: {(): reload.failures},
        LAST_RELOAD: {(): reload.last_attempt_at},
        RELOAD_DURATION: {(): reload.last_duration},
    }


def process(first: bool) -> Samples:
    """This process's CPU, memory and descriptors, read from /proc (Linux); its start time
    and descriptor limit only for the `first` process, since those do not add up."""
    try:
        with open("/proc/self/stat") as file:
            fields = file.read().rpartition(")")[2].split()
        with open("/proc/stat") as file:
            boot = next(float(line.split()[1]) for line in file if line.startswith("btime "))
        fds = len(os.listdir("/proc/self/fd"))
    except (OSError, StopIteration):
        return {}
    ticks = os.sysconf("SC_CLK_TCK")
    samples: dict[Family, dict[tuple[str, ...], Value]] = {
        CPU: {(): (int(fields[11]) + int(fields[12])) / ticks},
        VIRTUAL_MEMORY: {(): int(fields[20])},
        RESIDENT_MEMORY: {(): int(fields[21]) * os.sysconf("SC_PAGE_SIZE")},
        OPEN_FDS: {(): fds},
    }
    if first:
        samples[MAX_FDS] = {(): resource.getrlimit(resource.RLIMIT_NOFILE)[0]}
        samples[START_TIME] = {(): boot + int(fields[19]) / ticks}
    return samples
