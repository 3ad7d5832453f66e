"""NOTIFY to a secondary on loopback: sent until answered, with a doubling wait, at most
six times, a newer serial replacing an older one (serve/notify.py)."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable

import dns.message
import dns.opcode
import dns.rcode

from clusterdns.serve.notify import RETRANSMISSIONS, Notifier
from clusterdns.zone.records import SOA, Record


def soa(serial: int, zone: str = "cluster.local.") -> Record:
    return Record(zone, SOA, 5, ("ns.dns.cluster.local.", "hostmaster.cluster.local.", serial,
                                 7200, 1800, 86400, 5))


class Secondary:
    """A UDP socket on loopback that records each NOTIFY and answers those `answers` picks
    (given how many came before and the message)."""

    def __init__(self, answers: Callable[[int, dns.message.Message], bool]) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.setblocking(False)
        self.answers = answers
        self.received: list[tuple[float, dns.message.Message, str]] = []

    @property
    def address(self) -> tuple[str, int]:
        return self.sock.getsockname()

    async def serve(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            data, peer = await loop.sock_recvfrom(self.sock, 4096)
            message = dns.message.from_wire(data)
            if self.answers(len(self.received), message):
                reply = dns.message.make_response(message)
                await loop.sock_sendto(self.sock, reply.to_wire(), peer)
            self.received.append((time.monotonic(), message, peer[0]))


def run(secondary: Secondary, notices: list[list[Record]], seconds: float,
        source: str = "") -> None:
    async def scenario() -> None:
        serving = asyncio.ensure_future(secondary.serve())
        notifier = Notifier([secondary.address], source, first_timeout=0.01)
        for soas in notices:
            notifier.notify(soas)
            await asyncio.sleep(0.005)
        await asyncio.sleep(seconds)
        await notifier.close()
        serving.cancel()

    asyncio.run(scenario())
    secondary.sock.close()


def test_a_notify_is_sent_again_until_answered() -> None:
    secondary = Secondary(lambda before, _: before >= 2)
    run(secondary, [[soa(7)]], 0.5, source="127.0.0.1")
    assert len(secondary.received) == 3  # nothing after the answer
    times = [at for at, _, _ in secondary.received]
    first, second = times[1] - times[0], times[2] - times[1]
    assert first > 0.008 and 1.5 * first < second  # the wait doubles
    message = secondary.received[0][1]
    assert message.opcode() == dns.opcode.NOTIFY and message.answer[0][0].serial == 7
    assert {peer for _, _, peer in secondary.received} == {"127.0.0.1"}


def test_an_unanswered_notify_gives_up_after_five_retransmissions() -> None:
    secondary = Secondary(lambda *_: False)
    run(secondary, [[soa(7)]], 0.01 * 2 ** (RETRANSMISSIONS + 1))
    assert len(secondary.received) == 1 + RETRANSMISSIONS


def test_a_newer_serial_replaces_the_notify_still_waiting() -> None:
    secondary = Secondary(lambda _, message: message.answer[0][0].serial == 8)
    run(secondary, [[soa(7), soa(7, "10.in-addr.arpa.")], [soa(8)]], 0.3)
    serials = [(m.question[0].name.to_text(), m.answer[0][0].serial)
               for _, m, _ in secondary.received]
    assert serials[:3] == [("cluster.local.", 7), ("10.in-addr.arpa.", 7), ("cluster.local.", 8)]
    assert ("cluster.local.", 8) not in serials[3:]  # answered
    assert ("cluster.local.", 7) not in serials[3:]  # replaced, never sent again
    assert ("10.in-addr.arpa.", 7) in serials[3:]  # another zone: still waiting for its answer
