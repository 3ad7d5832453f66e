"""What a big zone costs to load, build and reload: 10,000 Services by default.

The design's target is a zone of 10,000 Services (3 endpoints each, a third headless)
built and swapped in under a second. Two layouts are measured, because they behave
differently on a reload: the services spread over files of 100 (a reload re-parses the
one file that changed) and all in one file (a reload re-parses all of it, the worst
case). The reload figures run the server's own reload path (`Reloader.reload`: load with
the warm per-file cache, compare, build in an executor thread, swap), so they are what a
running server pays after the debounce.

    .venv/bin/python bench/zone_build.py [--services 10000]

`measure()` returns the figures as a dict; each layout runs in a fresh interpreter, so a
peak RSS counts nothing its caller or the other layout allocated.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from generate import manifest_text

from clusterdns.serve.config import Config
from clusterdns.serve.reload import Reloader, collector_paused
from clusterdns.source import manifests
from clusterdns.zone import build as zone

SERVICES_PER_FILE = 100


def write_split(folder: Path, services: int) -> list[Path]:
    """The generator's manifests, a file per SERVICES_PER_FILE services (Endpoints alongside)."""
    namespace, *docs = manifest_text(services).split("---\n")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "namespace.yaml").write_text(namespace)
    files = []
    step = 2 * SERVICES_PER_FILE  # a Service and its Endpoints per service
    for start in range(0, len(docs), step):
        path = folder / f"services-{start // 2:05d}.yaml"
        path.write_text("---\n".join(docs[start:start + step]))
        files.append(path)
    return files


def write_single(folder: Path, services: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "services.yaml"
    path.write_text(manifest_text(services))
    return path


def touch_one_service(path: Path) -> None:
    """Change one service's port in `path`: a one-line edit, as a user makes one."""
    text = path.read_text()
    path.write_text(text.replace("port: 80\n", "port: 81\n", 1))


def time_cold(folder: Path) -> dict[str, float]:
    """Wall and CPU seconds to load and to build from nothing, as `clusterdns serve` starts
    (the collector paused, as it does)."""
    cache = manifests.FileCache()
    with collector_paused():
        wall, cpu = time.perf_counter(), time.process_time()
        loaded = manifests.load([folder], cache=cache)
        cluster, errors = loaded.cluster, loaded.errors
        loaded_wall, loaded_cpu = time.perf_counter(), time.process_time()
        if errors:
            raise RuntimeError(f"generated manifests have problems: {errors[:3]}")
        built = zone.build(cluster, serial=1)
        done_wall, done_cpu = time.perf_counter(), time.process_time()
    return {"load_s": loaded_wall - wall, "load_cpu_s": loaded_cpu - cpu,
            "build_s": done_wall - loaded_wall, "build_cpu_s": done_cpu - loaded_cpu,
            "records": built.stats["records"]}


def time_reload(folder: Path, changed: Path) -> dict[str, float]:
    """Seconds for one reload after a one-line edit of `changed`, through the server's path:
    until the swap (load and build), and in all (counting changes, freeing the old zone)."""
    cache = manifests.FileCache()
    with collector_paused():  # as `clusterdns serve` starts
        cluster = manifests.load([folder], cache=cache).cluster
        first = zone.build(cluster, serial=1)
    served: list[zone.Zone] = []

    async def reload() -> tuple[float, float, float]:
        reloader = Reloader(Config(manifests=(str(folder),)), first, served.append,
                            cluster, cache)
        touch_one_service(changed)
        wall, cpu = time.perf_counter(), time.process_time()
        await reloader.reload()
        done_wall, done_cpu = time.perf_counter() - wall, time.process_time() - cpu
        return reloader.state.last_duration, done_wall, done_cpu

    to_swap, wall, cpu = asyncio.run(reload())
    if len(served) != 1:
        raise RuntimeError("the edit did not produce a new zone")
    return {"reload_to_swap_s": to_swap, "reload_s": wall, "reload_cpu_s": cpu}


def figures(services: int, layout: str) -> dict[str, float]:
    """Every figure for `services` services in one layout (`split` or `single`)."""
    out: dict[str, float] = {"services": services}
    with tempfile.TemporaryDirectory(prefix="clusterdns-zone-build-") as tmp:
        folder = Path(tmp)
        if layout == "split":
            files = write_split(folder, services)
            changed = files[len(files) // 2]
        else:
            changed = write_single(folder, services)
            files = [changed]
        out["files"] = len(list(folder.iterdir()))
        out.update(time_cold(folder))
        out.update(time_reload(folder, changed))
    out["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def measure(services: int = 10_000, timeout: float = 300.0) -> dict[str, float]:
    """`figures` for both layouts, each in a fresh interpreter so its peak RSS is its own;
    the one-file figures carry a `single_file_` prefix."""
    out: dict[str, float] = {}
    for layout, prefix in (("split", ""), ("single", "single_file_")):
        done = subprocess.run(
            [sys.executable, __file__, "--services", str(services), "--layout", layout],
            capture_output=True, text=True, timeout=timeout, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"zone_build failed: {done.stderr[-2000:]}")
        result = json.loads(done.stdout.strip().splitlines()[-1])
        out.update({f"{prefix}{key}": value for key, value in result.items()})
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--services", type=int, default=10_000)
    parser.add_argument("--layout", choices=("split", "single"),
                        help="measure one layout here and print it as JSON")
    args = parser.parse_args()
    if args.layout:
        print(json.dumps(figures(args.services, args.layout)))
        return
    out = measure(args.services)
    print(f"{out['services']:.0f} services, {out['records']:.0f} records; "
          "seconds wall (cpu)")
    for prefix, label in (("", f"{out['files']:.0f} files"), ("single_file_", "one file")):
        print(f"  {label}: load {out[prefix + 'load_s']:.3f} "
              f"({out[prefix + 'load_cpu_s']:.3f}), build {out[prefix + 'build_s']:.3f} "
              f"({out[prefix + 'build_cpu_s']:.3f}); peak RSS "
              f"{out[prefix + 'peak_rss_mib']:.0f} MiB")
        print(f"    reload after a one-line edit: swapped after "
              f"{out[prefix + 'reload_to_swap_s']:.3f}, done after {out[prefix + 'reload_s']:.3f} "
              f"({out[prefix + 'reload_cpu_s']:.3f})")

if __name__ == "__main__":
    main()
