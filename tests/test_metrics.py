"""CoreDNS's metrics from plain counters: buckets, labels, and the fast path's hits shared
out at scrape time so the totals stay exact."""

from __future__ import annotations

import shutil
import subprocess

import dns.flags
import dns.message
import pytest

from clusterdns.ops import metrics
from clusterdns.ops.exposition import Histogram, render
from clusterdns.ops.metrics import Listener, StoredMix, apportion, stored_key


def test_time_buckets_are_coredns_s_from_a_quarter_millisecond_doubling_to_8_seconds() -> None:
    assert metrics.TIME_BUCKETS == (0.00025, 0.0005, 0.001, 0.002, 0.004, 0.008, 0.016,
                                    0.032, 0.064, 0.128, 0.256, 0.512, 1.024, 2.048, 4.096,
                                    8.192)
    assert metrics.SIZE_BUCKETS == (0, 100, 200, 300, 400, 511, 1023, 2047, 4095, 8291,
                                    16000, 32000, 48000, 64000)


def test_labels_follow_coredns_vars() -> None:
    assert metrics.REQUESTS.labels == ("server", "zone", "view", "proto", "family", "type")
    assert metrics.RESPONSES.labels == ("server", "zone", "view", "rcode", "plugin")
    assert metrics.DURATION.labels == ("server", "zone", "view")
    assert metrics.REQUEST_SIZE.labels == ("server", "zone", "view", "proto")
    assert metrics.CACHE_HITS.labels == ("server", "type", "zones", "view")
    assert metrics.PROXY_DURATION.labels == ("proxy_name", "to", "rcode")


@pytest.mark.parametrize(("rcode", "name"), [(0, "NOERROR"), (3, "NXDOMAIN"), (16, "BADSIG"),
                                             (12, "RCODE12")])
def test_rcode_names_are_miekg_s(rcode: int, name: str) -> None:
    assert metrics.rcode_name(rcode) == name


def test_badvers_is_read_from_the_query_s_version() -> None:
    reply = bytes([0, 1, 0x80, 0x00]) + bytes(8)
    assert metrics.reply_rcode(reply) == 0 and metrics.reply_rcode(reply, 1) == 16


def one_listener_exposition(listener: Listener, mix: StoredMix | None = None) -> str:
    return render(metrics.answered([listener], mix or StoredMix(), 0))


def test_a_recorded_reply_lands_in_every_family_with_coredns_labels() -> None:
    listener = Listener("::1", 1053)
    listener.record(metrics.ZONE, False, 33, True, 3, metrics.KUBERNETES, 0.0003, 60, 120)
    listener.record(metrics.DROPPED, True, None, False, 1, metrics.SERVER, 0.00001, 12, 12)
    text = one_listener_exposition(listener)
    server = 'server="dns://[::1]:1053"'
    assert (f'coredns_dns_requests_total{{{server},zone=".",view="",proto="udp",family="2",'
            'type="SRV"} 1') in text
    assert (f'coredns_dns_requests_total{{{server},zone="dropped",view="",proto="tcp",'
            'family="2",type="other"} 1') in text
    assert f'coredns_dns_do_requests_total{{{server},zone=".",view=""}} 1' in text
    assert (f'coredns_dns_responses_total{{{server},zone=".",view="",rcode="NXDOMAIN",'
            'plugin="kubernetes"} 1') in text
    assert (f'coredns_dns_responses_total{{{server},zone="dropped",view="",rcode="FORMERR",'
            'plugin=""} 1') in text
    assert (f'coredns_dns_request_duration_seconds_bucket{{{server},zone=".",view="",'
            'le="0.0005"} 1') in text
    assert (f'coredns_dns_response_size_bytes_bucket{{{server},zone=".",view="",proto="udp",'
            'le="100"} 0') in text


def test_shares_add_up_exactly_by_largest_remainder() -> None:
    weights = {("A", False, "NOERROR", 1, 1): 2, ("AAAA", False, "NOERROR", 1, 1): 1,
               ("SRV", False, "NXDOMAIN", 1, 2): 1}
    shares = apportion(10, weights)
    assert sum(shares.values()) == 10
    assert shares == {("A", False, "NOERROR", 1, 1): 5, ("AAAA", False, "NOERROR", 1, 1): 3,
                      ("SRV", False, "NXDOMAIN", 1, 2): 2}
    assert apportion(5, {}) == {}


