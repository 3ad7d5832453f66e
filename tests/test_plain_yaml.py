"""The fast reader of plain YAML must give what PyYAML gives, or nothing at all.

Every text here goes to both: `PlainReader.read` may decline (None), but when it answers,
PyYAML (the loader `documents` uses) must read the same text without error and produce
equal values of the same types, keys in the same order. Texts come from hypothesis, as
block YAML rendered a dozen ways around scalars YAML 1.1 reads as something else than a
string, then as the same texts with YAML's significant characters dropped in; and from
every manifest under tests/ and manifests/, piece by piece as `documents.split` cuts them.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from clusterdns.source import documents
from clusterdns.source.documents import KubernetesLoader
from clusterdns.source.plain_yaml import PlainReader
from tests.conftest import EXAMPLES, FIXTURES

READER = PlainReader(KubernetesLoader)
ERROR = object()

# Scalars a YAML 1.1 loader does not read as the string they look like, and some it does.
TRICKY = ["yes", "No", "ON", "off", "y", "true", "False", "null", "Null", "~", "=", "<<",
          "0", "-1", "+1", "017", "0o17", "0x1F", "0b101", "1_000", "1:20", "-1:20:30",
          "1.5", "1e3", "1.0e+3", ".inf", "-.Inf", ".NaN", "2001-12-14",
          "2001-12-14t21:59:43.10-05:00", "2001-12-14 21:59:43.10", "10.96.0.10",
          "v1", "Service", "a b", "http://x:80/y", "a:b", "a#b", "-a", "--", "---", "...",
          "a,b", "a[0]", "{x}", "[x]", "&a", "*a", "!t", "|", ">", "%", "@x", "`x", "?x",
          ":x", "a: b", "a:", "-", "- a", "#x", "é", "'q'", '"q"', "it's", 'say "x"',
          "a\\b", "''", '""', " lead", "trail ", ""]
KEYS = ["apiVersion", "kind", "name", "ports", "80", "on", "null", "~", "a b", "a.b/c",
        "<<", "-k", "k:", "'k'", "=", "2001-12-14", "1.5", "k#", "x" * 1030]

scalars = st.sampled_from(TRICKY) | st.text("abc019:-# .'\"", max_size=6)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, min_size=1, max_size=3)
    | st.dictionaries(st.sampled_from(KEYS) | st.text("abk0", min_size=1, max_size=3),
                      inner, min_size=1, max_size=3),
    max_leaves=12)


@st.composite
def rendered(draw: st.DrawFn) -> str:
    """A value written as block YAML, each choice of layout drawn anew."""
    width = draw(st.integers(1, 4))
    lines: list[str] = []

    def scalar(value: str) -> str:
        style = draw(st.sampled_from(["plain", "plain", "single", "double"]))
        text = {"plain": value, "single": f"'{value}'", "double": f'"{value}"'}[style]
        return text + draw(st.sampled_from(["", "", " # note", "  ", "#x"]))

    def write(value: Any, indent: int) -> None:
        pad = " " * indent
        if isinstance(value, dict):
            for key, item in value.items():
                if isinstance(item, (dict, list)):
                    lines.append(f"{pad}{key}:" + draw(st.sampled_from(["", " # c"])))
                    indentless = isinstance(item, list) and draw(st.booleans())
                    write(item, indent if indentless else indent + width)
                else:
                    lines.append(f"{pad}{key}: {scalar(item)}")
        elif isinstance(value, list):
            for item in value:
                if isinstance(item, (dict, list)) and draw(st.booleans()):
                    first, *rest = _compact(item, draw)
                    lines.append(f"{pad}- {first}")
                    lines.extend(f"{pad}  {line}" for line in rest)
                elif isinstance(item, (dict, list)):
                    lines.append(f"{pad}-")
                    write(item, indent + width)
                else:
                    lines.append(f"{pad}- {scalar(item)}")
        else:
            lines.append(pad + scalar(value))
        if draw(st.booleans()):
            lines.append(" " * draw(st.integers(0, 6)) + draw(st.sampled_from(["", "# c"])))

    write(draw(values), draw(st.sampled_from([0, 0, 2])))
    start = draw(st.sampled_from(["", "---\n", "--- # doc\n", "# head\n---\n"]))
    return start + "\n".join(lines) + draw(st.sampled_from(["\n", "", "\n\n"]))


def _compact(value: Any, draw: st.DrawFn) -> list[str]:
    """`value` as the lines of a `- ` item written on the item's own line."""
    text = yaml.safe_dump(value, default_flow_style=False, sort_keys=False,
                          allow_unicode=True, width=10_000)
    return text.rstrip("\n").split("\n")


def same(fast: Any, slow: Any) -> bool:
    """Equal values of equal types all the way down (1 == True and NaN != NaN in Python)."""
    if type(fast) is not type(slow):
        return False
    if isinstance(fast, float):
        return (math.isnan(fast) and math.isnan(slow)) or fast == slow
    if isinstance(fast, dict):
        return len(fast) == len(slow) and all(
            same(a, b) and same(x, y)
            for (a, x), (b, y) in zip(fast.items(), slow.items(), strict=True))
    if isinstance(fast, list):
        return len(fast) == len(slow) and all(map(same, fast, slow))
    return bool(fast == slow)


