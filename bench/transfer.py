"""Zone transfer of 10,000 services: how long it takes, in what messages, and what it costs
the answers other clients wait for meanwhile.

A real `clusterdns serve` (pinned to core 0) holds the generated services
(bench/generate.py) and offers the cluster zone and 10.in-addr.arpa, about 117,000 records
between them. A client process on core 1 transfers both by AXFR, `--repeat` times, and
reads every message as a secondary would (each record walked, the end found at the
closing SOA); meanwhile a prober asks an in-zone A question every 2 ms and records each
answer's latency. The same prober runs as long again with no transfer, for comparison.
The issue's targets: every message at most 64 KiB, a transfer under 2 s, and the other
questions' latency as usual.

    .venv/bin/python bench/transfer.py [--services 10000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import dnslib
from generate import write_manifests
from reload_stall import PROBE, QUIET, Prober
from servers import Server, free_port, pinned, running

ZONES = ("cluster.local.", "10.in-addr.arpa.")
SERVER_CORE, CLIENT_CORE = 0, 1
SOA = 6


@dataclass(frozen=True)
class Transfer:
    """One AXFR as the client saw it."""

    zone: str
    records: int
    sizes: list[int]  # of each message, in bytes
    seconds: float


def _exactly(sock: socket.socket, size: int) -> bytes:
    data = bytearray()
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ConnectionError("the server closed the connection mid-transfer")
        data += chunk
    return bytes(data)


def _skip_name(message: bytes, position: int) -> int:
    while True:
        length = message[position]
        if length == 0:
            return position + 1
        if length >= 0xC0:
            return position + 2
        position += length + 1


def _soa_count(message: bytes) -> int:
    """How many SOA records the answer section of `message` holds."""
    questions = int.from_bytes(message[4:6], "big")
    answers = int.from_bytes(message[6:8], "big")
    position = 12
    for _ in range(questions):
        position = _skip_name(message, position) + 4
    found = 0
    for _ in range(answers):
        position = _skip_name(message, position)
        found += int.from_bytes(message[position:position + 2], "big") == SOA
        position += 10 + int.from_bytes(message[position + 8:position + 10], "big")
    return found


def axfr(port: int, zone: str) -> Transfer:
    """Transfer `zone` from 127.0.0.1:`port`, reading to the closing SOA."""
    query = dnslib.DNSRecord.question(zone, "AXFR").pack()
    sizes, records, soas = [], 0, 0
    started = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(len(query).to_bytes(2, "big") + query)
        while soas < 2:
            message = _exactly(sock, int.from_bytes(_exactly(sock, 2), "big"))
            if message[3] & 0xF:
                raise RuntimeError(f"{zone}: rcode {message[3] & 0xF}")
            sizes.append(len(message))
            records += int.from_bytes(message[6:8], "big")
            soas += _soa_count(message)
    return Transfer(zone, records, sizes, time.perf_counter() - started)


def client(port: int, repeat: int) -> None:
    """The transferring process: every zone `repeat` times, one JSON line per transfer."""
    for _ in range(repeat):
        for zone in ZONES:
            print(json.dumps(asdict(axfr(port, zone))), flush=True)


def latency(samples: list[tuple[float, float | None]]) -> dict[str, float]:
    """p50, p99 and the worst of the answered questions in ms, and the unanswered."""
    answered = sorted(lat * 1000 for _, lat in samples if lat is not None)
    q = statistics.quantiles(answered, n=100) if len(answered) > 1 else [float("nan")] * 99
    return {"questions": len(samples), "unanswered": len(samples) - len(answered),
            "p50_ms": q[49], "p99_ms": q[98], "max_ms": answered[-1] if answered else 0.0}


def probe_for(port: int, seconds: float) -> list[tuple[float, float | None]]:
    prober = Prober(port)
    prober.start()
    time.sleep(seconds)
    prober.stop.set()
    prober.join(5)
    return prober.samples


def measure(services: int, repeat: int) -> dict[str, object]:
    cores = len(os.sched_getaffinity(0))
    server_core = SERVER_CORE if cores > 1 else None
    if cores > 1:
        os.sched_setaffinity(0, {CLIENT_CORE})  # this process and the client it starts
    with tempfile.TemporaryDirectory(prefix="clusterdns-transfer-") as tmp:
        folder = Path(tmp, "manifests")
        write_manifests(folder, services)
        (folder / "quiet.yaml").write_text(QUIET)
        port = free_port()
        argv = [sys.executable, "-m", "clusterdns", "serve", "--manifests", str(folder),
                "--listen", f"127.0.0.1:{port}", "--upstream", "none", "--no-watch",
                "--allow-transfer", "127.0.0.1/32", "--transfer-zone", "10.0.0.0/8",
                "--state", str(Path(tmp, "state.json"))]
        with running(Server("clusterdns", pinned(server_core, argv), Path(tmp, "server.log"),
                            port)) as server:
            server.wait_ready(PROBE)
            quiet = probe_for(port, 2.0)
            prober = Prober(port)
            prober.start()
            started = time.perf_counter()
            lines = subprocess.run([sys.executable, __file__, "--client", str(port),
                                    "--repeat", str(repeat)], capture_output=True, text=True,
                                   check=True).stdout.splitlines()
            busy = time.perf_counter() - started
            prober.stop.set()
            prober.join(5)
            print(server.log_tail(2 * repeat), file=sys.stderr)
    transfers = [Transfer(**json.loads(line)) for line in lines]
    return {"transfers": transfers, "busy_seconds": busy,
            "during": latency(prober.samples), "quiet": latency(quiet)}


def report(services: int, figures: dict[str, object]) -> str:
    transfers: list[Transfer] = figures["transfers"]  # type: ignore[assignment]
    rounds = [transfers[i:i + len(ZONES)] for i in range(0, len(transfers), len(ZONES))]
    totals = [(sum(t.records for t in r), sum(t.seconds for t in r)) for r in rounds]
    sizes = [size for t in transfers for size in t.sizes]
    lines = [f"AXFR of {services:,} services ({', '.join(ZONES)}), {len(rounds)} rounds:"]
    for t in transfers[:len(ZONES)]:
        lines.append(f"  {t.zone:<18} {t.records:>7,} records in {len(t.sizes):>3} messages")
    lines.append(f"  per round: {totals[0][0]:,} records; "
                 f"{', '.join(f'{s:.2f}' for _, s in totals)} s (target < 2 s)")
    lines.append(f"  messages: largest {max(sizes):,} bytes (limit 65,535), "
                 f"mean {statistics.mean(sizes):,.0f}, smallest {min(sizes):,}")
    for key, title in (("quiet", "without a transfer"), ("during", "during the transfers")):
        f: dict[str, float] = figures[key]  # type: ignore[assignment]
        lines.append(f"  in-zone A every 2 ms, {title}: p50 {f['p50_ms']:.2f} ms, "
                     f"p99 {f['p99_ms']:.2f} ms, worst {f['max_ms']:.2f} ms "
                     f"({f['questions']:,} asked, {f['unanswered']} unanswered)")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--services", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--client", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client:
        client(args.client, args.repeat)
        return
    print(report(args.services, measure(args.services, args.repeat)))


if __name__ == "__main__":
    main()
