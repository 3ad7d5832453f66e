"""Which files a set of `--manifests` paths holds, read as `kubectl apply -f DIR -R` reads it.

Folders are walked recursively for `*.yaml`, `*.yml` and `*.json`; a file named on the
command line is read whatever its name; `-` is standard input. Beyond kubectl:

- hidden entries are skipped, so a mounted ConfigMap's `..data` is read once;
- a Helm chart folder (`Chart.yaml` beside `templates/`) is skipped with a hint to render
  it: its templates are not YAML until Helm has run;
- only regular files are read: a FIFO would block the reader for good, and a link to
  `/dev/zero` would never end;
- a folder symlink that leads back to one of its own parents is not followed.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from .problems import ManifestWarning

SUFFIXES = (".yaml", ".yml", ".json")
STDIN = "-"
CHART_FILES = ("Chart.yaml", "Chart.yml")


@dataclass(frozen=True)
class ManifestFile:
    """One file to read, with what `stat` said of it when the folder was listed."""

    path: Path
    stat: os.stat_result | None  # None for standard input, or when stat failed


def manifest_files(paths: Iterable[str | os.PathLike[str]]
                   ) -> tuple[list[ManifestFile], list[ManifestWarning]]:
    """Every manifest file under `paths`, in path order, and what was passed over."""
    found: list[ManifestFile] = []
    warnings: list[ManifestWarning] = []
    for root in paths:
        if str(root) == STDIN:
            found.append(ManifestFile(Path(STDIN), None))
            continue
        root = Path(root)
        if not root.is_dir():
            entry = _entry(root, warnings)
            found.extend([entry] if entry else [])
            continue
        before = len(found)
        _walk(root, found, warnings)
        if len(found) == before and not any(w.file.startswith(str(root)) for w in warnings):
            warnings.append(ManifestWarning(str(root), 0, "", "no manifest files (*.yaml, "
                                            "*.yml, *.json) in this folder"))
    return found, warnings


def _walk(root: Path, found: list[ManifestFile], warnings: list[ManifestWarning]) -> None:
    ancestors: dict[str, list[tuple[int, int]]] = {}
    for folder, dirs, files in os.walk(root, followlinks=True):
        try:
            here = os.stat(folder)
        except OSError:
            dirs[:] = []
            continue
        identity = (here.st_dev, here.st_ino)
        chain = ancestors.get(os.path.dirname(folder), []) if folder != str(root) else []
        if identity in chain:
            warnings.append(ManifestWarning(folder, 0, "", "symlink loop: this folder leads "
                                            "back to one of its parents; not followed"))
            dirs[:] = []
            continue
        ancestors[folder] = [*chain, identity]
        if any(f in files for f in CHART_FILES) and "templates" in dirs:
            warnings.append(ManifestWarning(folder, 0, "", "a Helm chart: its templates are "
                                            "not manifests until rendered; skipped (try "
                                            f"`helm template NAME {folder} | clusterdns check -`)"))
            dirs[:] = []
            continue
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if not name.startswith(".") and name.lower().endswith(SUFFIXES):
                entry = _entry(Path(folder, name), warnings)
                found.extend([entry] if entry else [])


def _entry(path: Path, warnings: list[ManifestWarning]) -> ManifestFile | None:
    """`path` with its stat; None, reported, when it is not a regular file. One that
    cannot be stat'ed (a dangling link) is kept, so reading it says why it failed."""
    try:
        info = path.stat()
    except OSError:
        return ManifestFile(path, None)
    if not stat.S_ISREG(info.st_mode):
        warnings.append(ManifestWarning(str(path), 0, "", "not a regular file (a FIFO, device "
                                        "or socket); skipped"))
        return None
    return ManifestFile(path, info)
