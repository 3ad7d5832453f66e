"""Rate-limit accounting with a clock given by hand: allowance, slip, window, keys."""

from __future__ import annotations

import dns.flags
import dns.message
import dns.rrset

from clusterdns.serve import rrl
from clusterdns.serve.rrl import DROP, SEND, SLIP, RateLimit, RateLimiter


def verdicts(limiter: RateLimiter, count: int, now: float, key: object = "k") -> list[int]:
    return [limiter.judge(key, now) for _ in range(count)]


def test_a_burst_gets_the_rate_then_one_response_per_share_of_a_second() -> None:
    limiter = RateLimiter(5, slip=0)
    assert verdicts(limiter, 7, 100.0) == [SEND] * 5 + [DROP] * 2
    assert verdicts(limiter, 1, 100.1) == [DROP]  # 0.5 earned, 2 owed
    assert verdicts(limiter, 1, 101.0) == [SEND]


def test_every_nth_suppressed_response_slips() -> None:
    assert verdicts(RateLimiter(2, slip=2), 8, 0.0) == [SEND, SEND] + [DROP, SLIP] * 3
    assert verdicts(RateLimiter(2, slip=1), 4, 0.0) == [SEND, SEND, SLIP, SLIP]


def test_a_flood_is_remembered_for_the_window_and_no_longer() -> None:
    limiter = RateLimiter(10, slip=0, window=3)
    verdicts(limiter, 10_000, 0.0)  # deep in debt, but never more than 3 s of it
    assert verdicts(limiter, 1, 2.9) == [DROP]
    assert verdicts(limiter, 1, 3.2) == [SEND]


def test_accounts_are_separate_and_bounded() -> None:
    limiter = RateLimiter(1, slip=0, table_size=3)
    assert verdicts(limiter, 2, 0.0, "a") == [SEND, DROP]
    assert verdicts(limiter, 1, 0.0, "b") == [SEND]
    for key in ("c", "d"):
        limiter.judge(key, 0.0)
    assert len(limiter) == 3  # "a", the oldest, went


def reply(name: str, rcode: int = 0, answers: int = 1) -> tuple[bytes, bytes]:
    query = dns.message.make_query(name, "A")
    response = dns.message.make_response(query)
    response.set_rcode(rcode)
    for i in range(answers):
        response.answer.append(dns.rrset.from_text(name, 5, "IN", "A", f"10.0.0.{i + 1}"))
    return query.to_wire(), response.to_wire()


def test_accounts_by_network_and_kind() -> None:
    query, answer = reply("Web.Example.")
    network, kind = rrl.account("192.0.2.77", query, answer)
    assert network == rrl.client_network("192.0.2.1") != rrl.client_network("192.0.3.1")
    assert kind == reply("web.example.")[0][12:-2]  # lowercased name and type
    nx = [rrl.account("192.0.2.1", *reply(f"n{i}.example.", 3, 0)) for i in range(3)]
    assert len(set(nx)) == 1  # random names share one NXDOMAIN account
    errors = {rrl.account("192.0.2.1", *reply(f"e{i}.example.", rcode, 0))
              for i, rcode in enumerate((1, 2, 5))}
    assert len(errors) == 1


def test_ipv6_clients_are_counted_by_their_56() -> None:
    same = rrl.client_network("2001:db8:0:ff::1"), rrl.client_network("2001:db8:0:1::2")
    assert same[0] == same[1] != rrl.client_network("2001:db8:0:100::1")
    assert rrl.client_network("fe80::1%eth0") == rrl.client_network("fe80::2")


def test_a_slipped_reply_is_the_header_and_question_with_tc() -> None:
    query, answer = reply("web.example.", answers=3)
    out = dns.message.from_wire(rrl.slipped(answer))
    assert out.flags & dns.flags.TC and not out.answer and out.id == dns.message.from_wire(
        query).id
    assert out.question[0].name.to_text() == "web.example."


def test_default_is_on_beyond_loopback_and_off_on_it() -> None:
    assert RateLimit().rate_for("127.0.0.1") == 0 and RateLimit().rate_for("::1") == 0
    assert RateLimit().rate_for("0.0.0.0") == rrl.DEFAULT_RATE
    assert RateLimit().rate_for("192.0.2.1") == rrl.DEFAULT_RATE
    assert RateLimit(rate=0).rate_for("192.0.2.1") == 0
    assert RateLimit(rate=7).rate_for("127.0.0.1") == 7
