"""The upstream cache with a hand-driven clock: TTL countdown, caps, RFC 2308, LRU."""

from __future__ import annotations

from dnslib import EDNS0, RCODE, RR, DNSRecord

from clusterdns.serve.cache import Cache, lifetime

SOA = "example. {ttl} IN SOA ns.example. admin.example. 1 7200 900 86400 {minimum}"


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def reply(name: str, *zone: str, rcode: int = RCODE.NOERROR, authority: tuple[str, ...] = (),
          tc: bool = False) -> DNSRecord:
    message = DNSRecord.question(name).reply()
    message.header.rcode = rcode
    message.header.tc = int(tc)
    for line in zone:
        message.add_answer(*RR.fromZone(line))
    for line in authority:
        message.add_auth(*RR.fromZone(line))
    return message


def ttls(message: DNSRecord) -> list[int]:
    return [r.ttl for r in (*message.rr, *message.auth)]


def test_positive_answer_lives_its_smallest_ttl_and_counts_down() -> None:
    clock = Clock()
    cache = Cache(clock=clock)
    cache.put("k", reply("www.example.", "www.example. 60 IN CNAME web.example.",
                         "web.example. 300 IN A 192.0.2.1"))
    assert ttls(cache.get("k")) == [60, 300]
    clock.now += 20.5
    assert ttls(cache.get("k")) == [40, 280]
    clock.now += 39.5
    assert cache.get("k") is None
    assert len(cache) == 0


def test_positive_ttl_is_capped() -> None:
    clock = Clock()
    cache = Cache(max_ttl=100, clock=clock)
    cache.put("k", reply("a.example.", "a.example. 86400 IN A 192.0.2.1"))
    assert ttls(cache.get("k")) == [100]
    clock.now += 99
    assert ttls(cache.get("k")) == [1]
    clock.now += 1
    assert cache.get("k") is None


def test_nxdomain_lives_the_smaller_of_soa_ttl_and_minimum() -> None:
    clock = Clock()
    cache = Cache(clock=clock)
    message = reply("nope.example.", rcode=RCODE.NXDOMAIN,
                    authority=(SOA.format(ttl=3600, minimum=30),))
    assert lifetime(message) == 30
    cache.put("k", message)
    cached = cache.get("k")
    assert cached.header.rcode == RCODE.NXDOMAIN and ttls(cached) == [30]
    clock.now += 29
    assert ttls(cache.get("k")) == [1]
    clock.now += 1
    assert cache.get("k") is None


def test_nodata_uses_the_soa_ttl_when_it_is_smaller_and_the_negative_cap() -> None:
    nodata = reply("a.example.", authority=(SOA.format(ttl=20, minimum=600),))
    assert lifetime(nodata) == 20
    long = reply("a.example.", authority=(SOA.format(ttl=7200, minimum=7200),))
    assert lifetime(long, max_negative_ttl=1800) == 1800


def test_negative_answer_without_soa_is_not_cached() -> None:
    cache = Cache(clock=Clock())
    assert not cache.put("k", reply("nope.example.", rcode=RCODE.NXDOMAIN))
    assert cache.get("k") is None


def test_failures_truncation_and_zero_ttl_are_not_cached() -> None:
    cache = Cache(clock=Clock())
    assert not cache.put("servfail", reply("a.example.", rcode=RCODE.SERVFAIL))
    assert not cache.put("refused", reply("a.example.", rcode=RCODE.REFUSED))
    assert not cache.put("tc", reply("a.example.", "a.example. 60 IN A 192.0.2.1", tc=True))
    assert not cache.put("zero", reply("a.example.", "a.example. 0 IN A 192.0.2.1"))
    assert len(cache) == 0


def test_least_recently_used_entry_goes_first() -> None:
    cache = Cache(capacity=2, clock=Clock())
    for key in ("a", "b"):
        cache.put(key, reply(f"{key}.example.", f"{key}.example. 60 IN A 192.0.2.1"))
    assert cache.get("a") is not None  # "a" is now more recent than "b"
    cache.put("c", reply("c.example.", "c.example. 60 IN A 192.0.2.3"))
    assert len(cache) == 2
    assert cache.get("b") is None
    assert cache.get("a") is not None and cache.get("c") is not None


def test_capacity_zero_turns_the_cache_off() -> None:
    cache = Cache(capacity=0, clock=Clock())
    assert not cache.put("a", reply("a.example.", "a.example. 60 IN A 192.0.2.1"))
    assert cache.get("a") is None


def test_upstream_opt_record_is_not_kept() -> None:
    cache = Cache(clock=Clock())
    message = reply("a.example.", "a.example. 60 IN A 192.0.2.1")
    message.add_ar(EDNS0(udp_len=1232))
    cache.put("k", message)
    assert cache.get("k").ar == []


def test_served_copies_do_not_change_the_entry() -> None:
    clock = Clock()
    cache = Cache(clock=clock)
    cache.put("k", reply("a.example.", "a.example. 60 IN A 192.0.2.1"))
    cache.get("k").rr[0].ttl = 1
    clock.now += 10
    assert ttls(cache.get("k")) == [50]
