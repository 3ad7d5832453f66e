"""The query log: CoreDNS's `log` plugin line, byte for byte, or the same fields as JSON.

The default line is CoreDNS's common log format, written to standard output with the
`[INFO] ` prefix and no timestamp (CoreDNS leaves that to journald or the container
runtime):

    [INFO] 127.0.0.1:52413 - 4711 "A IN web.default.svc.cluster.local. udp 58 false 512"
    NOERROR qr,aa,rd 106 0.000061s

(one line in the log).

Every value is CoreDNS's (`plugin/pkg/replacer`, `request`): the name lowercased and
escaped as miekg/dns writes it, the buffer size 65535 over TCP and at least 512 over
UDP, the flags set in the reply in the order qr,aa,tc,rd,ra,z,ad,cd, the duration in
seconds in Go's shortest fixed notation.

Logging never holds up an answer: the event loop only appends a tuple of references to a
bounded queue, and a thread formats and writes the lines. When the thread falls behind
(a slow terminal, a full pipe) and the queue is full, new entries are dropped and counted
(`clusterdns_query_log_dropped_total`), and the thread says how many when it catches up.
"""

from __future__ import annotations

import collections
import json
import logging
import os
import threading
import time
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, NamedTuple

from .metrics import RCODE_NAMES

log = logging.getLogger(__name__)

QUEUE_LIMIT = 10_000  # entries waiting for the writer; past this, new ones are dropped
IDLE_SECONDS = 0.02  # how long the writer sleeps when there is nothing to write
TEXT, JSON = "text", "json"
FORMATS = (TEXT, JSON)

# miekg/dns TypeToString, by number.
TYPE_NAMES = {
    0: "None", 1: "A", 2: "NS", 3: "MD", 4: "MF", 5: "CNAME", 6: "SOA", 7: "MB", 8: "MG",
    9: "MR", 10: "NULL", 12: "PTR", 13: "HINFO", 14: "MINFO", 15: "MX", 16: "TXT", 17: "RP",
    18: "AFSDB", 19: "X25", 20: "ISDN", 21: "RT", 23: "NSAP-PTR", 24: "SIG", 25: "KEY",
    26: "PX", 27: "GPOS", 28: "AAAA", 29: "LOC", 30: "NXT", 31: "EID", 32: "NIMLOC",
    33: "SRV", 34: "ATMA", 35: "NAPTR", 36: "KX", 37: "CERT", 39: "DNAME", 41: "OPT",
    42: "APL", 43: "DS", 44: "SSHFP", 45: "IPSECKEY", 46: "RRSIG", 47: "NSEC", 48: "DNSKEY",
    49: "DHCID", 50: "NSEC3", 51: "NSEC3PARAM", 52: "TLSA", 53: "SMIMEA", 55: "HIP",
    56: "NINFO", 57: "RKEY", 58: "TALINK", 59: "CDS", 60: "CDNSKEY", 61: "OPENPGPKEY",
    62: "CSYNC", 63: "ZONEMD", 64: "SVCB", 65: "HTTPS", 99: "SPF", 100: "UINFO", 101: "UID",
    102: "GID", 103: "UNSPEC", 104: "NID", 105: "L32", 106: "L64", 107: "LP", 108: "EUI48",
    109: "EUI64", 128: "NXNAME", 249: "TKEY", 250: "TSIG", 251: "IXFR", 252: "AXFR",
    253: "MAILB", 254: "MAILA", 255: "ANY", 256: "URI", 257: "CAA", 258: "AVC",
    260: "AMTRELAY", 261: "RESINFO", 32768: "TA", 32769: "DLV", 65535: "Reserved",
}
# miekg/dns ClassToString.
CLASS_NAMES = {1: "IN", 2: "CS", 3: "CH", 4: "HS", 254: "NONE", 255: "ANY"}
# Bytes miekg/dns writes with a backslash before them in a name's text.
_SPECIAL = frozenset(b".'@;()\"\\ ")
_FLAGS = ((0x8000, "qr"), (0x0400, "aa"), (0x0200, "tc"), (0x0100, "rd"), (0x0080, "ra"),
          (0x0040, "z"), (0x0020, "ad"), (0x0010, "cd"))
TCP_BUFSIZE = 65535  # what CoreDNS reports as the buffer size of any TCP query
MIN_BUFSIZE = 512


class Entry(NamedTuple):
    """One answered query as the event loop hands it over: references, nothing formatted.

    `question` is the query's first question as sent (name, type, class), `edns` its
    (UDP size, DO bit) or None.
    """

    host: str
    port: int
    tcp: bool
    id: int
    question: bytes
    edns: tuple[int, bool] | None
    request_size: int
    reply: bytes
    seconds: float
    rcode: int
    wall: float


def fields(entry: Entry) -> dict[str, Any]:
    """The values of one line, as CoreDNS's replacer computes them."""
    question = entry.question
    name, qtype, qclass = ".", "", ""
    if question:
        name = name_text(question[:-4])
        number = int.from_bytes(question[-4:-2], "big")
        klass = int.from_bytes(question[-2:], "big")
        qtype = TYPE_NAMES.get(number, f"TYPE{number}")
        qclass = CLASS_NAMES.get(klass, f"CLASS{klass}")
    size, do = entry.edns if entry.edns is not None else (0, False)
    return {
        "client_ip": entry.host,
        "client_port": entry.port,
        "id": entry.id,
        "qtype": qtype,
        "qclass": qclass,
        "qname": name,
        "proto": "tcp" if entry.tcp else "udp",
        "request_size": entry.request_size,
        "do": do,
        "bufsize": TCP_BUFSIZE if entry.tcp else max(size, MIN_BUFSIZE),
        "rcode": RCODE_NAMES.get(entry.rcode, str(entry.rcode)),
        "rflags": reply_flags(entry.reply),
        "response_size": len(entry.reply),
        "duration_seconds": go_seconds(entry.seconds),
    }


