"""Manifest text into values: Kubernetes' YAML meaning, errors users can act on, and bounds."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from clusterdns.source import documents, manifests
from clusterdns.source.documents import Unreadable


def test_a_bare_equals_sign_is_a_string_as_in_kubernetes() -> None:
    # kube-prometheus's CRDs list the match types of a label matcher this way.
    (value,) = documents.load_yaml("enum:\n- '!='\n- =\n- =~\nx: =\n")
    assert value == {"enum": ["!=", "=", "=~"], "x": "="}


def test_a_crd_with_an_equals_enum_loads_and_is_skipped(tmp_path: Path) -> None:
    (tmp_path / "crd.yaml").write_text(
        "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\n"
        "metadata: {name: things.example.com}\nspec:\n  versions:\n  - schema:\n"
        "      openAPIV3Schema:\n        properties:\n          op: {enum: [=, '!=']}\n")
    loaded = manifests.load([tmp_path])
    assert loaded.errors == [] and loaded.warnings == []
    assert loaded.counts["CustomResourceDefinition.apiextensions.k8s.io"].skipped == 1


def test_a_yaml_error_names_the_file_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("apiVersion: v1\nkind: Pod\nmetadata: {name: ok}\n---\nkind: Pod\n"
                    "metadata:\n  name: [unclosed\n")
    (error,) = manifests.load([tmp_path]).errors
    assert str(error).startswith(f"{path}: document 2: invalid YAML at line 8, column 1: ")
    assert "<unicode string>" not in str(error)


def test_tab_indentation_gets_a_hint(tmp_path: Path) -> None:
    (tmp_path / "tabs.yaml").write_text("kind: Pod\nmetadata:\n\tname: p\n")
    (error,) = manifests.load([tmp_path]).errors
    assert "line 3, column 1" in str(error)
    assert "(a tab: YAML indents with spaces only)" in str(error)


def test_an_unrendered_template_gets_a_hint(tmp_path: Path) -> None:
    (tmp_path / "svc.yaml").write_text(
        "kind: Service\nmetadata:\n  name: {{ .Release.Name }}\n")
    (error,) = manifests.load([tmp_path]).errors
    assert "unrendered template" in str(error) and "helm template" in str(error)


def test_a_file_over_the_size_limit_is_an_error_for_that_file_only(tmp_path: Path) -> None:
    (tmp_path / "big.yaml").write_text("# " + "x" * 200 + "\n")
    (tmp_path / "ok.yaml").write_text("apiVersion: v1\nkind: Pod\nmetadata: {name: p}\n")
    loaded = manifests.load([tmp_path], manifests.LoadOptions(max_file_bytes=100))
    (error,) = loaded.errors
    assert str(error) == (f"{tmp_path}/big.yaml: 203 bytes, over the 100-byte limit for one "
                          "file (--max-file-size); not read")
    assert [p.name for p in loaded.cluster.pods] == ["p"]


def test_a_link_to_an_endless_device_is_never_read(tmp_path: Path) -> None:
    os.symlink("/dev/zero", tmp_path / "zero.yaml")
    started = time.monotonic()
    with pytest.raises(Unreadable, match="not a regular file"):
        documents.read_bytes(tmp_path / "zero.yaml")
    loaded = manifests.load([tmp_path])
    assert time.monotonic() - started < 2
    assert loaded.errors == [] and "not a regular file" in str(loaded.warnings[0])


def test_a_fifo_never_blocks_the_reader(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.yaml")
    (tmp_path / "ok.yaml").write_text("apiVersion: v1\nkind: Pod\nmetadata: {name: p}\n")
    done: list[manifests.Loaded] = []
    reader = threading.Thread(target=lambda: done.append(manifests.load([tmp_path])),
                              daemon=True)
    reader.start()
    reader.join(5)
    assert done, "loading a folder with a FIFO in it hung"
    assert [p.name for p in done[0].cluster.pods] == ["p"]
    with pytest.raises(Unreadable, match="not a regular file"):  # named directly, too
        documents.read_bytes(tmp_path / "pipe.yaml")


def test_non_utf8_text_is_an_error_and_a_bom_is_fine(tmp_path: Path) -> None:
    (tmp_path / "latin.yaml").write_bytes(b"kind: Pod\nmetadata: {name: caf\xe9}\n")
    with pytest.raises(Unreadable, match="not UTF-8"):
        documents.decode(documents.read_bytes(tmp_path / "latin.yaml"))
    (tmp_path / "bom.yaml").write_bytes(b"\xef\xbb\xbfkind: Pod\n")
    assert documents.decode(documents.read_bytes(tmp_path / "bom.yaml")) == "kind: Pod\n"


def test_a_file_read_a_document_at_a_time_is_still_checked_whole(tmp_path: Path) -> None:
    """Documents are decoded one by one now; a bad byte anywhere still makes the whole
    file unreadable, with its offset in the file, and a byte order mark stays harmless."""
    pod = "apiVersion: v1\nkind: Pod\nmetadata: {name: %s}\nstatus: {podIP: 10.0.0.%d}\n"
    good = ("---\n" + pod % ("a", 1) + "---\n" + pod % ("b", 2)).encode()
    bad = good + b"---\n" + (pod % ("caf\xe9", 3)).encode("latin-1")
    (tmp_path / "mixed.yaml").write_bytes(bad)
    (tmp_path / "bom.yaml").write_bytes(b"\xef\xbb\xbf" + good.replace(b": a}", b": c}")
                                        .replace(b": b}", b": d}"))
    cache = manifests.FileCache()
    for _ in range(2):  # the second read reuses the cached documents
        loaded = manifests.load([tmp_path], cache=cache)
        (error,) = loaded.errors
        offset = bad.index(b"\xe9")
        assert str(error) == (f"{tmp_path}/mixed.yaml: cannot read: not UTF-8 "
                              f"(invalid continuation byte at byte {offset})")
        assert sorted(p.name for p in loaded.cluster.pods) == ["c", "d"]


BOMB = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, "
    f"*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, "
    f"*{chr(97 + i)}, *{chr(97 + i)}]\n" for i in range(8))


def test_an_alias_bomb_is_refused_quickly_with_a_short_message(tmp_path: Path) -> None:
    (tmp_path / "bomb.yaml").write_text(
        "apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec:\n  ports: [{port: 1}]\n"
        + "\n".join("  " + line for line in BOMB.splitlines()) + "\n  clusterIP: *i\n")
    started = time.monotonic()
    (error,) = manifests.load([tmp_path]).errors
    assert time.monotonic() - started < 2
    assert "expands to more than 1,000,000 values through YAML aliases" in str(error)
    assert len(str(error)) < 300


def test_a_large_value_in_a_message_is_cut_short(tmp_path: Path) -> None:
    (tmp_path / "s.yaml").write_text(
        "apiVersion: v1\nkind: Service\nmetadata: {name: s}\n"
        f"spec: {{ports: [{{port: 1}}], clusterIP: {'9' * 4000}}}\n")
    (error,) = manifests.load([tmp_path]).errors
    assert "is not an IP address" in str(error) and len(str(error)) < 300


@pytest.mark.parametrize("name,text", [
    ("huge.yaml", f"kind: Pod\nmetadata: {{name: {'9' * 5000}}}\n"),
    ("plain.yaml", f"kind: Pod\nmetadata:\n  name: {'9' * 5000}\n"),  # the fast reader's
    ("huge.json", f'{{"kind": "Pod", "metadata": {{"name": {"9" * 5000}}}}}'),
])
def test_a_number_python_cannot_hold_is_an_error_for_that_file(tmp_path: Path, name: str,
                                                               text: str) -> None:
    (tmp_path / name).write_text(text)
    (error,) = manifests.load([tmp_path]).errors
    assert error.file == str(tmp_path / name)
    assert "a value clusterdns cannot read (Exceeds the limit (4300 digits)" in str(error)


@pytest.mark.parametrize("name,text,message", [
    ("deep.json", "[" * 100_000 + "]" * 100_000, "nested deeper than clusterdns can read"),
    # libyaml stops at a nesting depth of its own, before Python's limit.
    ("deep.yaml", "a: " + "[" * 100_000 + "]" * 100_000 + "\n",
     "exceeded maximum nesting depth"),
])
def test_nesting_too_deep_to_follow_is_an_error_naming_the_file(
        tmp_path: Path, name: str, text: str, message: str) -> None:
    (tmp_path / name).write_text(text)
    (error,) = manifests.load([tmp_path]).errors
    assert error.file == str(tmp_path / name) and message in str(error)


@settings(max_examples=300)
@given(st.lists(st.sampled_from(["---", "----", "\n", "a", " ", "\t", "\r", "-", "...\n"]),
                max_size=14).map("".join))
def test_split_cuts_at_every_document_start_and_nowhere_else(text: str) -> None:
    pieces = list(documents.split(text))
    assert "".join(pieces) == text
    assert all(documents.DOCUMENT_START.match(piece) for piece in pieces[1:])
    for piece in pieces:  # no marker line left inside a piece
        assert not any(documents.DOCUMENT_START.match(piece, i + 1)
                       for i, c in enumerate(piece) if c == "\n")


def test_yaml_errors_are_reported_not_raised() -> None:
    with pytest.raises(yaml.YAMLError):
        documents.load_yaml("a: [\n")


def test_a_large_document_reads_the_same_and_its_tree_is_taken_apart() -> None:
    # Flow style, so the plain-YAML reader declines it and PyYAML composes a node tree.
    entries = ", ".join(f"{{ip: 10.0.{i // 250}.{i % 250}, hostname: h{i}}}"
                        for i in range(1_000))
    text = f"kind: Endpoints\nsubsets: [{{addresses: [{entries}]}}]\n---\nkind: Pod\n"
    assert documents._load_large(text) == list(yaml.load_all(text, Loader=yaml.CSafeLoader))
    node = yaml.compose("a: [x, {b: c}]")
    inner = node.value[0][1]
    documents._release([node])
    assert node.value is None and inner.value is None  # emptied, children first


def test_release_empties_the_list_and_changes_nothing_it_freed() -> None:
    kept = {"app": "web", "tiers": ["a", "b"]}
    tree = {"metadata": {"labels": kept}, "items": [{"ip": f"10.0.0.{i}"} for i in range(5000)]}
    values = [tree, [1, [2, [3]]], "text", None]
    del tree
    documents.release(values)
    assert values == []
    assert kept == {"app": "web", "tiers": ["a", "b"]}  # still held by what was parsed
