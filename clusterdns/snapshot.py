"""From the files to a zone: the one path that `serve`, a reload, `check` and `records` share.

Load the manifests (remembering the derived addresses of the state file), find the names
that will be empty, number the zone (the serial follows its content, so `check` and a
running server agree), and build it. Sharing this path is what makes `check` say exactly
what `serve` will serve.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path

from .source import state as states
from .source.manifests import FileCache, Loaded, LoadOptions, load
from .source.model import Cluster
from .source.problems import ManifestWarning
from .source.state import State
from .zone import build as zones
from .zone.build import Zone, service_endpoints
from .zone.diagnostics import empty_names
from .zone.records import fqdn
from .zone.settings import ZoneSettings


@dataclass(frozen=True)
class Snapshot:
    """One reading of the files and what came of it."""

    loaded: Loaded
    warnings: list[ManifestWarning]  # the files' and the empty names'
    zone: Zone | None  # None when the files have errors, or nothing changed
    state: State  # what the state file should now hold

    @property
    def ok(self) -> bool:
        return not self.loaded.errors


# How new content gets its serial: (state, content digest, newest file change) -> the
# state with that content's serial and digest.
Numbering = Callable[[State, str, int], State]


def numbered(state: State, digest: str, newest_change: int) -> State:
    """`state` numbered for the content `digest` by the serial rule of the state file."""
    return replace(state, serial=states.next_serial(state, digest, newest_change),
                   digest=digest)


def take(paths: Iterable[str | Path], options: LoadOptions, settings: ZoneSettings,
         state: State, cache: FileCache | None = None, previous: Zone | None = None,
         previous_cluster: Cluster | None = None, number: Numbering = numbered) -> Snapshot:
    """Read `paths` and build their zone.

    With `previous` and `previous_cluster` (what is being served), an unchanged cluster
    builds nothing (`zone` None) and a changed one builds only what changed. `number`
    gives the new content its serial: a running server shares the numbering with its
    other workers through the state file.
    """
    loaded = load(paths, options, cache, state.addresses)
    if loaded.errors:
        return Snapshot(loaded, loaded.warnings, None, state)
    cluster = loaded.cluster
    endpoints = service_endpoints(cluster)  # what the warnings and the build both need
    try:
        warnings = loaded.warnings + empty_names(cluster, fqdn(settings.domain),
                                                 loaded.origins, endpoints)
        kept = replace(state, addresses=loaded.addresses)
        if previous is not None and cluster == previous_cluster:
            return Snapshot(loaded, warnings, None, kept)
        digest = states.content_digest(cluster, settings)
        known = number(kept, digest, loaded.newest_change)
        built = zones.build(cluster, settings, serial=known.serial, previous=previous,
                            endpoints=endpoints)
        return Snapshot(loaded, warnings, built, known)
    finally:
        zones.release(endpoints)
