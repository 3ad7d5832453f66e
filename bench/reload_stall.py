"""How long an in-zone answer waits while a big reload runs: the stall a reload causes.

A real `clusterdns serve` holds a big zone; a second process asks an unchanged name over
UDP, one question at a time, every 2 ms, and records each answer's latency; meanwhile the
manifests change so that every reload rebuilds a big part of the zone. Figures: latency
p50, p99, p99.9 and the worst, over the questions asked while reloads ran, and how many
waited more than 5 ms, 50 ms, or got no answer within 1 s. The design's target: no
in-zone answer delayed by more than a few milliseconds, however big the change.

    .venv/bin/python bench/reload_stall.py [--shape endpoints|services] [--size N] [--reloads 3]
        [--serve-arg=--batch-loop --serve-arg=python] [--tcp]

`endpoints`: one headless Service with N endpoints (the edit adds one); `services`:
N Services with 3 endpoints each in one file (the edit changes every tenth).
"""

from __future__ import annotations

import argparse
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import dns.exception
import dns.query
import dnslib
from servers import Server, free_port, running

PROBE = "probe.quiet.svc.cluster.local"
QUIET = ("apiVersion: v1\nkind: Service\nmetadata: {name: probe, namespace: quiet}\n"
         "spec: {clusterIP: 10.111.255.250, ports: [{port: 80}]}\n")


def endpoints_shape(size: int, generation: int) -> str:
    """One headless Service with `size` + `generation` ready endpoints."""
    addresses = "".join(f"  - ip: 10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}\n"
                        for i in range(1, size + generation + 1))
    return ("apiVersion: v1\nkind: Service\nmetadata: {name: big, namespace: load}\n"
            "spec: {clusterIP: None, ports: [{name: http, port: 80}]}\n---\n"
            "apiVersion: v1\nkind: Endpoints\nmetadata: {name: big, namespace: load}\n"
            f"subsets:\n- addresses:\n{addresses}  ports:\n  - {{name: http, port: 80}}\n")


def services_shape(size: int, generation: int) -> str:
    """`size` Services with 3 endpoints each; every tenth one's port follows `generation`."""
    docs = []
    for i in range(size):
        port = 80 + generation if i % 10 == 0 else 80
        docs.append(f"apiVersion: v1\nkind: Service\nmetadata: {{name: s{i}, namespace: load}}\n"
                    f"spec: {{clusterIP: 10.{96 + (i >> 16)}.{(i >> 8) & 255}.{i & 255}, "
                    f"ports: [{{name: http, port: {port}}}]}}\n")
        ips = "".join(f"  - ip: 10.{128 + (i >> 14)}.{(i >> 6) & 255}.{(i & 63) * 4 + j}\n"
                      for j in range(3))
        docs.append(f"apiVersion: v1\nkind: Endpoints\nmetadata: {{name: s{i}, namespace: load}}"
                    f"\nsubsets:\n- addresses:\n{ips}  ports:\n  - {{name: http, port: 80}}\n")
    return "---\n".join(docs)


SHAPES = {"endpoints": endpoints_shape, "services": services_shape}


class Prober(threading.Thread):
    """Asks PROBE every `every` seconds, one at a time, recording each latency (None for
    no answer within `timeout`); over UDP, or with `tcp` over one TCP connection."""

    def __init__(self, port: int, every: float = 0.002, timeout: float = 1.0,
                 tcp: bool = False) -> None:
        super().__init__(daemon=True)
        self.port, self.every, self.timeout, self.tcp = port, every, timeout, tcp
        self.samples: list[tuple[float, float | None]] = []  # (sent at, latency)
        self.stop = threading.Event()

    def run(self) -> None:
        kind = socket.SOCK_STREAM if self.tcp else socket.SOCK_DGRAM
        with socket.socket(socket.AF_INET, kind) as sock:
            sock.settimeout(self.timeout)
            sock.connect(("127.0.0.1", self.port))
            for ident in range(1, 10**9):
                if self.stop.is_set():
                    return
                query = dnslib.DNSRecord.question(PROBE, "A")
                query.header.id = ident & 0xFFFF
                packet = query.pack()
                sent = time.perf_counter()
                latency = None
                try:
                    if self.tcp:
                        dns.query.send_tcp(sock, packet)
                        dns.query.receive_tcp(sock, time.time() + self.timeout)
                        latency = time.perf_counter() - sent
                    else:
                        sock.send(packet)
                        while sock.recv(4096)[:2] != packet[:2]:
                            pass
                        latency = time.perf_counter() - sent
                except (TimeoutError, dns.exception.Timeout, EOFError):
                    if self.tcp:  # the stream is out of step: a new connection
                        self.samples.append((sent, None))
                        return
                self.samples.append((sent, latency))
                time.sleep(max(0.0, self.every - (time.perf_counter() - sent)))


