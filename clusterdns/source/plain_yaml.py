"""The plain block YAML most manifests are written in, read without PyYAML's machinery.

Reading 10,000 Services with PyYAML (libyaml's parser, Python's constructor) takes most
of a big folder's start-up; a manifest is nearly always the simplest YAML there is:
`key: value` lines, `- ` items, indentation, comments. This reads exactly that, line by
line, and gives up (None) on anything else, so PyYAML reads it instead: tabs, carriage
returns, characters outside printable ASCII, flow collections, anchors, aliases, tags,
block and multi-line scalars, escapes, merge keys, directives, document ends, and
nesting deeper than Python recurses.

Scalars mean what they mean to `documents.KubernetesLoader`: a plain scalar's type comes
from that loader's own resolver and constructor (YAML 1.1's `yes`, `0o17`, `1:20`, dates,
and Kubernetes' `=` as a string), and a quoted one is its text. So what this returns is
what PyYAML returns for the same text, value for value and type for type (tests compare
the two on generated documents and on every fixture).
"""

from __future__ import annotations

import re
from typing import Any

import yaml

# What may not start a plain scalar here: flow and node indicators, quotes (handled
# apart), and the reserved `@` and backquote.
_INDICATORS = frozenset("[]{},&*!|>'\"%@`?:#")
_UNUSUAL = re.compile(r"[^\n\x20-\x7e]")  # tabs, CR, controls, anything beyond ASCII
_MAX_KEY = 1000  # YAML's implicit keys end at 1024 characters
_DOCUMENT_START = re.compile(r"---(?: |$)")
_STR = "tag:yaml.org,2002:str"
_UNSEEN = object()
_RECENT = 4096  # plain scalars remembered with their values
# A `key: value` or `key:` line this reader takes: the key a plain scalar without
# indicators, colons, comments or flow characters, and without trailing blanks (the line
# is already stripped of leading ones and trailing ones).
# One regular-expression search or split over a whole big document is one C call holding
# the interpreter lock (13 ms for 100,000 addresses, while a reload thread keeps the
# server from answering); over slices this long, the lock changes hands in between.
_SLICE = 1 << 16
_KEY_LINE = re.compile(r"([^-\[\]{},&*!|>'\"%@`?:# ][^:#,\[\]{}]*)(?<! ):(?: +(.*))?")


def _unusual(text: str) -> bool:
    """Whether `text` holds a character this reader leaves to PyYAML."""
    return any(_UNUSUAL.search(text, start, start + _SLICE)
               for start in range(0, len(text), _SLICE))


def _lines(text: str) -> list[str]:
    """`text.split("\\n")`, a slice at a time."""
    lines: list[str] = []
    start = 0
    while (cut := text.find("\n", start + _SLICE)) != -1:
        lines += text[start:cut].split("\n")
        start = cut + 1
    lines += text[start:].split("\n")
    return lines


class _NotPlain(Exception):
    """The text uses more of YAML than this reader does."""


class _Scalars:
    """Plain scalars resolved and constructed by a loader's own resolver and constructor.

    The resolver tries the patterns listed under a scalar's first character; most
    scalars (names, kinds) start with a letter no pattern is listed under, and are
    strings without asking it. Recent values are remembered: manifests repeat them.
    """

    def __init__(self, loader: type[Any]) -> None:
        self._constructors = loader.yaml_constructors
        self._loader = loader("")
        resolvers = loader.yaml_implicit_resolvers
        self._typed = (frozenset(resolvers) if None not in resolvers
                       and not loader.yaml_path_resolvers else None)
        self._recent: dict[str, Any] = {}

    def value(self, text: str) -> Any:
        """The Python value of the plain scalar `text`."""
        if self._typed is not None and text[0] not in self._typed:
            return text
        recent = self._recent.get(text, _UNSEEN)
        if recent is not _UNSEEN:
            return recent
        tag = self._loader.resolve(yaml.ScalarNode, text, (True, False))
        if tag == _STR:
            value: Any = text
        elif tag == "tag:yaml.org,2002:merge":
            raise _NotPlain
        else:
            value = self._constructors[tag](self._loader, yaml.ScalarNode(tag, text))
        if len(self._recent) >= _RECENT:
            self._recent.clear()
        self._recent[text] = value
        return value


