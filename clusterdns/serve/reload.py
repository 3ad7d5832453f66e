"""Live reload: edited manifests reach the answers within a second, and nothing breaks.

watchdog reports file events on its own thread; they are handed to the event loop and
debounced, so an editor's burst of writes is one reload. The new zone is built in an
executor thread, so no query waits for YAML; one build runs at a time, and events that
arrive during a build cause exactly one more after it. The zone goes live through the
`swap` callable (`Responder.swap`) in one step, so every query sees the old zone or the
new one. A broken or half-written file leaves the last good zone serving; every problem
is logged with its file, document and field, and the next good state of the files is
picked up as soon as it appears.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import itertools
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, TypeVar

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver, ObservedWatch

from .. import snapshot
from ..freeing import STEP, empty
from ..shards import Shards, Table, empty_table, table_for
from ..source import folders, state
from ..source.manifests import FileCache, ManifestError
from ..source.model import Cluster, Pod, Service
from ..source.problems import ManifestWarning
from ..source.state import State
from ..zone.build import Zone
from .config import Config

log = logging.getLogger(__name__)
T = TypeVar("T")

SWITCH_INTERVAL = 0.0005  # seconds a thread may keep the interpreter lock from another
QUIET_SECONDS = 0.1  # an editor's save, a ConfigMap swap: bursts a few milliseconds long
MAX_DELAY_SECONDS = 0.5  # a folder that never goes quiet still reloads twice a second
# Opening and reading a file is an event too (inotify IN_OPEN, IN_CLOSE_NOWRITE): reacting
# to those would make every reload trigger the next one.
CHANGE_EVENTS = frozenset({"created", "deleted", "modified", "moved", "closed"})
# Events that can replace a watched folder itself (deleted and made again, renamed over).
REPLACE_EVENTS = frozenset({"created", "deleted", "moved"})


@dataclass(frozen=True)
class Counts:
    """How many objects of one kind appeared, disappeared or changed in a reload."""

    added: int = 0
    removed: int = 0
    changed: int = 0

    def text(self, noun: str) -> str:
        return f"{noun} +{self.added} -{self.removed} ~{self.changed}"


@dataclass(frozen=True)
class ClusterChanges:
    """What a reload changed, object by object, for the one log line each reload writes."""

    services: Counts = Counts()
    pods: Counts = Counts()
    endpoints: Counts = Counts()

    def text(self) -> str:
        return ", ".join((self.services.text("services"), self.pods.text("pods"),
                          self.endpoints.text("endpoints")))


def compare(old: Cluster, new: Cluster) -> ClusterChanges:
    """Count the services, pods and endpoints that were added, removed or changed.

    Endpoints count per service they belong to, whether they came from an Endpoints
    object or from EndpointSlices, because that is the unit a reader of the log thinks in.
    """
    return ClusterChanges(
        services=_counts(_by_key(old.services), _by_key(new.services)),
        pods=_counts(_by_key(old.pods), _by_key(new.pods)),
        endpoints=_counts(_endpoints_by_service(old), _endpoints_by_service(new)),
    )


def _by_key(items: Sequence[Service] | Sequence[Pod]) -> Table[Hashable, object]:
    return table_for(len(items), ((item.key, item) for item in items))


def _counts(old: Table[Hashable, object], new: Table[Hashable, object]) -> Counts:
    """The counts between two mappings made for them, which are emptied after.

    Their keys are pairs made for them, one per object: freed with the mappings, 50,000
    of them held the interpreter lock for ~14 ms; one item at a time, it changes hands.
    """
    counts = Counts(
        added=sum(1 for key in new if key not in old),
        removed=sum(1 for key in old if key not in new),
        changed=sum(1 for key, value in new.items() if key in old and old[key] != value),
    )
    empty_table(old)
    empty_table(new)
    return counts


def _endpoints_by_service(cluster: Cluster) -> Table[tuple[str, str], list[object]]:
    grouped: Table[tuple[str, str], list[object]] = table_for(len(cluster.endpoints))
    for endpoint_set in cluster.endpoints:
        grouped.setdefault((endpoint_set.namespace, endpoint_set.service), []).append(endpoint_set)
    return grouped


@dataclass
class ReloadState:
    """How fresh the served zone is: kept on one object so a metrics endpoint can read it."""

    loaded_at: float  # wall-clock time the zone being served was loaded
    stale: bool = False  # the files have problems; an older zone is being served
    problems: int = 0  # ManifestErrors of the last attempt
    reloads: int = 0  # zones swapped in since start
    failures: int = 0  # attempts that kept the old zone
    last_attempt_at: float = 0.0
    last_duration: float = 0.0  # seconds, load and build of the last attempt

    def loaded_at_text(self) -> str:
        return datetime.fromtimestamp(self.loaded_at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class WatchedPaths:
    """The `--manifests` arguments split into folders (watched recursively) and files."""

    folders: tuple[str, ...]
    files: tuple[str, ...]

    @classmethod
    def of(cls, paths: tuple[str, ...]) -> WatchedPaths:
        # Standard input (`-`) is read once and never watched.
        absolute = [os.path.abspath(p) for p in paths if p != folders.STDIN]
        return cls(tuple(p for p in absolute if os.path.isdir(p)),
                   tuple(p for p in absolute if not os.path.isdir(p)))

    def roots(self) -> list[tuple[str, bool]]:
        """(folder, recursive) pairs to watch: each folder, and the parent of each path.

        A watch follows an inode, so it would stop at the first atomic rename of a file
        (vim, `sed -i`) or of a whole folder: files are watched through their parent, and
        folders from their parent too, so a replaced folder can be watched again.
        """
        roots = dict.fromkeys((folder, True) for folder in self.folders)
        roots.update(dict.fromkeys(
            (os.path.dirname(path), False) for path in (*self.folders, *self.files)))
        return list(roots)

    def relevant(self, path: str, is_directory: bool) -> bool:
        """Whether a change at `path` can change what the manifests say.

        Manifest files, folders and a ConfigMap volume's `..data` machinery count; other
        hidden entries (`.git`, an editor's `.svc.yaml.swp`) and other files do not.
        """
        if path in self.files:
            return True
        if os.path.basename(path).startswith("..") and any(
            os.path.dirname(path) == os.path.dirname(file) for file in self.files
        ):
            return True
        for folder in self.folders:
            if path != folder and not path.startswith(folder + os.sep):
                continue
            parts = os.path.relpath(path, folder).split(os.sep)
            if any(p.startswith("..") and p != ".." for p in parts):
                return True
            if any(p.startswith(".") and p != "." for p in parts):
                return False
            return is_directory or path.lower().endswith(folders.SUFFIXES)
        return False


async def quiet_period(wake: asyncio.Event, quiet: float, limit: float) -> None:
    """Return once `wake` has stayed unset for `quiet` seconds, or after `limit` in all.

    The caller reads the files after this returns, so a change announced by a `wake` that
    is cleared here is still seen; only the announcement is consumed.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while True:
        wake.clear()
        remaining = deadline - loop.time()
        if remaining <= 0:
            return
        try:
            await asyncio.wait_for(wake.wait(), min(quiet, remaining))
        except TimeoutError:
            return


@dataclass(frozen=True)
class _Attempt:
    """What one load-and-build in the executor produced."""

    cluster: Cluster | None  # None when the files have problems
    zone: Zone | None  # None when there was nothing new to build
    errors: list[ManifestError]
    warnings: list[ManifestWarning]
    state: State
    seconds: float


def _serial(zone: Zone) -> int:
    return int(zone.soa.data[2])  # type: ignore[index]


def _retire(retired: list[Cluster | Zone | None], new: Cluster) -> ClusterChanges:
    """What changed since the retired cluster; the retired cluster and zone die here, a
    piece at a time (`_let_go`)."""
    # The comparison's mappings hold a key pair per object; with the collector on they
    # reach its oldest generation, and each full pass over them (three during a reload
    # of 50,000 services) held the lock for up to 47 ms. Nothing here makes a cycle.
    with collector_paused(freeze=False):
        old = retired[0]
        changes = compare(old if isinstance(old, Cluster) else Cluster(), new)
        del old  # `_let_go` must hold the only names, or it frees less in steps
        _let_go(retired)
    return changes


def _let_go(retired: list[Cluster | Zone | None]) -> None:
    """Free a cluster and the zone built from it (either may be None) piece by piece.

    Freed at once, a zone of 100,000 endpoints is one cascade of deallocations in C,
    some 30 ms with the interpreter lock held while the server waits; a cluster of
    150,000 services read again for nothing, 115 ms. The pieces are held here, the zone
    and cluster let go, then the pieces freed a few thousand at a time. The big maps
    (names, where each object came from) are emptied a key at a time too, when nothing
    else holds their zone or cluster (a transfer may still be reading it: then it is left
    whole, and freed by its last holder).
    """
    cluster, zone = retired
    retired.clear()
    pieces = _pieces(cluster, zone)
    maps = _own_maps(cluster, zone)
    del cluster, zone
    for mapping in maps:  # 500,000 names let go at once held the lock for ~40 ms
        empty_table(mapping)
    while pieces:
        empty(pieces.pop())


def _own_maps(cluster: Cluster | Zone | None, zone: Cluster | Zone | None,
              ) -> list[dict[Any, Any] | Shards[Any, Any]]:
    """The retired zone's and clusters' big dicts (names, services, where each object
    came from), biggest first; none when something besides `_let_go` holds them.

    Counted references are the test of ownership: emptying a dict that a transfer still
    reads would change its answers, and a count that is off only keeps a dict whole."""
    maps: list[object] = []
    built_from = None
    if zone is not None:
        # `_let_go`'s name, this function's and getrefcount's argument: nobody else's.
        if not isinstance(zone, Zone) or sys.getrefcount(zone) != 3:
            return []
        maps += [zone.nodes, zone.additional, zone.parts]
        built_from = zone.cluster
        # The cluster it was built from, when not `cluster`: the field, this name and
        # the argument.
        if built_from is not cluster and sys.getrefcount(built_from) == 3:
            maps.append(built_from.origins)
    # `cluster`: `_let_go`'s name, this function's, the argument, and the zone's field
    # and the name above when it is the cluster the zone was built from.
    if isinstance(cluster, Cluster) and (
            sys.getrefcount(cluster) == 3 + 2 * (built_from is cluster)):
        maps.append(cluster.origins)
    unique = {id(m): m for m in maps if isinstance(m, dict | Shards)}
    return sorted(unique.values(), key=len, reverse=True)


def _pieces(cluster: Cluster | Zone | None, zone: Cluster | Zone | None) -> list[list[object]]:
    """The objects of a retired cluster and zone in lists of `STEP`, each container after
    what it holds.

    Freed from the end, a container then only lets go of things still held further up,
    so no step cascades; many short lists, not one of millions, so that holding them
    never means copying or first touching one huge array. Its own function, so that no
    loop variable outlives the lists holding on to a container (the last service's
    endpoints would be freed in one go when `_retire` returns).
    """
    pieces: list[list[object]] = []
    if isinstance(zone, Zone):
        for records in itertools.chain(zone.nodes.values(), zone.additional.values()):
            _gather(pieces, records)
        for part in zone.parts.values():
            _gather(pieces, part.endpoints)
        for containers in (zone.parts.values(), zone.nodes.values(), zone.additional.values()):
            _gather(pieces, containers)
    # The cluster the zone was built from is the reload's own; should it ever be another
    # object, its contents are gathered too.
    built_from = zone.cluster if isinstance(zone, Zone) else None
    clusters = [cluster] if built_from is cluster else [cluster, built_from]
    for each in (c for c in clusters if isinstance(c, Cluster)):
        for endpoint_set in each.endpoints:
            _gather(pieces, endpoint_set.addresses)
        for objects in (each.services, each.pods, each.endpoints):
            _gather(pieces, objects)
    return pieces


def _gather(pieces: list[list[object]], items: Iterable[object]) -> None:
    """Add `items` to `pieces` in lists of `STEP`: taking a reference to each of the
    100,000 records of one name, or a zone's 300,000 nodes, in one operation in C (a
    cache miss each) holds the interpreter lock for tens of ms."""
    iterator = iter(items)
    while True:
        if not pieces or len(pieces[-1]) >= STEP:
            pieces.append([])
        chunk = list(itertools.islice(iterator, STEP - len(pieces[-1])))
        if not chunk:
            return
        pieces[-1] += chunk


def in_daemon_thread(func: Callable[..., T], *args: object) -> asyncio.Future[T]:
    """`func(*args)` in a thread of its own, as a future of the running loop.

    Not the loop's default executor: `asyncio.run` waits for that one's threads at exit,
    so a read stuck in the kernel (a hung network mount) would keep the process from
    stopping. A daemon thread is left behind instead, and a cancelled wait abandons it.
    """
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def settle(outcome: T | None, error: BaseException | None) -> None:
        if future.cancelled():
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(outcome)  # type: ignore[arg-type]

    def run() -> None:
        try:
            outcome, error = func(*args), None
        except BaseException as exc:  # handed to the awaiting task
            outcome, error = None, exc
        with contextlib.suppress(RuntimeError):  # the loop is already closed
            loop.call_soon_threadsafe(settle, outcome, error)

    threading.Thread(target=run, name=f"clusterdns-{func.__name__}", daemon=True).start()
    return future


@contextlib.contextmanager
def collector_paused(freeze: bool = True) -> Iterator[None]:
    """Build a zone with the cyclic garbage collector off, and keep it off that zone after.

    A 10,000-service zone is a million small objects without cycles. With the collector
    on, its passes over them cost twice the build itself; switched back on after the
    build, its next pass would scan them all at once, a third of a second during which
    no query is answered. So the young garbage is collected first (the oldest generation
    is left to the collector's own schedule: a pass over it held the interpreter lock for
    ~30 ms, an answer's worth of waiting) and what the build made is frozen (`gc.freeze`:
    never scanned, still freed by reference counting when the next zone replaces it).
    Work that makes only short-lived objects pauses it without `freeze`.
    """
    gc.collect(0)
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if freeze:
            gc.freeze()
        if was_enabled:
            gc.enable()


class Reloader:
    """Keeps the served zone in step with the manifest files."""

    def __init__(self, config: Config, zone: Zone, swap: Callable[[Zone], None],
                 cluster: Cluster | None = None, cache: FileCache | None = None,
                 known: State | None = None,
                 warnings: Iterable[ManifestWarning] = ()) -> None:
        """`cluster`, `cache`, `known` and `warnings` are what `zone` was built from, the
        state it was numbered with and what was said about it; without them the first
        reload re-reads every file and swaps unconditionally."""
        self.config = config
        self.zone = zone
        self.swap = swap
        self.cluster = cluster
        self.cache = cache if cache is not None else FileCache()
        self.known = known if known is not None else State(serial=_serial(zone))
        self.warned = {str(w) for w in warnings}
        self.state = ReloadState(loaded_at=time.time())
        self.paths = WatchedPaths.of(config.manifests)
        self._wake = asyncio.Event()
        self._force = False
        self._loop = asyncio.get_running_loop()
        self._task: asyncio.Task[None] | None = None
        self._observer: BaseObserver | None = None
        self._handler = _ChangeHandler(self.paths, self.request_threadsafe,
                                       self._rewatch_threadsafe)
        self._watches: dict[str, ObservedWatch] = {}

    def start(self) -> None:
        """Reload on SIGHUP, and on every file change unless watching is off."""
        # A build thread and the event loop share one interpreter lock; by default a
        # thread that wants it waits up to 5 ms, so every answer during a big reload
        # would wait that long. 0.5 ms costs the build a few percent.
        sys.setswitchinterval(SWITCH_INTERVAL)
        self._task = self._loop.create_task(self.run())
        self._loop.add_signal_handler(signal.SIGHUP, self.request, True)
        if self.config.watch:
            self._observer = self.watch()

    async def stop(self) -> None:
        """Stop watching and reloading; a build under way finishes in its thread."""
        self._loop.remove_signal_handler(signal.SIGHUP)
        if self._observer is not None:
            self._observer.stop()
            await self._loop.run_in_executor(None, self._observer.join, 2.0)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def request(self, force: bool = False) -> None:
        """Ask for a reload (from the event loop); `force` re-reads every file (SIGHUP)."""
        self._force = self._force or force
        self._wake.set()

    def request_threadsafe(self) -> None:
        """Ask for a reload from another thread (watchdog's)."""
        self._loop.call_soon_threadsafe(self.request)

    async def run(self) -> None:
        """Reload whenever asked, one build at a time, until cancelled."""
        while True:
            await self._wake.wait()
            await quiet_period(self._wake, QUIET_SECONDS, MAX_DELAY_SECONDS)
            force, self._force = self._force, False
            try:
                await self.reload(force)
            except Exception:  # a bug in one reload must not end reloading
                self.state.stale = True
                self.state.failures += 1
                log.exception("reload failed; still serving the zone loaded at %s",
                              self.state.loaded_at_text())

    async def reload(self, force: bool = False) -> None:
        """Load the files, build a zone in an executor thread, and swap it in if it changed."""
        attempt = await in_daemon_thread(self._attempt, force)
        state = self.state
        state.last_attempt_at = time.time()
        state.last_duration = attempt.seconds
        state.problems = len(attempt.errors)
        await self._apply(attempt)
        self._log_new_warnings(attempt.warnings)

    async def _apply(self, attempt: _Attempt) -> None:
        """Swap the attempt's zone in, or say why the last good one stays."""
        state = self.state
        if attempt.cluster is None:
            state.stale = True
            state.failures += 1
            for error in attempt.errors:
                log.error("manifest error: %s", error)
            log.warning("zone stale: %d problem(s); serving the zone loaded at %s",
                        len(attempt.errors), state.loaded_at_text())
            return
        was_stale, state.stale = state.stale, False
        recovered = " (was stale)" if was_stale else ""
        self.known = attempt.state  # `_number` wrote it down
        if attempt.zone is None:
            log.info("reload: no change; %d records; %.1f ms%s",
                     self.zone.stats["records"], attempt.seconds * 1000, recovered)
            return
        self.swap(attempt.zone)
        retired = [self.cluster, self.zone]
        self.cluster, self.zone = attempt.cluster, attempt.zone
        state.loaded_at = state.last_attempt_at
        state.reloads += 1
        # Counting the changes and freeing the old zone (a million objects for 10,000
        # services) happen after the swap and off the loop, so neither delays an answer.
        changes = await in_daemon_thread(_retire, retired, attempt.cluster)
        log.info("reload: %s; %d records; %.1f ms%s", changes.text(),
                 attempt.zone.stats["records"], attempt.seconds * 1000, recovered)

    def _attempt(self, force: bool) -> _Attempt:
        # Runs in the executor; the reload task awaits it, so only one runs at a time and
        # the cache is never shared between threads.
        started = time.perf_counter()
        if force:
            # Standard input cannot be read twice: keep what was read.
            self.cache = FileCache(stdin=self.cache.stdin)
        number = snapshot.numbered if self.config.state_file is None else self._number
        with collector_paused():
            taken = snapshot.take(self.config.manifests, self.config.source, self.config.zone,
                                  self.known, self.cache, self.zone, self.cluster, number)
        seconds = time.perf_counter() - started
        if taken.ok and taken.zone is not None:
            return _Attempt(taken.loaded.cluster, taken.zone, [], taken.warnings,
                            taken.state, seconds)
        # Nothing read is served: the files have problems, or they hold what is served
        # already (then `self.cluster` stands for what was read, being equal to it).
        # What was read dies here, off the loop and a piece at a time, not in one
        # cascade wherever the last reference happens to go.
        attempt = _Attempt(None if not taken.ok else self.cluster, None,
                           taken.loaded.errors, taken.warnings, taken.state, seconds)
        unused: list[Cluster | Zone | None] = [taken.loaded.cluster, None]
        del taken
        with collector_paused(freeze=False):
            _let_go(unused)
        return attempt

    def _number(self, known: State, digest: str, newest_change: int) -> State:
        """Number new content through the state file, which every worker shares.

        Under its lock: the serial to count from is the later of this process's and the
        file's (another worker may have numbered a version this one never saw), and the
        result is written at once. So a serial names one content in every worker, and the
        workers that reload to the same files give them the same serial.
        """
        path = self.config.state_file
        assert path is not None
        with state.locked(path):
            written, _ = state.read(path)  # a broken file is rewritten just below
            basis = written if written.serial > known.serial else known
            result = replace(snapshot.numbered(basis, digest, newest_change),
                             addresses=known.addresses)
            if result != written:
                problem = state.write(path, result)
                if problem:
                    log.warning("%s", problem)
        return result

    def _log_new_warnings(self, warnings: list[ManifestWarning]) -> None:
        """Log each warning once while it lasts, not at every reload."""
        texts = [str(w) for w in warnings]
        for text in texts:
            if text not in self.warned:
                log.warning("manifest warning: %s", text)
        self.warned = set(texts)

    def watch(self) -> BaseObserver:
        """Start a watchdog observer that requests a reload on every relevant change."""
        observer = Observer()
        for root, recursive in self.paths.roots():
            self._schedule(observer, root, recursive)
        observer.start()
        return observer

    def _schedule(self, observer: BaseObserver, root: str, recursive: bool) -> None:
        try:
            watch = observer.schedule(self._handler, root, recursive=recursive)
        except OSError as exc:  # no permission, or the inotify watch limit reached
            log.warning("cannot watch %s (%s); SIGHUP still reloads", root, exc)
            return
        log.debug("watching %s%s", root, " and below" if recursive else "")
        if recursive:
            self._watches[root] = watch

    def _rewatch_threadsafe(self, folder: str) -> None:
        self._loop.call_soon_threadsafe(self._rewatch, folder)

    def _rewatch(self, folder: str) -> None:
        """Drop the watch on what used to be `folder` and watch what is there now."""
        if self._observer is None:
            return
        old = self._watches.pop(folder, None)
        if old is not None:
            with contextlib.suppress(KeyError):  # its emitter may have gone with the folder
                self._observer.unschedule(old)
        if os.path.isdir(folder):
            self._schedule(self._observer, folder, True)


class _ChangeHandler(FileSystemEventHandler):
    """Filters watchdog's events down to changes of the manifests (on watchdog's thread)."""

    def __init__(self, paths: WatchedPaths, notify: Callable[[], None],
                 replaced: Callable[[str], None]) -> None:
        self.paths = paths
        self.notify = notify
        self.replaced = replaced

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type not in CHANGE_EVENTS:
            return
        paths = [os.fsdecode(p) for p in (event.src_path, event.dest_path) if p]
        if event.event_type in REPLACE_EVENTS:
            for path in paths:
                if path in self.paths.folders:
                    self.replaced(path)
        if any(self.paths.relevant(path, event.is_directory) for path in paths):
            self.notify()
