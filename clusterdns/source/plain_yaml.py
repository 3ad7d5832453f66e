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

import itertools
import re
from typing import Any

import yaml

from ..freeing import STEP, empty

# What may not start a plain scalar here: flow and node indicators, quotes (handled
# apart), and the reserved `@` and backquote.
_INDICATORS = frozenset("[]{},&*!|>'\"%@`?:#")
_UNUSUAL = re.compile(r"[^\n\x20-\x7e]")  # tabs, CR, controls, anything beyond ASCII
_MAX_KEY = 1000  # YAML's implicit keys end at 1024 characters
_DOCUMENT_START = re.compile(r"---(?: |$)")
_STR = "tag:yaml.org,2002:str"
_UNSEEN = object()
_NESTED = object()  # a line whose value is not on it
# Lines without content, and lines that end a document or are directives (more YAML than
# this reader reads): tuples, as a line's (indentation, text) otherwise is, never equal to one.
_BLANK = (-1, "blank")
_MISPLACED = (-1, "misplaced")
# How many plain scalars (with their values) and lines (with what they mean) are kept.
# A full line table takes no more until the next document empties it: grown by every
# line of a 100,000-line document, emptying it was one free holding the lock ~10 ms.
_RECENT = 4096
# One regular-expression search or split over a whole big document is one C call holding
# the interpreter lock (13 ms for 100,000 addresses, while a reload thread keeps the
# server from answering); over slices this long, the lock changes hands in between.
_SLICE = 1 << 16
# A `key: value` or `key:` line this reader takes: the key a plain scalar without
# indicators, colons, comments or flow characters, and without trailing blanks (the line
# is already stripped of leading ones and trailing ones).
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
        # The resolver's patterns by first character, tried here in its own order without
        # its per-call set-up (which costs more than the patterns: 30,000 addresses start
        # with a digit); None when it has wildcard or path resolvers, and is asked itself.
        self._patterns: dict[str, list[tuple[str, re.Pattern[str]]]] | None = (
            dict(resolvers) if None not in resolvers and not loader.yaml_path_resolvers
            else None)
        self._recent: dict[str, Any] = {}

    def value(self, text: str) -> Any:
        """The Python value of the plain scalar `text`."""
        patterns = self._patterns
        if patterns is not None and text[0] not in patterns:
            return text
        recent = self._recent.get(text, _UNSEEN)
        if recent is not _UNSEEN:
            return recent
        tag = self._tag(text)
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

    def _tag(self, text: str) -> str:
        """The tag the loader's resolver gives the plain scalar `text` (not empty)."""
        if self._patterns is None:
            return str(self._loader.resolve(yaml.ScalarNode, text, (True, False)))
        for tag, pattern in self._patterns[text[0]]:
            if pattern.match(text):
                return tag
        return _STR


