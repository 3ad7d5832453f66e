"""The state file: what must survive a restart so that answers do not move.

It holds the derived addresses handed out (so a collision settled once stays settled)
and the zone's SOA serial with a digest of the content it numbers (so the serial rises
when the zone changes and never falls). It is small JSON, rewritten atomically when it
changes; a missing or broken file is rebuilt from the manifests, never fatal.

By default it lives under `$XDG_STATE_HOME/clusterdns/` (`~/.local/state/clusterdns/`),
one file per set of `--manifests` paths, so two projects never share addresses.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import heapq
import ipaddress
import itertools
import json
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .addresses import AddressBook
from .model import Cluster, EndpointSet

VERSION = 1


@dataclass(frozen=True)
class State:
    """What the state file holds."""

    addresses: AddressBook = field(default_factory=AddressBook)
    serial: int = 0  # the SOA serial last served
    digest: str = ""  # of the zone content that serial numbers


def default_path(manifests: Iterable[str], environ: Mapping[str, str] = os.environ) -> Path:
    """Where the state of this set of manifest paths is kept unless `--state` says."""
    base = environ.get("XDG_STATE_HOME") or os.path.join(
        environ.get("HOME") or os.path.expanduser("~"), ".local", "state")
    roots = sorted(p if p == "-" else os.path.abspath(p) for p in manifests)
    digest = hashlib.sha256("\0".join(roots).encode()).hexdigest()[:12]
    first = os.path.basename(roots[0].rstrip(os.sep)) if roots else "stdin"
    label = "".join(c if c.isalnum() or c in "-_." else "_" for c in first)[:40] or "root"
    return Path(base, "clusterdns", f"{label}-{digest}.json")


def read(path: Path) -> tuple[State, str]:
    """The state in `path`, and a warning ("" if none); a fresh state when it is missing."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return State(), ""
    except OSError as exc:
        return State(), f"state file {path}: cannot read ({exc.strerror or exc}); starting afresh"
    try:
        return _decode(json.loads(text)), ""
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        return State(), f"state file {path} is broken ({exc}); rebuilding it"


def write(path: Path, state: State) -> str:
    """Write `state` to `path` atomically; a warning ("" if none) when it cannot be."""
    text = json.dumps(_encode(state), indent=1, sort_keys=True) + "\n"
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary.write_text(text, encoding="utf-8")
        os.replace(temporary, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            temporary.unlink()
        return (f"state file {path}: cannot write ({exc.strerror or exc}); derived addresses "
                "are kept in memory only (--state chooses another path)")
    return ""


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold the lock of the state file `path` (a `.lock` file beside it) for the block.

    Every `--workers` process numbers its own zones from the same state file; one at a
    time reads the last serial and writes the next, so no two versions share a serial
    and none overwrites a later one. Where no lock file can be made the state file cannot
    be written either, and the block runs unlocked.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = os.open(path.with_name(f".{path.name}.lock"), os.O_CREAT | os.O_RDWR, 0o600)
    except OSError:
        yield
        return
    try:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield
    finally:
        os.close(handle)


def next_serial(state: State, digest: str, newest_change: int) -> int:
    """The SOA serial for zone content `digest`.

    Unchanged content keeps its serial, so `check`, a restart and every `--workers`
    process agree. Changed content gets the time of the newest manifest change, or one
    more than the last serial if that is not later: the serial rises with every change
    and never falls, whatever happened to the files' times.
    """
    if digest == state.digest and state.serial:
        return state.serial
    return max(state.serial + 1, newest_change) & 0xFFFFFFFF


_DIGEST_STEP = 1000  # parts joined and hashed at once


def content_digest(cluster: Cluster, settings: object) -> str:
    """A digest of everything a zone is built from, independent of file order."""
    objects = itertools.chain(cluster.services, cluster.pods, cluster.endpoints,
                              cluster.hostnames)
    # The objects' texts sorted a thousand at a time and merged: one sort of 100,000
    # held the interpreter lock for 8-12 ms while a reload thread kept the server from
    # answering. The order, and so the digest, is the same as one sort's.
    runs = []
    while run := sorted(repr(o) if not isinstance(o, EndpointSet)
                        or len(o.addresses) <= _DIGEST_STEP else _big_text(o)
                        for o in itertools.islice(objects, _DIGEST_STEP)):
        runs.append(run)
    parts = itertools.chain(heapq.merge(*runs), sorted(cluster.namespaces),
                            (cluster.external_zone, repr(settings)))
    # The parts joined by newlines, hashed a thousand at a time: one join and encode of
    # 50,000 services' text held the lock for ~0.2 s.
    digest = hashlib.blake2b(digest_size=16)
    first = True
    while batch := list(itertools.islice(parts, _DIGEST_STEP)):
        if not first:
            digest.update(b"\n")
        digest.update("\n".join(batch).encode())
        first = False
    del parts, batch
    while runs:  # a run at a time: 100,000 texts freed at once held the lock for 5 ms
        runs.pop()
    return digest.hexdigest()


def _big_text(endpoint_set: EndpointSet) -> str:
    """What the digest takes of an EndpointSet of very many addresses: its repr without
    them, and a digest of theirs taken a step at a time. Its repr would be one str made
    in one C call (5 MB for 100,000 addresses: 8 ms with the interpreter lock held)."""
    digest = hashlib.blake2b(digest_size=16)
    addresses = endpoint_set.addresses
    for start in range(0, len(addresses), _DIGEST_STEP):
        digest.update(repr(addresses[start:start + _DIGEST_STEP]).encode())
    return f"{replace(endpoint_set, addresses=())!r} addresses={digest.hexdigest()}"


def _encode(state: State) -> dict[str, Any]:
    return {
        "version": VERSION,
        "serial": state.serial,
        "digest": state.digest,
        "services": {f"{ns}/{name}": list(ips)
                     for (ns, name), ips in sorted(state.addresses.services.items())},
        "pods": {f"{ns}/{name}": list(ips)
                 for (ns, name), ips in sorted(state.addresses.pods.items())},
    }


def _decode(data: Any) -> State:
    if data.get("version") != VERSION:
        raise ValueError(f"version {data.get('version')!r}, expected {VERSION}")

    def table(key: str) -> dict[tuple[str, str], tuple[str, ...]]:
        out = {}
        for name, ips in data.get(key, {}).items():
            namespace, _, short = name.partition("/")
            if not short:
                raise ValueError(f"{key}: bad entry {name!r}")
            out[namespace, short] = tuple(str(ipaddress.ip_address(ip)) for ip in ips)
        return out

    serial = data.get("serial", 0)
    if not isinstance(serial, int):
        raise ValueError("serial is not a number")
    return State(AddressBook(table("services"), table("pods")), serial,
                 str(data.get("digest", "")))
