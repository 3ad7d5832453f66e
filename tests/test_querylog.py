"""The query log line, field by field as CoreDNS's log plugin writes it, and its queue."""

from __future__ import annotations

import json
import os
import time

import dns.flags
import dns.message
import pytest

from clusterdns.ops.querylog import (
    Entry,
    QueryLog,
    duration_text,
    go_seconds,
    json_line,
    name_text,
    reply_flags,
    text_line,
)
from clusterdns.serve import wire
from clusterdns.serve.names import from_text


def entry(name: str = "Web.Default.svc.cluster.local.", rdtype: str = "A",
          host: str = "127.0.0.1", port: int = 52413, tcp: bool = False,
          edns: tuple[int, bool] | None = None, rcode: int = 0, seconds: float = 0.000061,
          flags: int = dns.flags.QR | dns.flags.AA | dns.flags.RD) -> Entry:
    if edns is None:
        query = dns.message.make_query(name, rdtype, id=4711, use_edns=False)
    else:
        query = dns.message.make_query(name, rdtype, id=4711, use_edns=0, payload=edns[0],
                                       want_dnssec=edns[1])
    data = query.to_wire()
    parsed = wire.parse_query(data)
    reply = dns.message.make_response(query)
    reply.flags = flags
    reply.set_rcode(rcode)
    sent = reply.to_wire()
    return Entry(host, port, tcp, parsed.id, parsed.question, edns, len(data), sent, seconds,
                 rcode, 1_796_000_000.25)


def test_udp_line_is_coredns_s_common_format() -> None:
    line = text_line(entry())
    assert line == ('[INFO] 127.0.0.1:52413 - 4711 "A IN web.default.svc.cluster.local. udp '
                    '47 false 512" NOERROR qr,aa,rd 47 0.000061s')


def test_tcp_reports_a_buffer_of_65535() -> None:
    assert '"A IN web.default.svc.cluster.local. tcp 47 false 65535" NOERROR' in text_line(
        entry(tcp=True))


def test_ipv6_clients_are_bracketed() -> None:
    assert text_line(entry(host="::1", port=5300)).startswith("[INFO] [::1]:5300 - 4711 ")


def test_edns_gives_do_and_the_advertised_size() -> None:
    line = text_line(entry(rdtype="SRV", edns=(4096, True), rcode=3))
    assert '"SRV IN web.default.svc.cluster.local. udp 58 true 4096" NXDOMAIN' in line
    assert '. udp 58 false 512" ' in text_line(entry(edns=(200, False)))


def test_unknown_types_classes_and_rcodes_are_numbers() -> None:
    line = text_line(entry(rdtype="TYPE4242", rcode=12))
    assert '"TYPE4242 IN ' in line and '" 12 qr,aa,rd ' in line


def test_names_are_escaped_as_miekg_writes_them() -> None:
    wire_name = b"\x05a.b c\x02\xc3\xa9\x01@" + from_text("example.")
    assert name_text(wire_name) == "a\\.b\\ c.\\195\\169.\\@.example."
    assert name_text(b"\x00") == "."


@pytest.mark.parametrize(("flags", "text"), [
    (0x8180, "qr,rd,ra"), (0x8590, "qr,aa,rd,ra,cd"), (0xFFF0, "qr,aa,tc,rd,ra,z,ad,cd"),
    (0x0000, "-"),
])
def test_flags_come_in_coredns_order(flags: int, text: str) -> None:
    assert reply_flags(b"\x00\x00" + flags.to_bytes(2, "big")) == text


@pytest.mark.parametrize(("seconds", "text"), [
    (0.000123456789, "0.000123457s"), (0.000012, "0.000012s"), (1.5, "1.5s"), (0, "0s"),
    (10, "10s"),
])
def test_durations_are_go_s_shortest_fixed_notation(seconds: float, text: str) -> None:
    assert duration_text(go_seconds(seconds)) == text


def test_json_has_the_same_values_by_name() -> None:
    record = json.loads(json_line(entry(host="::1", tcp=True, edns=(1232, True))))
    assert record["msg"] == text_line(entry(host="::1", tcp=True, edns=(1232, True)))[7:]
    assert {k: record[k] for k in ("level", "client_ip", "client_port", "qname", "qtype",
                                   "proto", "do", "bufsize", "rcode", "rflags")} == {
        "level": "INFO", "client_ip": "::1", "client_port": 52413,
        "qname": "web.default.svc.cluster.local.", "qtype": "A", "proto": "tcp", "do": True,
        "bufsize": 65535, "rcode": "NOERROR", "rflags": "qr,aa,rd"}
    assert record["duration_seconds"] == 0.000061 and record["time"].startswith("2026-")


def test_a_full_queue_drops_and_counts_instead_of_waiting() -> None:
    log = QueryLog(capacity=2)  # not started: nothing drains the queue
    for _ in range(5):
        log.add(entry())
    assert log.dropped == 3 and log.lost() == 3


def test_the_writer_thread_writes_every_queued_line() -> None:
    read_end, write_end = os.pipe()
    log = QueryLog(fd=write_end)
    log.start()
    for port in range(3):
        log.add(entry(port=port))
    log.close()
    os.close(write_end)
    with os.fdopen(read_end) as pipe:
        lines = pipe.read().splitlines()
    assert [line.split(" ")[1] for line in lines] == ["127.0.0.1:0", "127.0.0.1:1",
                                                      "127.0.0.1:2"]


def test_a_closed_output_loses_lines_but_not_the_server() -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)
    log = QueryLog(fd=write_end)
    log.start()
    log.add(entry())
    deadline = time.monotonic() + 5
    while log.lost() == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    log.close()
    os.close(write_end)
    assert log.unwritten == 1
