"""Reload logic without a server: the change summary, which events count, debouncing,
and what one reload does with good, broken and unchanged files (real files in tmp_path)."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

from clusterdns.serve.config import Config
from clusterdns.serve.reload import (
    QUIET_SECONDS,
    ClusterChanges,
    Counts,
    Reloader,
    WatchedPaths,
    _let_go,
    _retire,
    compare,
    quiet_period,
)
from clusterdns.source import manifests
from clusterdns.source.model import (
    Cluster,
    EndpointAddress,
    EndpointPort,
    EndpointSet,
    Pod,
    Service,
)
from clusterdns.zone import build as zone
from clusterdns.zone.records import A

SERVICE = ("apiVersion: v1\nkind: Service\nmetadata: {name: %s}\n"
           "spec: {clusterIP: %s, ports: [{port: 80}]}\n")


def endpoints(service: str, *ips: str) -> EndpointSet:
    return EndpointSet("default", service, tuple(EndpointAddress(ip) for ip in ips),
                       (EndpointPort("", 80),))


def test_compare_counts_added_removed_and_changed_per_kind() -> None:
    old = Cluster(
        services=(Service("default", "a", cluster_ips=("10.96.0.1",)),
                  Service("default", "b", cluster_ips=("10.96.0.2",)),
                  Service("shop", "a", cluster_ips=("10.96.0.3",))),
        pods=(Pod("default", "p", ips=("10.1.0.1",)),),
        endpoints=(endpoints("a", "10.1.0.1"), endpoints("b", "10.1.0.2")),
    )
    new = Cluster(
        services=(Service("default", "a", cluster_ips=("10.96.0.9",)),  # changed
                  Service("shop", "a", cluster_ips=("10.96.0.3",)),  # same
                  Service("default", "c", cluster_ips=("10.96.0.4",)),  # added; b removed
                  Service("default", "d", cluster_ips=("10.96.0.5",))),  # added
        pods=(Pod("default", "p", ips=("10.1.0.1",)),),
        # a's endpoints now come in two sets: one service whose endpoints changed
        endpoints=(endpoints("a", "10.1.0.1"), endpoints("a", "10.1.0.3"),
                   endpoints("b", "10.1.0.2")),
    )
    changes = compare(old, new)
    assert changes == ClusterChanges(services=Counts(2, 1, 1), pods=Counts(),
                                     endpoints=Counts(0, 0, 1))
    assert changes.text() == "services +2 -1 ~1, pods +0 -0 ~0, endpoints +0 -0 ~1"
    assert compare(old, old) == ClusterChanges()


def test_watched_paths_split_folders_and_files(tmp_path: Path) -> None:
    (tmp_path / "dir").mkdir()
    (tmp_path / "one.yaml").write_text("")
    paths = WatchedPaths.of((str(tmp_path / "dir"), str(tmp_path / "one.yaml")))
    assert paths.folders == (str(tmp_path / "dir"),)
    assert paths.files == (str(tmp_path / "one.yaml"),)
    # The single file is watched through its folder, so an atomic rename is seen.
    assert paths.roots() == [(str(tmp_path / "dir"), True), (str(tmp_path), False)]


def test_relevant_events_in_a_folder() -> None:
    paths = WatchedPaths(folders=("/m",), files=())
    assert paths.relevant("/m/svc.yaml", False)
    assert paths.relevant("/m/sub/deeper/svc.JSON", False)
    assert paths.relevant("/m/sub", True)  # a folder created, deleted or moved
    assert paths.relevant("/m", True)
    # A ConfigMap volume's machinery: the ..data symlink and the timestamped folder.
    assert paths.relevant("/m/..data", False)
    assert paths.relevant("/m/..data_tmp", False)
    assert paths.relevant("/m/..2026_11_26_03_00_00.123/svc.yaml", False)
    # Editors' and sed's side files, version control, and anything outside.
    assert not paths.relevant("/m/.svc.yaml.swp", False)
    assert not paths.relevant("/m/svc.yaml~", False)
    assert not paths.relevant("/m/sedX1b2c3", False)
    assert not paths.relevant("/m/4913", False)
    assert not paths.relevant("/m/.git/objects/ab", True)
    assert not paths.relevant("/m2/svc.yaml", False)
    assert not paths.relevant("/other/svc.yaml", False)


def test_relevant_events_for_a_single_file() -> None:
    paths = WatchedPaths(folders=(), files=("/etc/dns/svc.yaml",))
    assert paths.relevant("/etc/dns/svc.yaml", False)
    assert paths.relevant("/etc/dns/..data", False)  # a ConfigMap key mounted as a file
    assert not paths.relevant("/etc/dns/other.yaml", False)
    assert not paths.relevant("/etc/dns/sedX1b2c3", False)  # its rename *to* svc.yaml counts
    assert not paths.relevant("/etc/svc.yaml", False)


def test_quiet_period_waits_for_a_burst_to_end() -> None:
    async def scenario() -> tuple[float, float]:
        wake = asyncio.Event()
        loop = asyncio.get_running_loop()
        for delay in (0.0, 0.05, 0.1, 0.15):  # a burst of writes 50 ms apart
            loop.call_later(delay, wake.set)
        started = loop.time()
        await quiet_period(wake, quiet=0.1, limit=2.0)
        quiet = loop.time() - started
        for delay in range(20):  # never quiet: the limit ends the wait
            loop.call_later(delay * 0.03, wake.set)
        started = loop.time()
        await quiet_period(wake, quiet=0.1, limit=0.3)
        return quiet, loop.time() - started

    quiet, limited = asyncio.run(scenario())
    assert 0.25 <= quiet < 0.6  # the last event at 0.15 s plus 0.1 s of quiet
    assert 0.3 <= limited < 0.5


class Served:
    """The swap side of a reloader: the zones it was handed, in order."""

    def __init__(self) -> None:
        self.zones: list[zone.Zone] = []

    def swap(self, new: zone.Zone) -> None:
        self.zones.append(new)


def start(folder: Path) -> tuple[Config, Cluster, zone.Zone, manifests.FileCache]:
    config = Config(manifests=(str(folder),))
    cache = manifests.FileCache()
    loaded = manifests.load(config.manifests, config.source, cache)
    cluster, errors = loaded.cluster, loaded.errors
    assert errors == []
    return config, cluster, zone.build(cluster, config.zone, serial=1), cache


def test_a_retired_zone_is_emptied_only_where_nothing_else_holds_it(tmp_path: Path) -> None:
    """The retire step empties the old zone's name maps and its cluster's origins a name
    at a time, but only when it holds the last reference: a zone that a transfer (here,
    the test) still reads must keep every name."""
    (tmp_path / "a.yaml").write_text(SERVICE % ("a", "10.96.0.1") + "---\n"
                                     + SERVICE % ("b", "10.96.0.2"))
    _, cluster, held, _ = start(tmp_path)
    names = dict(held.nodes)
    _retire([cluster, held], cluster)
    assert held.nodes == names and held.cluster.origins  # still whole
    _, cluster, retired, _ = start(tmp_path)
    nodes, origins = retired.nodes, cluster.origins
    assert nodes and origins
    listed = [cluster, retired]
    del cluster, retired
    changes = _retire(listed, Cluster())
    assert nodes == {} and origins == {}  # emptied: nothing else could see them
    assert changes.services.removed == 2


def test_a_cluster_read_for_nothing_is_emptied_only_where_nothing_else_holds_it(
        tmp_path: Path) -> None:
    """A reload that finds the files unchanged, or broken, serves nothing it read: that
    cluster dies in steps too, its origins emptied a key at a time (150,000 services let
    go at once held the lock for 115 ms), unless something else still holds it."""
    (tmp_path / "a.yaml").write_text(SERVICE % ("a", "10.96.0.1") + "---\n"
                                     + SERVICE % ("b", "10.96.0.2"))
    _, cluster, _, _ = start(tmp_path)
    origins = dict(cluster.origins)
    _let_go([cluster, None])
    assert cluster.origins == origins and origins  # the test holds it: left whole
    origins = cluster.origins
    listed: list[Cluster | zone.Zone | None] = [cluster, None]
    del cluster
    _let_go(listed)
    assert origins == {} and listed == []


def test_reload_swaps_a_changed_zone_and_keeps_the_old_one_on_errors(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(SERVICE % ("a", "10.96.0.1"))
    config, cluster, first, cache = start(tmp_path)

    async def scenario() -> Reloader:
        served = Served()
        reloader = Reloader(config, first, served.swap, cluster, cache)
        await reloader.reload()  # nothing changed: nothing swapped
        assert served.zones == [] and reloader.cluster is cluster

        (tmp_path / "b.yaml").write_text(SERVICE % ("b", "10.96.0.2"))
        await reloader.reload()
        assert len(served.zones) == 1 and reloader.zone is served.zones[0]
        assert served.zones[0].lookup("b.default.svc.cluster.local.") is not None
        assert served.zones[0].soa.data[2] > 1  # a newer serial

        (tmp_path / "b.yaml").write_text(SERVICE % ("b", "10.96.0.300"))
        await reloader.reload()
        assert len(served.zones) == 1  # still the last good zone
        assert reloader.state.stale and reloader.state.problems == 1
        assert reloader.state.failures == 1

        (tmp_path / "b.yaml").write_text(SERVICE % ("b", "10.96.0.3"))
        await reloader.reload()
        assert len(served.zones) == 2 and not reloader.state.stale
        return reloader

    reloader = asyncio.run(scenario())
    assert reloader.state.reloads == 2 and reloader.state.problems == 0


def test_reload_logs_the_changes_and_every_problem(tmp_path: Path, caplog) -> None:
    (tmp_path / "a.yaml").write_text(SERVICE % ("a", "10.96.0.1"))
    config, cluster, first, cache = start(tmp_path)

    async def scenario() -> None:
        reloader = Reloader(config, first, Served().swap, cluster, cache)
        (tmp_path / "a.yaml").write_text(SERVICE % ("a", "10.96.0.2"))
        (tmp_path / "b.yaml").write_text(SERVICE % ("b", "10.96.0.3"))
        await reloader.reload()
        (tmp_path / "c.yaml").write_text(SERVICE % ("c", "10.96.0.300")
                                         + "---\napiVersion: v1\nkind: Pod\n")
        await reloader.reload()

    caplog.set_level("INFO", logger="clusterdns.serve.reload")
    asyncio.run(scenario())
    lines = [r.getMessage() for r in caplog.records]
    assert lines[0].startswith("reload: services +1 -0 ~1, pods +0 -0 ~0, endpoints +0 -0 ~0; ")
    assert lines[0].split("; ")[1].endswith(" records")
    assert lines[0].endswith(" ms")
    assert lines[1] == (f"manifest error: {tmp_path}/c.yaml: document 1: spec.clusterIP: "
                        "'10.96.0.300' is not an IP address")
    assert lines[2] == f"manifest error: {tmp_path}/c.yaml: document 2: metadata: required"
    assert lines[3].startswith("zone stale: 2 problem(s); serving the zone loaded at 20")


def test_requests_during_a_build_cause_exactly_one_more(tmp_path: Path) -> None:
    config, cluster, first, cache = start(tmp_path)
    big = "---\n".join(SERVICE % (f"s{i}", f"10.97.{i // 250}.{i % 250 + 1}") for i in range(3000))

    async def scenario() -> list[zone.Zone]:
        served = Served()
        reloader = Reloader(config, first, served.swap, cluster, cache)
        task = asyncio.create_task(reloader.run())
        (tmp_path / "big.yaml").write_text(big)  # a build that takes a few hundred ms
        reloader.request()
        await asyncio.sleep(QUIET_SECONDS + 0.05)  # the quiet period is over: building
        (tmp_path / "c.yaml").write_text(SERVICE % ("c", "10.96.0.3"))
        for _ in range(3):
            reloader.request()
            await asyncio.sleep(0.02)
        deadline = time.monotonic() + 10
        while len(served.zones) < 2 and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        await asyncio.sleep(QUIET_SECONDS + 0.3)  # room for a wrong third build to show
        task.cancel()
        return served.zones

    zones = asyncio.run(scenario())
    assert len(zones) == 2
    assert zones[-1].lookup("c.default.svc.cluster.local.") is not None


def test_a_write_that_puts_the_old_mtime_back_is_still_seen(tmp_path: Path) -> None:
    path = tmp_path / "a.yaml"
    path.write_text(SERVICE % ("a", "10.96.0.1"))
    config, cluster, first, cache = start(tmp_path)
    stat = path.stat()
    path.write_text(SERVICE % ("a", "10.96.0.2"))  # same size; put the old mtime back
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert path.stat().st_size == stat.st_size and path.stat().st_mtime_ns == stat.st_mtime_ns

    async def scenario() -> list[zone.Zone]:
        served = Served()
        reloader = Reloader(config, first, served.swap, cluster, cache)
        await reloader.reload()  # the change time moved: no program can set it back
        await reloader.reload(force=True)  # SIGHUP re-reads too, and finds nothing new
        return served.zones

    zones = asyncio.run(scenario())
    assert len(zones) == 1
    assert zones[0].lookup("a.default.svc.cluster.local.")[A][0].data == "10.96.0.2"
