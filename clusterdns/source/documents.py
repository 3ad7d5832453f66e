"""Manifest text into YAML or JSON values, with Kubernetes' meaning and within bounds.

kubectl reads YAML through sigs.k8s.io/yaml, and PyYAML differs from it in ways that
break real folders: a bare `=` (an enum value in kube-prometheus's CRDs) is PyYAML's
`value` tag, which it cannot construct; here it is the string "=". A syntax error names
the file, line and column (PyYAML would say `<unicode string>`), with a hint for the two
usual causes: tab indentation and unrendered `{{ }}` templates.

Every input is bounded: a file is read only if it is a regular file and at most
`max_bytes` long; a document whose YAML aliases would expand past `MAX_EXPANDED_VALUES`
values is refused (go-yaml refuses "excessive aliasing" too), and so is nesting deeper
than Python can follow.
"""

from __future__ import annotations

import errno
import itertools
import json
import os
import re
import stat
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, AnyStr

import yaml

from ..freeing import STEP, empty
from ..shards import Shards
from .plain_yaml import PlainReader
from .problems import ManifestError

DEFAULT_MAX_FILE_BYTES = 64 << 20
MAX_EXPANDED_VALUES = 1_000_000
# A line that starts a YAML document. YAML forbids such a line inside any scalar, so the
# text from one to the next is exactly one document.
DOCUMENT_START = re.compile(r"^---(?=[ \t\r]|$)", re.MULTILINE)
_DOCUMENT_START_BYTES = re.compile(DOCUMENT_START.pattern.encode(), re.MULTILINE)

try:  # the C loader is about eight times faster on large folders
    _Base: Any = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - PyYAML built without libyaml
    _Base = yaml.SafeLoader


class KubernetesLoader(_Base):  # type: ignore[misc,valid-type]
    """PyYAML's safe loader, reading `=` as the string it is in Kubernetes."""


KubernetesLoader.add_constructor("tag:yaml.org,2002:value",
                                 yaml.constructor.SafeConstructor.construct_yaml_str)


class _KeepingLoader(KubernetesLoader):
    """Hands the composed node tree over instead of dropping it: see `_release`."""

    def construct_document(self, node: yaml.Node) -> Any:
        """PyYAML's construction of one document, its bookkeeping let go in steps.

        PyYAML maps every node of the document to its value and keeps a finished
        generator per collection; for 100,000 addresses that dict's growth, its end and
        the generators' end each held the interpreter lock for 4-7 ms.
        """
        self.kept.append(node)
        objects = self.constructed_objects = Shards()
        data = self.construct_object(node)
        while self.state_generators:
            generators, self.state_generators = self.state_generators, []
            for generator in generators:
                for _ in generator:
                    pass
            empty(generators)
        self.constructed_objects, self.recursive_objects = {}, {}
        self.deep_construct = False
        objects.release()
        return data


# Freeing a big document's node tree at once is one cascade of deallocations in C, with
# the interpreter lock held throughout: 75 ms for 100,000 addresses, during which a reload
# thread keeps the server from answering. Past this size the tree is taken apart in steps.
LARGE_DOCUMENT = 1 << 20
_PLAIN = PlainReader(KubernetesLoader)


class Unreadable(Exception):
    """A document that cannot be used, with the message to show."""