class PlainReader:
    """Reads one document's text, as `read` describes; one per loader class."""

    def __init__(self, loader: type[Any]) -> None:
        self._scalars = _Scalars(loader)

    def read(self, text: str) -> list[Any] | None:
        """[value] for a document, [] for text that holds none, None when not plain.

        `text` is one document as `documents.split` cuts them: it may start with `---`,
        and no other line does.
        """
        if _unusual(text):
            return None
        lines = _lines(text)
        started = _DOCUMENT_START.match(lines[0]) is not None
        if started:
            rest = lines[0][3:].lstrip(" ")
            if rest and not rest.startswith("#"):
                return None
            lines = lines[1:]
        content: list[tuple[int, str]] = []
        for line in lines:
            stripped = line.lstrip(" ")
            if not stripped or stripped[0] == "#":
                continue
            if line[0] in "-.%" and line.startswith(("---", "...", "%")):
                return None
            content.append((len(line) - len(stripped), stripped.rstrip(" ")))
        if not content:
            return [None] if started else []
        try:
            value, end = self._node(content, 0, content[0][0])
        except (_NotPlain, RecursionError):  # PyYAML says what is wrong with it
            return None
        return [value] if end == len(content) else None

    def _node(self, lines: list[tuple[int, str]], i: int, indent: int) -> tuple[Any, int]:
        """The block mapping or sequence starting at line `i`, at `indent`."""
        text = lines[i][1]
        if text == "-" or text.startswith("- "):
            return self._sequence(lines, i, indent)
        return self._mapping(lines, i, indent)

    def _sequence(self, lines: list[tuple[int, str]], i: int, indent: int
                  ) -> tuple[list[Any], int]:
        items = []
        while i < len(lines):
            at, text = lines[i]
            if at < indent or (at == indent and not text.startswith("- ") and text != "-"):
                break  # the sequence is over; whatever holds it reads on
            if at > indent or text == "-":
                raise _NotPlain
            rest = text[2:].lstrip(" ")
            column = indent + len(text) - len(rest)
            if rest.startswith("- ") or _KEY_LINE.fullmatch(rest):
                lines[i] = (column, rest)  # a compact nested node: it starts here
                value, i = self._node(lines, i, column)
            else:
                value = self._scalar(rest)  # a line deeper next ends the reading
                i += 1
            items.append(value)
        return items, i

    def _mapping(self, lines: list[tuple[int, str]], i: int, indent: int
                 ) -> tuple[dict[Any, Any], int]:
        mapping: dict[Any, Any] = {}
        while i < len(lines):
            at, text = lines[i]
            if at < indent:
                break
            line = _KEY_LINE.fullmatch(text)
            if at > indent or line is None or len(line[1]) > _MAX_KEY:
                raise _NotPlain
            key = self._scalars.value(line[1])
            rest = line[2]
            i += 1
            if rest and rest[0] != "#":
                value = self._scalar(rest)  # a line deeper next ends the reading
            elif i < len(lines) and (lines[i][0] > indent or (
                    lines[i][0] == indent and lines[i][1].startswith("- "))):
                value, i = self._node(lines, i, lines[i][0])  # the same indent: `- ` items
            else:
                value = None
            mapping[key] = value
        return mapping, i

    def _scalar(self, text: str) -> Any:
        first = text[0]
        if first in "'\"":
            close = text.find(first, 1)
            after = text[close + 1:]
            if close < 0 or "\\" in text[:close] or (
                    after and not (after[0] == " " and after.lstrip(" ").startswith("#"))):
                raise _NotPlain  # unclosed, escaped, '' inside, or followed by more
            return text[1:close]
        comment = text.find(" #")
        if comment >= 0:
            text = text[:comment].rstrip(" ")
        if (first in _INDICATORS or (first == "-" and (len(text) == 1 or text[1] == " "))
                or ": " in text or text.endswith(":")):
            raise _NotPlain
        return self._scalars.value(text)

