"""Zone transfer to secondaries: AXFR and IXFR over TCP, the journal behind IXFR, NOTIFY.

The TCP path hands every AXFR and IXFR question here (`Transfers.claims`), and
`Responder.swap` tells `Transfers.swapped` of every new zone. Only clients in
`--allow-transfer` get a zone; everyone else gets REFUSED, as does every transfer over UDP
(answered in `answer`, never here: a zone does not fit in a datagram).

A transfer streams: records are packed as the zone's names are walked, into messages of
at most 64 KiB written one by one, and the event loop gets a turn every 25 records, so
the other clients' queries keep being answered while 117,000 records go out.
The zone being sent is the one current when the question came, whatever a reload swaps
in meanwhile.

IXFR (RFC 1995): a secondary already at the current serial gets the single SOA; one whose
serial the journal holds gets the condensed difference from it; any other the whole zone
in IXFR's AXFR-like form. Each new zone's difference from the previous one is computed
off the loop and added to the journal before NOTIFY goes out, so the secondaries NOTIFY
wakes find their version in it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from ..zone import transfer
from ..zone.build import Zone
from ..zone.journal import Journal
from ..zone.records import AXFR, FORMERR, IXFR, REFUSED, SOA, TYPE_NAMES, Record, fqdn
from .access import ClientRanges
from .config import Config
from .notify import Notifier, address_text
from .reload import in_daemon_thread
from .transfer_messages import FIXED as RECORD_FIXED
from .transfer_messages import HEADER, QR_AA, Message

log = logging.getLogger(__name__)

YIELD_EVERY = 25  # records packed between two turns of the event loop (~0.1 ms)
WRITE_TIMEOUT = 30.0  # seconds a secondary may leave a message unread before it is cut off
CATCH_UP_TIMEOUT = 5.0  # seconds an IXFR waits for the newest change to reach the journal
MAX_TRANSFERS = 10  # at once, as BIND's transfers-out; more are REFUSED
RD = 0x0100


@dataclass(frozen=True)
class TransferQuestion:
    """What a transfer needs of the question: who asked for which zone, from which serial."""

    ident: int
    flags: int  # the reply's: QR, AA, the opcode and RD as asked
    qname: str  # lowercase FQDN
    qtype: int
    question: bytes  # as the client sent it, for every message of the reply
    serial: int | None  # IXFR: the serial of the SOA in the authority section


def transfer_type(data: bytes) -> int | None:
    """AXFR or IXFR when `data` is a query for one; None for anything else.

    Reads only the header and the question's type, so ordinary queries pass on at once.
    """
    if len(data) < HEADER.size + 5 or data[2] & 0xF8 or data[4:6] != b"\x00\x01":
        return None
    end = _question_end(data)
    qtype = int.from_bytes(data[end - 4:end - 2], "big") if end else 0
    return qtype if qtype in (AXFR, IXFR) else None


def _question_end(data: bytes) -> int:
    """Where the first question (name, type, class) ends; 0 when it runs past the data."""
    end = HEADER.size
    while end < len(data) and data[end]:
        if data[end] > 63:
            return 0  # a compression pointer or a reserved label type: no question of ours
        end += data[end] + 1
    end += 5
    return end if end <= len(data) else 0


def read_question(data: bytes) -> TransferQuestion | None:
    """The transfer question in `data`; None when it does not parse."""
    end = _question_end(data)
    if not end:
        return None
    ident, flags, _, answers, authority, _ = HEADER.unpack_from(data)
    labels, position = [], HEADER.size
    while data[position]:
        length = data[position]
        labels.append(data[position + 1:position + 1 + length].decode("ascii", "replace"))
        position += length + 1
    qtype = int.from_bytes(data[end - 4:end - 2], "big")
    serial = None
    if qtype == IXFR:
        with contextlib.suppress(ValueError, IndexError, struct.error):  # then FORMERR
            serial = _authority_serial(data, end, answers, authority)
    return TransferQuestion(ident=ident, flags=QR_AA | (flags & RD), qname=fqdn(".".join(labels)),
                            qtype=qtype, question=data[HEADER.size:end], serial=serial)


def _authority_serial(data: bytes, position: int, answers: int, authority: int) -> int | None:
    """The serial of the first SOA in the authority section: where IXFR carries the
    version the client holds (RFC 1995 3)."""
    for index in range(answers + authority):
        position = _skip_name(data, position)
        rtype, _, _, length = RECORD_FIXED.unpack_from(data, position)
        position += RECORD_FIXED.size
        if position + length > len(data):
            raise ValueError("a record runs past the message")
        if index >= answers and rtype == SOA:
            times = _skip_name(data, _skip_name(data, position))
            if times + 4 > position + length:
                raise ValueError("an SOA without its serial")
            return int.from_bytes(data[times:times + 4], "big")
        position += length
    return None


def _skip_name(data: bytes, position: int) -> int:
    """Where the name at `position` ends, a compression pointer counting as its end."""
    while True:
        length = data[position]
        if length == 0:
            return position + 1
        if length & 0xC0 == 0xC0:
            return position + 2
        if length > 63:
            raise ValueError("reserved label type")
        position += length + 1


class Transfers:
    """The zone as secondaries see it: the current version, its journal, their transfers."""

    def __init__(self, zone: Zone, allowed: ClientRanges,
                 notifier: Notifier | None = None) -> None:
        self.zone = zone
        self.allowed = allowed
        self.notifier = notifier
        self.journal = Journal()
        self.running = 0
        self._swaps: asyncio.Queue[tuple[Zone, Zone]] = asyncio.Queue()
        self._caught_up = asyncio.Event()
        self._caught_up.set()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Follow the reloads, and announce the zone as it is now (RFC 1996 3.10)."""
        allowed = ", ".join(str(n) for n in self.allowed.networks) or "nobody"
        notified = ", ".join(map(address_text, self.notifier.targets)) if self.notifier \
            else "nobody"
        log.info("zone transfer of %s over TCP for %s; NOTIFY to %s",
                 ", ".join(transfer.origins(self.zone)), allowed, notified)
        self._task = asyncio.ensure_future(self._follow())
        self._announce(self.zone)

    async def stop(self) -> None:
        """Stop following reloads and sending NOTIFY; transfers under way finish alone."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self.notifier is not None:
            await self.notifier.close()

    def swapped(self, old: Zone, new: Zone) -> None:
        """`new` replaced `old` (called on the loop by `Responder.swap`)."""
        self.zone = new
        self._caught_up.clear()
        self._swaps.put_nowait((old, new))

    @staticmethod
    def claims(data: bytes) -> bool:
        """Whether `data` is a transfer question, for `stream` rather than the responder."""
        return transfer_type(data) is not None

    async def stream(self, data: bytes, peer: tuple[Any, ...],
                     writer: asyncio.StreamWriter) -> None:
        """Answer the transfer question `data` from `peer` on `writer`, message by message.

        A secondary that stops reading, or goes away, loses its connection; the server
        and the other transfers go on.
        """
        question = read_question(data)
        if question is None:
            return
        zone, client = self.zone, str(peer[0])
        name = TYPE_NAMES[question.qtype]
        if not self.allowed.allows(client) or self.running >= MAX_TRANSFERS or (
                question.qname not in transfer.origins(zone)):
            log.info("transfer: %s %s for %s refused", name, question.qname, client)
            await self._refuse(writer, question, REFUSED)
            return
        if question.qtype == IXFR and question.serial is None:
            await self._refuse(writer, question, FORMERR)  # IXFR carries the client's SOA
            return
        self.running += 1
        started = time.perf_counter()
        try:
            kind, records = await self._records(zone, question)
            messages, count = await self._send(writer, question, records)
        except (ConnectionError, TimeoutError) as exc:
            log.warning("transfer: %s %s to %s cut off: %s", name, question.qname, client,
                        str(exc) or type(exc).__name__)
            writer.close()
            return
        finally:
            self.running -= 1
        log.info("transfer: %s %s serial %d to %s: %s, %d records in %d messages, %.0f ms",
                 name, question.qname, transfer.serial(zone.soa), client, kind, count,
                 messages, (time.perf_counter() - started) * 1000)

    async def _records(self, zone: Zone, question: TransferQuestion
                       ) -> tuple[str, Iterable[Record]]:
        """What to send, and a word on which kind of answer it is."""
        origin = question.qname
        soa = transfer.soa(zone, origin)
        current = transfer.serial(soa)
        if question.qtype == AXFR or question.serial is None:
            return "full", _full(zone, origin, soa)
        if transfer.newer_or_same(question.serial, current):
            return "up to date", (soa,)
        if self.journal.serial != current:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._caught_up.wait(), CATCH_UP_TIMEOUT)
        journal = self.journal
        steps = None
        if journal.serial == current:
            steps = await in_daemon_thread(_incremental, journal, question.serial, origin)
        if steps is None:
            return "full (journal does not reach back)", _full(zone, origin, soa)
        return f"incremental from serial {question.serial}", [soa, *steps, soa]

    async def _send(self, writer: asyncio.StreamWriter, question: TransferQuestion,
                    records: Iterable[Record]) -> tuple[int, int]:
        """Pack `records` into as many messages as they need; (messages, records) sent."""
        message = Message(question.ident, question.flags, question.question, question.qname)
        messages = count = skipped = 0
        for record in records:
            try:
                if not message.add(record):
                    await _write(writer, message.bytes())
                    messages += 1
                    message = message.next()
                    message.add(record)
            except ValueError:
                skipped += 1  # a name no message can hold; answering it fails too
                continue
            count += 1
            if count % YIELD_EVERY == 0:
                await asyncio.sleep(0)
        await _write(writer, message.bytes())
        if skipped:
            log.warning("transfer: %d records of %s left out: their names cannot be "
                        "written in a DNS message", skipped, question.qname)
        return messages + 1, count

    async def _refuse(self, writer: asyncio.StreamWriter, question: TransferQuestion,
                      rcode: int) -> None:
        message = Message(question.ident, (question.flags & ~0x0400) | rcode,
                          question.question, question.qname)
        with contextlib.suppress(ConnectionError, TimeoutError):
            await _write(writer, message.bytes())

    async def _follow(self) -> None:
        """Journal each swap's difference, computed off the loop, then send NOTIFY."""
        while True:
            old, new = await self._swaps.get()
            try:
                change = await in_daemon_thread(transfer.difference, old, new)
                self.journal = self.journal.add(change)
            except Exception:  # a bug here must cost incremental transfers, not reloads
                log.exception("transfer: journaling serial %d failed",
                              transfer.serial(new.soa))
            if self._swaps.empty():
                self._caught_up.set()
            self._announce(new)

    def _announce(self, zone: Zone) -> None:
        if self.notifier is not None:
            self.notifier.notify(transfer.soa(zone, origin) for origin in transfer.origins(zone))