def query_and_reply(name: str, rdtype: str, rcode: int = 0, do: bool = False
                    ) -> tuple[bytes, bytes]:
    query = dns.message.make_query(name, rdtype, want_dnssec=do, use_edns=0 if do else None)
    reply = dns.message.make_response(query)
    reply.set_rcode(rcode)
    reply.flags |= dns.flags.AA
    return query.to_wire(), reply.to_wire()


def test_a_stored_reply_s_kind_is_read_from_its_bytes() -> None:
    data, reply = query_and_reply("web.default.svc.cluster.local", "AAAA", 3, do=True)
    key, asked, sent = stored_key(data, reply)
    assert key == ("AAAA", True, "NXDOMAIN", 1, 1)
    assert (asked, sent) == (len(data), len(reply))
    assert stored_key(*query_and_reply("x.", "TYPE999"))[0][:3] == ("other", False, "NOERROR")


def test_fast_path_hits_are_counted_exactly_and_split_by_the_samples() -> None:
    listener = Listener("127.0.0.1", 53)
    mix = StoredMix()
    a, a_reply = query_and_reply("a.default.svc.cluster.local", "A")
    srv, srv_reply = query_and_reply("b.default.svc.cluster.local", "SRV", 3)
    mix.written(a, a_reply)
    mix.written(srv, srv_reply)
    mix.sampling = True
    for data, reply in ((a, a_reply),) * 3 + ((srv, srv_reply),):
        mix.hit(*stored_key(data, reply), 0.00001, sample=True)
    listener.udp_hits = 401
    samples = metrics.answered([listener], mix, 0)
    requests = samples[metrics.REQUESTS]
    assert sum(requests.values()) == 401  # type: ignore[arg-type]
    server = "dns://127.0.0.1:53"
    assert requests[(server, ".", "", "udp", "1", "A")] == 301
    assert requests[(server, ".", "", "udp", "1", "SRV")] == 100
    duration = samples[metrics.DURATION][(server, ".", "")]
    assert isinstance(duration, Histogram) and duration.counts[0] == 401
    assert samples[metrics.STORED_HITS][(server,)] == 401
    listener.udp_hits += 4  # the next scrape shares only the new hits: counters never fall
    later = metrics.answered([listener], mix, 0)[metrics.REQUESTS]
    assert later[(server, ".", "", "udp", "1", "A")] >= 301
    assert sum(later.values()) == 405  # type: ignore[arg-type]


def test_without_samples_the_stored_replies_as_written_stand_in() -> None:
    listener = Listener("127.0.0.1", 53)
    mix = StoredMix()
    mix.written(*query_and_reply("a.default.svc.cluster.local", "TXT"))
    listener.udp_hits = 7
    requests = metrics.answered([listener], mix, 0)[metrics.REQUESTS]
    assert requests == {("dns://127.0.0.1:53", ".", "", "udp", "1", "TXT"): 7}


def test_cache_lookups_give_requests_hits_and_misses() -> None:
    listener = Listener("127.0.0.1", 53)
    listener.cache_lookup(True, False)
    listener.cache_lookup(True, True)
    listener.cache_lookup(False, False)
    samples = metrics.answered([listener], StoredMix(), 0)
    server = "dns://127.0.0.1:53"
    assert samples[metrics.CACHE_REQUESTS] == {(server, ".", ""): 3}
    assert samples[metrics.CACHE_MISSES] == {(server, ".", ""): 1}
    assert samples[metrics.CACHE_HITS] == {(server, "success", ".", ""): 1,
                                           (server, "denial", ".", ""): 1}


def test_the_whole_exposition_passes_promtool() -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail("promtool is missing: `make test` installs Debian's prometheus")
    listener = Listener("127.0.0.1", 53)
    listener.record(metrics.ZONE, False, 1, False, 0, metrics.KUBERNETES, 0.001, 50, 90)
    listener.cache_lookup(True, False)
    timing = Histogram(metrics.TIME_BUCKETS)
    timing.observe(0.02)
    samples = metrics.answered([listener], StoredMix(), 2)
    samples.update(metrics.forwarding(listener.server, {"success": 3, "denial": 1},
                                      {("127.0.0.1:53", "NOERROR"): timing}))
    samples.update(metrics.stored({"udp": 4, "tcp": 0}, 0))
    samples.update(metrics.process(True))
    text = render(samples)
    assert "process_resident_memory_bytes" in text and "coredns_panics_total 2" in text
    checked = subprocess.run([promtool, "check", "metrics"], input=text, text=True,
                             capture_output=True, timeout=20)
    assert checked.returncode == 0, checked.stdout + checked.stderr