def measure(shape: str = "endpoints", size: int = 100_000, reloads: int = 3,
            show_log: bool = False, serve_args: tuple[str, ...] = (),
            tcp: bool = False) -> dict[str, float]:
    """Latency figures of the questions asked while `reloads` big reloads ran; with
    `show_log`, the server's reload lines go to standard error. `serve_args` are added
    to the server's command line (`--batch-loop python`: the event loop answers all);
    with `tcp` the questions go over one TCP connection."""
    make = SHAPES[shape]
    with tempfile.TemporaryDirectory(prefix="clusterdns-stall-") as tmp:
        folder = Path(tmp, "manifests")
        folder.mkdir()
        (folder / "quiet.yaml").write_text(QUIET)
        big = folder / "big.yaml"
        big.write_text(make(size, 0))
        # Made before the questions start: the prober is a thread of this process, and
        # making 100,000 lines while it waits for an answer would count against the server.
        edits = [make(size, generation).encode() for generation in range(1, reloads + 1)]
        port = free_port()
        argv = [sys.executable, "-m", "clusterdns", "serve", "--manifests", str(folder),
                "--listen", f"127.0.0.1:{port}", "--upstream", "none", "--state",
                str(Path(tmp, "state.json")), *serve_args]
        with running(Server("clusterdns", argv, Path(tmp, "server.log"), port)) as server:
            server.wait_ready(PROBE)
            prober = Prober(port, tcp=tcp)
            prober.start()
            time.sleep(0.5)
            windows = []
            log_lines = 0
            for edit in edits:
                started = time.perf_counter()
                big.write_bytes(edit)
                deadline = started + 120
                while time.perf_counter() < deadline:
                    lines = server.log.read_text().splitlines()
                    if sum("reload:" in line for line in lines) > log_lines:
                        log_lines += 1
                        break
                    time.sleep(0.05)
                else:
                    raise RuntimeError("no reload logged:\n" + server.log_tail())
                time.sleep(0.3)  # the retired zone is freed after the log line
                windows.append((started, time.perf_counter()))
            prober.stop.set()
            prober.join(5)
            if show_log:
                print(server.log_tail(reloads + 1), file=sys.stderr)
    during = [lat for sent, lat in prober.samples
              if any(a <= sent <= b for a, b in windows)]
    answered = sorted(lat * 1000 for lat in during if lat is not None)
    q = statistics.quantiles(answered, n=1000) if len(answered) > 1 else [0.0] * 999
    return {
        "questions": len(during), "unanswered": sum(lat is None for lat in during),
        "p50_ms": q[499], "p99_ms": q[989], "p999_ms": q[998],
        "max_ms": answered[-1] if answered else float("nan"),
        "over_5ms": sum(lat > 5 for lat in answered),
        "over_50ms": sum(lat > 50 for lat in answered),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shape", choices=SHAPES, default="endpoints")
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--reloads", type=int, default=3)
    parser.add_argument("--serve-arg", action="append", default=[], metavar="ARG",
                        help="an argument added to `clusterdns serve`, e.g. "
                        "--serve-arg=--batch-loop --serve-arg=python")
    parser.add_argument("--tcp", action="store_true",
                        help="ask over one TCP connection instead of UDP")
    args = parser.parse_args()
    figures = measure(args.shape, args.size, args.reloads, show_log=True,
                      serve_args=tuple(args.serve_arg), tcp=args.tcp)
    print(f"{args.shape} x {args.size:,}, {args.reloads} reloads"
          + (" (TCP)" if args.tcp else "") + ": "
          + ", ".join(f"{k} {v:.2f}" if isinstance(v, float) else f"{k} {v}"
                      for k, v in figures.items()))


if __name__ == "__main__":
    main()