def _incremental(journal: Journal, serial: int, origin: str) -> list[Record] | None:
    """The differences of zone `origin` since `serial`, as IXFR sends them between two
    copies of the current SOA: the old SOA, what was deleted, the new SOA, what was added
    (RFC 1995 4); None when the journal does not reach back. Computed off the loop: one
    change may name a hundred thousand records."""
    change = journal.since(serial)
    if change is None:
        return None
    deleted, added = change.of(origin)
    return [Record(origin, SOA, change.old.ttl, change.old.data), *deleted,
            Record(origin, SOA, change.new.ttl, change.new.data), *added]


def _full(zone: Zone, origin: str, soa: Record) -> Iterator[Record]:
    """The whole zone between two copies of its SOA (RFC 5936 2.2)."""
    yield soa
    yield from transfer.records(zone, origin)
    yield soa


async def _write(writer: asyncio.StreamWriter, message: bytes) -> None:
    writer.write(struct.pack("!H", len(message)) + message)
    await asyncio.wait_for(writer.drain(), WRITE_TIMEOUT)


def transfers_for(config: Config, zone: Zone) -> Transfers | None:
    """The transfers `config` asks for; None when it allows none and notifies nobody."""
    if not config.allow_transfer and not config.notify:
        return None
    notifier = Notifier(config.notify, config.notify_source) if config.notify else None
    return Transfers(zone, ClientRanges.parse(config.allow_transfer), notifier)