def read_bytes(path: Path, max_bytes: int = DEFAULT_MAX_FILE_BYTES) -> bytes:
    """The contents of `path`, if it is a regular file of at most `max_bytes` bytes.

    Opened non-blocking, so a FIFO put in place after the folder was listed cannot hang
    the reader; checked again on the open file, which is what will be read. Bytes, not
    text: a reload decodes only the documents that changed, a piece at a time (one
    decode of a 15 MB file held the interpreter lock for 10-60 ms while the server
    waited to answer).
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise Unreadable(f"cannot read: {exc.strerror or exc}") from None
    with os.fdopen(fd, "rb") as file:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise Unreadable("cannot read: not a regular file")
        if info.st_size > max_bytes:
            raise Unreadable(_too_big(info.st_size, max_bytes))
        try:
            data = file.read(max_bytes + 1)
        except OSError as exc:
            if exc.errno == errno.EAGAIN:
                raise Unreadable("cannot read: not a regular file") from None
            raise Unreadable(f"cannot read: {exc.strerror or exc}") from None
    if len(data) > max_bytes:
        raise Unreadable(_too_big(len(data), max_bytes))
    return data


def decode(data: bytes, start: int = 0) -> str:
    """The text of `data`, the bytes of a file from offset `start`: UTF-8, and a byte
    order mark is dropped where the file begins."""
    try:
        return data.decode("utf-8-sig" if start == 0 else "utf-8")
    except UnicodeDecodeError as exc:
        raise Unreadable(f"cannot read: not UTF-8 ({exc.reason} at byte "
                         f"{start + exc.start})") from None


def _unconstructible(exc: ValueError) -> str:
    """A value the parser read but Python cannot hold, such as a 5,000-digit number."""
    return f"a value clusterdns cannot read ({str(exc).split(';')[0]})"


def _too_big(size: int, limit: int) -> str:
    return (f"{size:,} bytes, over the {limit:,}-byte limit for one file "
            "(--max-file-size); not read")


def split(text: AnyStr) -> Iterator[AnyStr]:
    """`text` (or a file's bytes) cut at every line that starts a document (the first
    piece may hold none).

    `find` rather than a regular expression over the whole text: a regex search holds
    the interpreter lock from one match to the next, tens of milliseconds in a big file,
    while the server's answers wait. Pieces are made as they are read, so each is freed
    after its use, not all 100,000 of a big file at once.
    """
    start, marker = ((DOCUMENT_START, "\n---") if isinstance(text, str)
                     else (_DOCUMENT_START_BYTES, b"\n---"))
    bounds = [0]
    line = 0  # the start of a line that may start a document
    while line != -1:
        if start.match(text, line):
            bounds.append(line)
        found = text.find(marker, line)  # type: ignore[arg-type]
        line = found + 1 if found != -1 else -1
    bounds.append(len(text))
    for a, b in itertools.pairwise(bounds):
        yield text[a:b]


def load_yaml(text: str) -> list[Any]:
    """Every document of YAML `text` (one piece of `split`, or none); raises
    yaml.YAMLError or Unreadable. Plain block YAML is read the fast way (`plain_yaml`)."""
    values = _PLAIN.read(text)
    if values is None:
        values = _load_all(text)
    elif len(text) <= MAX_EXPANDED_VALUES:
        return values  # no aliases, and each value takes a character at least: in bounds
    for value in values:
        check_expansion(value)
    return values


def _load_all(text: str) -> list[Any]:
    if len(text) > LARGE_DOCUMENT:
        return _load_large(text)
    try:
        return list(yaml.load_all(text, Loader=KubernetesLoader))
    except RecursionError:
        raise Unreadable("nested deeper than clusterdns can read") from None
    except ValueError as exc:  # yaml.YAMLError is not one
        raise Unreadable(_unconstructible(exc)) from None


def _load_large(text: str) -> list[Any]:
    """`_load_all` for a big text: its node trees are freed a few thousand nodes at a time."""
    loader = _KeepingLoader(text)
    loader.kept = []
    try:
        values = []
        while loader.check_data():
            values.append(loader.get_data())
        return values
    except RecursionError:
        raise Unreadable("nested deeper than clusterdns can read") from None
    except ValueError as exc:  # yaml.YAMLError is not one
        raise Unreadable(_unconstructible(exc)) from None
    finally:
        loader.dispose()
        _release(loader.kept)


def _release(nodes: list[Any]) -> None:
    """Free node trees one node at a time, letting other threads run every few thousand:
    a node's children are taken from it before it goes, so no free cascades."""
    freed = 0
    while nodes:
        node = nodes.pop()
        value = node.value
        if isinstance(value, list):
            node.value = None
            for item in value:
                nodes.extend(item) if isinstance(item, tuple) else nodes.append(item)
        freed += 1
        if freed % STEP == 0:
            time.sleep(0)