def check(text: str) -> list[Any] | None:
    """Both readings of `text`; fails when the fast one answers differently. Returns it."""
    fast = READER.read(text)
    try:
        slow: Any = list(yaml.load_all(text, Loader=KubernetesLoader))
    except (yaml.YAMLError, ValueError, RecursionError):
        slow = ERROR
    if fast is not None:
        assert slow is not ERROR, f"PyYAML refuses what was read fast:\n{text}"
        assert same(fast, slow), f"{fast!r} != {slow!r} for:\n{text}"
    return fast


@settings(max_examples=600, deadline=None)
@given(text=rendered())
def test_rendered_block_yaml_reads_as_pyyaml_reads_it(text: str) -> None:
    check(text)


SIGNIFICANT = [*":-#'\" \n[]{}&*!|>?%@`,\t\r.~", "---", "...", "- ", ": ", " #"]


@settings(max_examples=600, deadline=None)
@given(text=rendered(), edits=st.lists(st.tuples(st.integers(0, 10_000),
                                                 st.sampled_from(SIGNIFICANT),
                                                 st.booleans()), min_size=1, max_size=3))
def test_damaged_yaml_is_declined_or_read_as_pyyaml_reads_it(
        text: str, edits: list[tuple[int, str, bool]]) -> None:
    for at, piece, replace in edits:
        at %= len(text) + 1
        text = text[:at] + piece + text[at + (1 if replace else 0):]
    check(text)


MANIFESTS = sorted(p for folder in (FIXTURES, EXAMPLES) for p in folder.rglob("*")
                   if p.suffix in (".yaml", ".yml"))


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: str(p.relative_to(p.parents[1])))
def test_every_manifest_here_reads_as_pyyaml_reads_it(path: Path) -> None:
    for piece in documents.split(path.read_text()):
        check(piece)


def test_the_plain_manifests_of_a_big_folder_are_all_read_fast() -> None:
    service = ("---\napiVersion: v1\nkind: Service\nmetadata:\n  name: web\n"
               "  labels: {}\nspec:\n  ports:\n  - name: http\n    port: 80\n")
    assert check(service) is None  # a flow mapping: PyYAML's
    plain = service.replace("  labels: {}\n", "  labels:\n    app: web  # the app\n")
    assert check(plain) == [{"apiVersion": "v1", "kind": "Service",
                             "metadata": {"name": "web", "labels": {"app": "web"}},
                             "spec": {"ports": [{"name": "http", "port": 80}]}}]
    assert check("# only a comment\n") == [] and check("---\n# nothing\n") == [None]


def test_nesting_deeper_than_python_recurses_is_left_to_pyyaml() -> None:
    deep = "- " * 5000 + "a\n"
    assert check(deep) is None
    with pytest.raises(yaml.YAMLError, match="nesting depth"):  # libyaml's own limit
        documents.load_yaml(deep)


def test_a_document_longer_than_a_slice_is_read_whole() -> None:
    """The reader looks at big texts a slice at a time: nothing at a seam may be lost."""
    items = "".join(f"  - ip: 10.0.{i >> 8}.{i & 255}\n" for i in range(20_000))
    text = f"kind: Endpoints\naddresses:\n{items}"
    assert len(text) > 4 * (1 << 16)
    [value] = check(text)
    assert len(value["addresses"]) == 20_000 and value["addresses"][-1] == {"ip": "10.0.78.31"}
    late = len(text) - 100  # a character the reader leaves to PyYAML, past the first slice
    assert check(text[:late] + "\t" + text[late + 1:]) is None
    assert check(text[:late] + "é" + text[late + 1:]) is None


def test_a_remembered_line_means_the_same_wherever_it_comes_again() -> None:
    """Lines are remembered from one document to the next, and forgotten past a bound:
    the same line at another depth, in a sequence, or after the bound reads as PyYAML
    reads it there, and one PyYAML refuses is still declined."""
    reader = PlainReader(KubernetesLoader)
    texts = ["a: 1\nb:\n- x: 2\n  y: on\n", "b:\n  - x: 2\n    y: on\na: 1\n",
             "- x: 2\n- - a: 1\n  - y: on\n", "- y: on\n  x: 2\n"]
    texts += [f"n{i}: {i}\n" for i in range(5000)]  # more lines than are remembered
    for text in texts + texts[:4]:
        fast = reader.read(text)
        assert fast is not None and same(fast, list(yaml.load_all(text, Loader=KubernetesLoader)))
    assert reader.read("x: 2\n  y: on\n") is None  # a line deeper after a scalar


def test_a_loader_with_a_resolver_for_any_first_character_is_asked_itself() -> None:
    class Shouting(KubernetesLoader):  # type: ignore[misc,valid-type]
        """Upper-case words are their own tag, whatever character they start with."""

    Shouting.add_implicit_resolver("!shout", re.compile(r"[A-Z]+\Z"), None)
    Shouting.add_constructor("!shout", lambda loader, node: node.value.lower())
    text = "kind: LOUD\nname: Quiet\nport: 80\n"
    expected = [{"kind": "loud", "name": "Quiet", "port": 80}]
    assert list(yaml.load_all(text, Loader=Shouting)) == expected
    assert PlainReader(Shouting).read(text) == expected
