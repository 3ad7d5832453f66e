"""The upstream cache with a hand-driven clock: lifetimes, caps, RFC 2308, expiry, LRU."""

from __future__ import annotations

from dnslib import RCODE

from clusterdns.serve.cache import Cache, lifetime
from tests.replies import SOA, Clock, forwarded, upstream_reply


def lifetime_of(reply, max_ttl: int = 3600, max_negative_ttl: int = 1800) -> tuple[int, int]:
    return lifetime(reply.rcode, reply.answer, reply.authority,
                    [r for r in reply.additional if r.rtype != 41], max_ttl, max_negative_ttl)


def test_positive_answer_lives_its_smallest_ttl_capped() -> None:
    reply = upstream_reply("www.example.", "www.example. 60 IN CNAME web.example.",
                           "web.example. 300 IN A 192.0.2.1")
    assert lifetime_of(reply) == (60, 3600)
    capped = upstream_reply("a.example.", "a.example. 86400 IN A 192.0.2.1")
    assert lifetime_of(capped, max_ttl=100) == (100, 100)


def test_nxdomain_lives_the_smaller_of_soa_ttl_and_minimum() -> None:
    reply = upstream_reply("nope.example.", rcode=RCODE.NXDOMAIN,
                           authority=(SOA.format(ttl=3600, minimum=30),))
    assert lifetime_of(reply) == (30, 30)  # and no TTL is served above 30


def test_nodata_uses_the_soa_ttl_when_it_is_smaller_and_the_negative_cap() -> None:
    nodata = upstream_reply("a.example.", authority=(SOA.format(ttl=20, minimum=600),))
    assert lifetime_of(nodata) == (20, 20)
    long = upstream_reply("a.example.", authority=(SOA.format(ttl=7200, minimum=7200),))
    assert lifetime_of(long) == (1800, 1800)


def test_negative_answer_without_soa_and_failures_are_not_kept() -> None:
    assert lifetime_of(upstream_reply("nope.example.", rcode=RCODE.NXDOMAIN))[0] == 0
    assert lifetime_of(upstream_reply("a.example.", rcode=RCODE.SERVFAIL))[0] == 0
    assert lifetime_of(upstream_reply("a.example.", rcode=RCODE.REFUSED))[0] == 0
    assert lifetime_of(upstream_reply("a.example.", "a.example. 0 IN A 192.0.2.1"))[0] == 0


def test_entry_expires_after_its_lifetime() -> None:
    clock = Clock()
    cache = Cache(clock=clock)
    answer = forwarded("a.example.", upstream_reply("a.example.", "a.example. 60 IN A 192.0.2.1"),
                       now=clock())
    assert cache.put("k", answer)
    clock.now += 59.9
    assert cache.get("k") is answer  # kept packed: the very same object
    clock.now += 0.1
    assert cache.get("k") is None and len(cache) == 0


def test_what_may_not_be_kept_is_not() -> None:
    cache = Cache(clock=Clock())
    for reply in (upstream_reply("a.example.", rcode=RCODE.SERVFAIL),
                  upstream_reply("nope.example.", rcode=RCODE.NXDOMAIN)):
        assert not cache.put("k", forwarded("a.example.", reply))
    assert len(cache) == 0


def test_least_recently_used_entry_goes_first() -> None:
    cache = Cache(capacity=2, clock=Clock())

    def answer(name: str) -> object:
        return forwarded(f"{name}.example.",
                         upstream_reply(f"{name}.example.", f"{name}.example. 60 IN A 192.0.2.1"))

    for key in ("a", "b"):
        cache.put(key, answer(key))
    assert cache.get("a") is not None  # "a" is now more recent than "b"
    cache.put("c", answer("c"))
    assert len(cache) == 2
    assert cache.get("b") is None
    assert cache.get("a") is not None and cache.get("c") is not None


def test_capacity_zero_turns_the_cache_off() -> None:
    cache = Cache(capacity=0, clock=Clock())
    reply = upstream_reply("a.example.", "a.example. 60 IN A 192.0.2.1")
    assert not cache.put("a", forwarded("a.example.", reply))
    assert cache.get("a") is None
