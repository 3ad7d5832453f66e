"""`make fuzz`: a long fuzz campaign against a real server, ending in one summary line.

    python -m fuzz.campaign [--packets 1000000] [--seed N] [--rate-limited]

The server serves the example manifests on a free loopback port and forwards outside
names to a loopback upstream that denies them (`harness.NxdomainUpstream`). Every packet
and reply is judged by `harness`'s rules; progress goes to stderr every 100,000 packets.
Exit status 1 when any rule was broken or the log holds a traceback.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from fuzz.harness import NxdomainUpstream, Tally, run
from tests.conftest import EXAMPLES, ServerProcess

CHUNK = 100_000


def resident_mib(pid: int) -> float:
    """VmRSS of `pid` in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


@dataclass
class Outcome:
    tally: Tally
    tracebacks: int
    rss_before: float  # MiB, once the server has started
    rss_after: float
    seconds: float


def campaign(packets: int, seed: int, rate_limited: bool) -> Outcome:
    """Run `packets` mutated packets in chunks of 100,000, each with its own seed."""
    upstream = NxdomainUpstream()
    extra = ["--rrl-responses-per-second", "1000000"] if rate_limited else []
    server = ServerProcess(["serve", "--manifests", str(EXAMPLES), "--listen", "127.0.0.1:0",
                            "--upstream", upstream.address, "--upstream-timeout", "0.5",
                            "--upstream-budget", "1", *extra])
    total = Tally()
    started = time.monotonic()
    try:
        before = resident_mib(server.proc.pid)
        while total.packets < packets:
            chunk = run(server.host, server.port, min(CHUNK, packets - total.packets),
                        seed + total.packets)
            _add(total, chunk)
            print(f"{total.packets:,} packets, {time.monotonic() - started:.0f} s, "
                  f"{sum(total.problems.values())} rule-breaks", file=sys.stderr)
        after = resident_mib(server.proc.pid)
    finally:
        server.stop()
        upstream.stop()
    return Outcome(total, server.log.count("Traceback"), before, after,
                   time.monotonic() - started)


def _add(total: Tally, chunk: Tally) -> None:
    for name in ("packets", "replies", "no_replies", "silent", "formerr"):
        setattr(total, name, getattr(total, name) + getattr(chunk, name))
    total.problems.update(chunk.problems)
    for what, example in chunk.examples.items():
        total.examples.setdefault(what, example)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--packets", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--rate-limited", action="store_true",
                        help="pass every reply through a rate limiter too high to bite")
    args = parser.parse_args()
    outcome = campaign(args.packets, args.seed, args.rate_limited)
    tally = outcome.tally
    broken = sum(tally.problems.values())
    print(f"fuzz: packets={tally.packets} replies={tally.replies} "
          f"no-replies={tally.no_replies + tally.silent} (none due: {tally.silent}, "
          f"missing: {tally.no_replies}) formerr={tally.formerr} rule-breaks={broken} "
          f"tracebacks={outcome.tracebacks} "
          f"rss-mib={outcome.rss_before:.1f}->{outcome.rss_after:.1f} "
          f"seconds={outcome.seconds:.0f}")
    for what, count in tally.problems.most_common():
        print(f"  {count} x {what}, e.g. {tally.examples[what]!r}")
    return 1 if broken or outcome.tracebacks or tally.no_replies else 0


if __name__ == "__main__":
    sys.exit(main())
