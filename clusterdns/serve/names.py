"""Domain names as wire bytes: read with every compression rule checked, shown as text.

Names stay bytes from the packet to the reply, so what a client sent is what it gets
back, whatever the labels hold (a dot, a backslash, UTF-8, invalid UTF-8): there is no
IDNA or text round trip to lose or refuse anything. Text is only for the zone lookup, the
log and the cache key, and it is exact both ways: every byte outside letters, digits,
`-`, `_` and `*` is written `\\DDD`, so a label's dot can never pass for a separator.
"""

from __future__ import annotations

from functools import lru_cache

MAX_NAME = 255  # octets on the wire, root label included (RFC 1035 3.1)
MAX_LABEL = 63
HEADER_SIZE = 12
ROOT = b"\x00"
# A name has at most 127 labels, so a longer chain of pointers is never needed.
MAX_POINTERS = 127

_PLAIN = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_*")
_TEXT = tuple(chr(b) if b in _PLAIN else f"\\{b:03d}" for b in range(256))


class BadName(ValueError):
    """The bytes or the text are not a domain name."""


def read(data: bytes, offset: int) -> tuple[bytes, int]:
    """The name at `offset`, uncompressed, and the offset just past it in place.

    A pointer must point back, into the message after the header, and before the start
    of the labels that hold it: so every jump goes strictly backwards and a loop is
    impossible. Reserved label types (0x40, 0x80) and names over 255 octets are refused.
    """
    parts: list[bytes] = []
    size = 0
    end = 0  # where the name ends in place: set at the first pointer
    start = offset  # where the current run of labels began
    pointers = 0
    length_of_data = len(data)
    while True:
        if offset >= length_of_data:
            raise BadName("name runs past the end of the message")
        length = data[offset]
        if length == 0:
            size += 1
            if size > MAX_NAME:
                raise BadName("name longer than 255 octets")
            parts.append(ROOT)
            return b"".join(parts), end or offset + 1
        if length <= MAX_LABEL:
            label_end = offset + 1 + length
            if label_end > length_of_data:
                raise BadName("label runs past the end of the message")
            size += 1 + length
            if size > MAX_NAME:
                raise BadName("name longer than 255 octets")
            parts.append(data[offset:label_end])
            offset = label_end
            continue
        if length < 0xC0:
            raise BadName(f"reserved label type {length >> 6:#x}")
        if offset + 1 >= length_of_data:
            raise BadName("pointer runs past the end of the message")
        target = ((length & 0x3F) << 8) | data[offset + 1]
        if not HEADER_SIZE <= target < start:
            raise BadName(f"pointer to {target} from {offset} does not point back")
        pointers += 1
        if pointers > MAX_POINTERS:
            raise BadName("too many pointers")
        if not end:
            end = offset + 2
        offset = start = target


def labels(name: bytes) -> list[bytes]:
    """The labels of a wire name, root excluded."""
    out = []
    offset = 0
    while name[offset]:
        end = offset + 1 + name[offset]
        out.append(name[offset + 1:end])
        offset = end
    return out


def suffixes(name: bytes) -> list[int]:
    """Where each label of a wire name starts: every suffix a pointer may stand for."""
    out = []
    offset = 0
    while name[offset]:
        out.append(offset)
        offset += 1 + name[offset]
    return out


def is_at_or_below(name: bytes, ancestor: bytes) -> bool:
    """Whether lowercase wire `name` is `ancestor` or a name below it (label-aligned)."""
    if ancestor == ROOT:
        return True
    if not name.endswith(ancestor):
        return False
    cut = len(name) - len(ancestor)
    return cut == 0 or cut in suffixes(name)


def to_text(name: bytes) -> str:
    """Presentation form with a trailing dot; the root is `.`."""
    if name == ROOT:
        return "."
    return "".join("".join(_TEXT[b] for b in label) + "." for label in labels(name))


@lru_cache(maxsize=4096)
def from_text(text: str) -> bytes:
    """The wire form of a name in presentation form (`\\DDD` and `\\X` escapes read).

    Cached: the zone's names are packed over and over. Small, because clients choose the
    names too: a flood of long random ones may cost at most a few MiB here.
    """
    if text in (".", ""):
        return ROOT
    out = bytearray()
    label = bytearray()
    i = 0
    while i < len(text):
        char = text[i]
        if char == ".":
            _end_label(out, label)
            label = bytearray()
        elif char == "\\":
            digits = text[i + 1:i + 4]
            if len(digits) == 3 and digits.isdigit() and int(digits) < 256:
                label.append(int(digits))
                i += 3
            elif i + 1 < len(text):
                label.extend(text[i + 1].encode())
                i += 1
            else:
                raise BadName(f"{text!r} ends in a backslash")
        else:
            label.extend(char.encode())
        i += 1
    if label:
        _end_label(out, label)
    out.append(0)
    if len(out) > MAX_NAME:
        raise BadName(f"{text!r} is longer than 255 octets")
    return bytes(out)


def _end_label(out: bytearray, label: bytearray) -> None:
    if not label or len(label) > MAX_LABEL:
        raise BadName(f"label of {len(label)} octets")
    out.append(len(label))
    out.extend(label)