def text_line(entry: Entry) -> str:
    """CoreDNS's default (common) log line, with its `[INFO] ` prefix."""
    f = fields(entry)
    remote = f"[{entry.host}]" if ":" in entry.host else entry.host
    return (f'[INFO] {remote}:{entry.port} - {f["id"]} "{f["qtype"]} {f["qclass"]} '
            f'{f["qname"]} {f["proto"]} {f["request_size"]} {str(f["do"]).lower()} '
            f'{f["bufsize"]}" {f["rcode"]} {f["rflags"]} {f["response_size"]} '
            f'{duration_text(f["duration_seconds"])}')


def json_line(entry: Entry) -> str:
    """The same values as one JSON object, with the field names of CoreDNS's JSON log
    (`client_ip`, `qname`, `qtype`, `rcode`, `duration_seconds`) and the common line as
    `msg`."""
    record = {
        "time": datetime.fromtimestamp(entry.wall, UTC).isoformat(timespec="milliseconds"),
        "level": "INFO",
        "plugin": "log",
        "msg": text_line(entry).removeprefix("[INFO] "),
        **fields(entry),
    }
    return json.dumps(record, separators=(",", ":"))


def name_text(wire: bytes) -> str:
    """An uncompressed wire name as CoreDNS logs it: miekg/dns's escapes, lowercased."""
    out = []
    offset = 0
    while wire[offset]:
        length = wire[offset]
        for byte in wire[offset + 1:offset + 1 + length]:
            if byte in _SPECIAL:
                out.append("\\" + chr(byte))
            elif byte < 0x20 or byte > 0x7E:
                out.append(f"\\{byte:03d}")
            else:
                out.append(chr(byte))
        out.append(".")
        offset += 1 + length
    return "".join(out).lower() or "."


def reply_flags(reply: bytes) -> str:
    """The header flags set in `reply`, in CoreDNS's order; `-` when none is."""
    flags = int.from_bytes(reply[2:4], "big") if len(reply) >= 4 else 0
    return ",".join(name for bit, name in _FLAGS if flags & bit) or "-"


def go_seconds(seconds: float) -> float:
    """`seconds` as Go's Duration.Seconds() gives it: whole nanoseconds, then divided."""
    nanoseconds = max(0, round(seconds * 1e9))
    return nanoseconds // 1_000_000_000 + (nanoseconds % 1_000_000_000) / 1e9


def duration_text(seconds: float) -> str:
    """Go's strconv.AppendFloat(secs, 'f', -1, 64) + "s": the shortest digits that read
    back as the same float, never in exponent form (0.000012s, not 1.2e-05s)."""
    return format(Decimal(repr(seconds)).normalize(), "f") + "s"


class QueryLog:
    """Lines for answered queries, written by a thread of their own (see module docstring)."""

    def __init__(self, json_format: bool = False, fd: int = 1,
                 capacity: int = QUEUE_LIMIT) -> None:
        self.format = json_line if json_format else text_line
        self.fd = fd
        self.capacity = capacity
        self.dropped = 0  # entries the queue had no room for (counted on the event loop)
        self.unwritten = 0  # lines the writer could not write (counted on its thread)
        self._queue: collections.deque[Entry] = collections.deque()
        self._stop = threading.Event()
        self._told = 0  # drops already reported in the log
        self._thread = threading.Thread(target=self._write_all, name="clusterdns-querylog",
                                        daemon=True)

    def start(self) -> None:
        self._thread.start()

    def add(self, entry: Entry) -> None:
        """Queue `entry` for writing, or count it dropped when the queue is full.

        Called on the event loop: a length check and an append, nothing that waits.
        """
        if len(self._queue) >= self.capacity:
            self.dropped += 1
            return
        self._queue.append(entry)

    def lost(self) -> int:
        """Lines that never reached standard output."""
        return self.dropped + self.unwritten

    def close(self, timeout: float = 2.0) -> None:
        """Write what is queued (for at most `timeout` seconds) and stop the thread."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _write_all(self) -> None:
        queue = self._queue
        while True:
            lines = []
            while queue and len(lines) < 1000:
                lines.append(self.format(queue.popleft()))
            if lines:
                self._write("\n".join(lines) + "\n")
            elif self._stop.is_set():
                return
            else:
                self._report_drops()
                self._stop.wait(IDLE_SECONDS)

    def _write(self, text: str) -> None:
        data = text.encode("utf-8", "backslashreplace")
        try:
            while data:
                data = data[os.write(self.fd, data):]
        except OSError as exc:  # standard output closed: the lines are lost, not the server
            self.unwritten += text.count("\n")
            log.debug("query log: %s", exc)
            time.sleep(IDLE_SECONDS)

    def _report_drops(self) -> None:
        dropped = self.dropped
        if dropped > self._told:
            log.warning("query log: %d line(s) dropped, the writer fell behind",
                        dropped - self._told)
            self._told = dropped
