"""Which files a folder holds, as `kubectl apply -f DIR -R` reads it (source/folders.py)."""

from __future__ import annotations

import os
from pathlib import Path

from clusterdns.source import manifests
from clusterdns.source.folders import STDIN, manifest_files

POD = "apiVersion: v1\nkind: Pod\nmetadata: {name: %s}\n"


def names(paths: list, root: Path) -> list[str]:
    return [str(f.path.relative_to(root)) for f in manifest_files(paths)[0]]


def touch(path: Path, text: str = "") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_folders_are_read_recursively_in_path_order_skipping_hidden(tmp_path: Path) -> None:
    for name in ["b.yaml", "a.yml", "sub/c.json", "sub/deeper/d.YAML", "notes.txt",
                 ".hidden.yaml", ".git/e.yaml", "..data/f.yaml"]:
        touch(tmp_path / name)
    assert names([tmp_path], tmp_path) == ["a.yml", "b.yaml", "sub/c.json", "sub/deeper/d.YAML"]


def test_a_file_named_on_the_command_line_is_read_whatever_its_name(tmp_path: Path) -> None:
    file = touch(tmp_path / "service.txt", POD % "p")
    assert names([file], tmp_path) == ["service.txt"]
    assert [p.name for p in manifests.load([file]).cluster.pods] == ["p"]


def test_standard_input_is_one_entry(tmp_path: Path) -> None:
    files, warnings = manifest_files(["-"])
    assert [str(f.path) for f in files] == [STDIN] and warnings == []


def test_a_helm_chart_is_skipped_with_a_hint_to_render_it(tmp_path: Path) -> None:
    chart = tmp_path / "charts" / "shop"
    touch(chart / "Chart.yaml", "apiVersion: v2\nname: shop\nversion: 1.0.0\n")
    touch(chart / "values.yaml", "replicas: 2\n")
    touch(chart / "templates" / "svc.yaml", "metadata:\n  name: {{ .Release.Name }}\n")
    touch(tmp_path / "plain.yaml", POD % "p")
    files, warnings = manifest_files([tmp_path])
    assert [f.path.name for f in files] == ["plain.yaml"]
    (warning,) = warnings
    assert str(warning) == (f"{chart}: a Helm chart: its templates are not manifests until "
                            f"rendered; skipped (try `helm template NAME {chart} | clusterdns "
                            "check -`)")


def test_a_symlink_loop_is_not_followed(tmp_path: Path) -> None:
    touch(tmp_path / "a" / "x.yaml", POD % "x")
    os.symlink(tmp_path / "a", tmp_path / "a" / "again")
    files, warnings = manifest_files([tmp_path])
    assert [f.path.name for f in files] == ["x.yaml"]
    (warning,) = warnings
    assert str(warning) == (f"{tmp_path}/a/again: symlink loop: this folder leads back to one "
                            "of its parents; not followed")
    loaded = manifests.load([tmp_path])
    assert [p.name for p in loaded.cluster.pods] == ["x"] and loaded.errors == []


def test_two_links_to_one_folder_read_it_twice_as_identical_copies(tmp_path: Path) -> None:
    touch(tmp_path / "real" / "x.yaml", POD % "x")
    os.symlink(tmp_path / "real", tmp_path / "link")
    loaded = manifests.load([tmp_path])
    assert [p.name for p in loaded.cluster.pods] == ["x"]
    assert loaded.errors == [] and loaded.warnings == []


def test_a_fifo_or_device_is_skipped_with_a_warning(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.yaml")
    os.symlink("/dev/null", tmp_path / "null.yaml")
    files, warnings = manifest_files([tmp_path])
    assert files == []
    assert sorted(str(w) for w in warnings) == [
        f"{tmp_path}/null.yaml: not a regular file (a FIFO, device or socket); skipped",
        f"{tmp_path}/pipe.yaml: not a regular file (a FIFO, device or socket); skipped",
    ]


def test_a_folder_with_no_manifests_says_so(tmp_path: Path) -> None:
    touch(tmp_path / "README.md", "# nothing here\n")
    files, warnings = manifest_files([tmp_path])
    assert files == []
    assert [str(w) for w in warnings] == [
        f"{tmp_path}: no manifest files (*.yaml, *.yml, *.json) in this folder"]


def test_a_dangling_link_is_an_error_that_names_it(tmp_path: Path) -> None:
    os.symlink(tmp_path / "gone.yaml", tmp_path / "a.yaml")
    (error,) = manifests.load([tmp_path]).errors
    assert str(error) == f"{tmp_path}/a.yaml: cannot read: No such file or directory"