class PlainReader:
    """Reads one document's text, as `read` describes; one per loader class."""

    def __init__(self, loader: type[Any]) -> None:
        self._scalars = _Scalars(loader)
        # What recent lines meant: whole lines, then their text without the indentation
        # as a mapping entry or a sequence item. Manifests repeat most of their lines
        # (`kind: Service`, `  - name: http`), and reading one anew takes string
        # operations, a regular expression and the resolver: remembered, the reader takes
        # a third less time for 20,000 documents.
        self._lines: dict[str, tuple[int, str]] = {}
        self._entries: dict[str, tuple[Any, Any]] = {}
        self._items: dict[str, tuple[int, str, Any]] = {}

    def read(self, text: str) -> list[Any] | None:
        """[value] for a document, [] for text that holds none, None when not plain.

        `text` is one document as `documents.split` cuts them: it may start with `---`,
        and no other line does.
        """
        if _unusual(text):
            return None
        for table in (self._lines, self._entries, self._items):
            if len(table) >= _RECENT:  # checked per document, not per line remembered
                table.clear()
        lines = _lines(text)
        content: list[tuple[int, str]] = []
        try:
            return self._read(lines, content)
        finally:
            # Taken apart in steps: a 100,000-address document's lines, freed whole when
            # PyYAML has to read it instead, held the interpreter lock for 8 ms.
            if len(lines) > STEP:
                empty(content)
                empty(lines)

    def _read(self, lines: list[str], content: list[tuple[int, str]]) -> list[Any] | None:
        started = _DOCUMENT_START.match(lines[0]) is not None
        if started:
            rest = lines[0][3:].lstrip(" ")
            if rest and not rest.startswith("#"):
                return None
        known = self._lines
        for line in itertools.islice(lines, 1 if started else 0, None):
            meaning = known.get(line) or self._line(line)
            if meaning is _MISPLACED:
                return None
            if meaning is not _BLANK:
                content.append(meaning)
        if not content:
            return [None] if started else []
        try:
            value, end = self._node(content, 0, content[0][0])
        # PyYAML says what is wrong with it (ValueError: a number Python cannot hold).
        except (_NotPlain, RecursionError, ValueError):
            return None
        return [value] if end == len(content) else None

    def _line(self, line: str) -> tuple[int, str]:
        """A line as (indentation, text without it and trailing blanks); _BLANK for a
        blank or comment line, _MISPLACED for a directive or document marker."""
        stripped = line.lstrip(" ")
        if not stripped or stripped[0] == "#":
            meaning = _BLANK
        elif line[0] in "-.%" and line.startswith(("---", "...", "%")):
            meaning = _MISPLACED
        else:
            meaning = (len(line) - len(stripped), stripped.rstrip(" "))
        if len(self._lines) < _RECENT:
            self._lines[line] = meaning
        return meaning

    def _node(self, lines: list[tuple[int, str]], i: int, indent: int) -> tuple[Any, int]:
        """The block mapping or sequence starting at line `i`, at `indent`."""
        text = lines[i][1]
        if text == "-" or text.startswith("- "):
            return self._sequence(lines, i, indent)
        return self._mapping(lines, i, indent)

    def _sequence(self, lines: list[tuple[int, str]], i: int, indent: int
                  ) -> tuple[list[Any], int]:
        items = []
        known = self._items
        end = len(lines)
        while i < end:
            at, text = lines[i]
            if at != indent:
                if at < indent:
                    break  # the sequence is over; whatever holds it reads on
                raise _NotPlain
            item = known.get(text)  # only `- ` lines are known
            if item is None:
                if not text.startswith("- "):
                    if text == "-":
                        raise _NotPlain
                    break  # as above
                item = self._item(text)
            offset, rest, value = item
            if value is _NESTED:
                lines[i] = (indent + offset, rest)  # a compact nested node: it starts here
                value, i = self._node(lines, i, indent + offset)
            else:
                i += 1  # a line deeper next ends the reading
            items.append(value)
        return items, i

    def _item(self, text: str) -> tuple[int, str, Any]:
        """What a `- ` line holds after the dash: its offset from the dash and its text,
        and its scalar value or _NESTED when a mapping or sequence starts there."""
        rest = text[2:].lstrip(" ")
        nested = rest.startswith("- ") or _KEY_LINE.fullmatch(rest) is not None
        item = (len(text) - len(rest), rest, _NESTED if nested else self._scalar(rest))
        if len(self._items) < _RECENT:
            self._items[text] = item
        return item

    def _mapping(self, lines: list[tuple[int, str]], i: int, indent: int
                 ) -> tuple[dict[Any, Any], int]:
        mapping: dict[Any, Any] = {}
        known = self._entries
        end = len(lines)
        while i < end:
            at, text = lines[i]
            if at != indent:
                if at < indent:
                    break
                raise _NotPlain
            key, value = known.get(text) or self._entry(text)
            i += 1
            if value is _NESTED:
                value = None
                if i < end:
                    below, first = lines[i]
                    if below > indent or (below == indent and first.startswith("- ")):
                        value, i = self._node(lines, i, below)  # the same indent: `- ` items
            mapping[key] = value  # a line deeper after a scalar ends the reading
        return mapping, i

    def _entry(self, text: str) -> tuple[Any, Any]:
        """The key of a `key: value` line and its scalar value, or _NESTED when the value
        is on the lines below (or is null)."""
        line = _KEY_LINE.fullmatch(text)
        if line is None or len(line[1]) > _MAX_KEY:
            raise _NotPlain
        key = self._scalars.value(line[1])
        rest = line[2]
        entry = (key, self._scalar(rest) if rest and rest[0] != "#" else _NESTED)
        if len(self._entries) < _RECENT:
            self._entries[text] = entry
        return entry

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