def release(values: list[Any]) -> None:
    """Empty `values`, freeing the documents' values in it one container at a time.

    A loaded document is a tree of dicts and lists; freed whole, 100,000 addresses are one
    cascade of deallocations holding the interpreter lock for ~10 ms. Here every container
    lets go of children that `values` still holds, so each frees alone, and the lock can
    change hands between any two. Nothing in the trees is changed: parts of them may live
    on in what was parsed from them.
    """
    freed = 0
    while values:
        item = values.pop()
        if type(item) is dict:
            values.extend(item.values())
        elif type(item) is list:
            values.extend(item)
        freed += 1
        if freed % STEP == 0:
            time.sleep(0)


def load_json(text: str) -> Any:
    """The value of JSON `text`; raises Unreadable with the reason."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise Unreadable(f"invalid JSON at line {exc.lineno}, column {exc.colno}: "
                         f"{exc.msg}") from None
    except RecursionError:
        raise Unreadable("invalid JSON: nested deeper than clusterdns can read") from None
    except ValueError as exc:
        raise Unreadable(_unconstructible(exc)) from None


def check_expansion(value: Any, limit: int = MAX_EXPANDED_VALUES) -> None:
    """Refuse a value that YAML aliases make larger than `limit` values when expanded.

    Aliases share one object, so loading is cheap; anything that walks or prints the
    value would expand it (a "billion laughs" document), so it is refused here, in time
    proportional to `limit` at most.
    """
    seen = 0
    stack = [value]
    while stack:
        item = stack.pop()
        seen += 1
        if seen > limit:
            raise Unreadable(f"expands to more than {limit:,} values through YAML aliases; "
                             "not read")
        if isinstance(item, Mapping):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def yaml_error(exc: yaml.YAMLError, text: str) -> str:
    """A YAML error as a user can act on it: line, column, problem and a hint."""
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).split("\n")[0]
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
    message = f"invalid YAML{where}: {problem}"
    if mark is not None and _char_at(text, mark.index) == "\t":
        message += " (a tab: YAML indents with spaces only)"
    elif "{{" in text:
        message += (" (this looks like an unrendered template: render it first, e.g. "
                    "`helm template NAME CHART | clusterdns check -`)")
    return message


def _char_at(text: str, index: int) -> str:
    return text[index] if 0 <= index < len(text) else ""


def documents(text: str, json_file: bool) -> Iterator[tuple[int, Any]]:
    """(1-based index, value) for each document of a whole file.

    Raises ManifestError-ready `Unreadable` for the first document that cannot be read,
    after yielding the ones before it.
    """
    if json_file:
        yield 1, load_json(text)
        return
    index = 0
    try:
        for index, value in enumerate(yaml.load_all(text, Loader=KubernetesLoader), start=1):
            check_expansion(value)
            yield index, value
    except yaml.YAMLError as exc:
        raise _AtDocument(index + 1, yaml_error(exc, text)) from None
    except RecursionError:
        raise _AtDocument(index + 1, "nested deeper than clusterdns can read") from None
    except ValueError as exc:
        raise _AtDocument(index + 1, _unconstructible(exc)) from None
    except Unreadable as exc:
        raise _AtDocument(index, str(exc)) from None


class _AtDocument(Unreadable):
    """An `Unreadable` that knows which document it is about."""

    def __init__(self, doc: int, message: str) -> None:
        super().__init__(message)
        self.doc = doc


def error_at(file: str, exc: Unreadable, doc: int = 0) -> ManifestError:
    """The ManifestError for an unreadable file or document."""
    return ManifestError(file, getattr(exc, "doc", doc), "", str(exc))
