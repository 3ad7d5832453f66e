"""`clusterdns explain` from a running server, as TXT records of a debug name.

A TXT question for `NAME.explain.clusterdns.` (or `NAME.TYPE.explain.clusterdns.` for
another type than A) from a loopback client gets the lines `clusterdns explain NAME TYPE`
prints, one TXT record each, in order, about the zone being served at that moment. Any
other client asks that name like any other: forwarded, or REFUSED. The replies depend on
the client's address, so they are never stored for the fast path. No HTTP listener is
needed, and `dig` is enough to ask.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from ..zone.answer import Reply
from ..zone.build import Zone
from ..zone.explain import explain
from ..zone.records import ANY, NOERROR, TXT, TYPE_NAMES, A, Record, fqdn
from .upstream import Forwarder

SUFFIX = ".explain.clusterdns."
TXT_STRING_LIMIT = 255  # bytes in one character-string (RFC 1035 3.3)
_TYPES = {name.lower(): number for number, name in TYPE_NAMES.items()}


def reply(zone: Zone, qname: str, qtype: int, peer: tuple[Any, ...],
          forwarder: Forwarder | None) -> Reply | None:
    """The explanation of the name `qname` asks about, for a loopback client asking
    under `explain.clusterdns.`; None for every other question."""
    name = fqdn(qname)
    if not name.endswith(SUFFIX) or not _loopback(str(peer[0])):
        return None
    asked, qtype_asked = name[: -len(SUFFIX)], A
    head, _, last = asked.rpartition(".")
    if head and last in _TYPES:
        asked, qtype_asked = head, _TYPES[last]
    if qtype not in (TXT, ANY):
        return Reply(NOERROR)
    upstreams = [str(u) for u in forwarder.upstreams] if forwarder else []
    lines = explain(zone, asked, qtype_asked, upstreams).lines()
    return Reply(NOERROR, tuple(Record(name, TXT, 0, chunk)
                                for line in lines for chunk in _chunks(line)))


def _loopback(host: str) -> bool:
    try:
        address = ipaddress.ip_address(host.partition("%")[0])
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return (mapped or address).is_loopback


def _chunks(line: str) -> list[str]:
    """`line` cut into pieces that each fit one TXT character-string."""
    pieces = [""]
    for char in line:
        if len((pieces[-1] + char).encode()) > TXT_STRING_LIMIT:
            pieces.append("")
        pieces[-1] += char
    return pieces
