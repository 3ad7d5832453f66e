"""A bounded fuzz run in the suite: thousands of mutated queries, every reply judged.

The rules are `fuzz.harness`'s; `make fuzz` runs the same harness for a million packets.
"""

from __future__ import annotations

import time

import pytest

from fuzz.harness import NxdomainUpstream, run
from tests.conftest import EXAMPLES

SEED = 20261130


@pytest.mark.parametrize(("packets", "extra"), [
    (5000, ()),
    # A rate limit too high to bite: every reply passes through the limiter as well.
    (1500, ("--rrl-responses-per-second", "1000000")),
], ids=["plain", "rate-limited"])
def test_mutated_queries_each_get_one_right_reply_or_none_when_due(
        start_server, packets: int, extra: tuple[str, ...]) -> None:
    upstream = NxdomainUpstream()
    try:
        server = start_server("--manifests", str(EXAMPLES), "--upstream", upstream.address,
                              "--upstream-timeout", "0.5", "--upstream-budget", "1", *extra)
        tally = run(server.host, server.port, packets, SEED, time.monotonic() + 30)
    finally:
        upstream.stop()
    assert tally.packets == packets
    assert not tally.problems, (tally.problems, tally.examples)
    assert tally.no_replies == 0
    assert tally.silent > packets // 20 and tally.formerr > packets // 4
    assert tally.replies > 3 * packets // 4
    assert "Traceback" not in server.log, server.log[-3000:]
    assert server.query("service1.default.svc.cluster.local").answer
