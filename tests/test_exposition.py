"""The Prometheus text format written by hand: exact text, sums across workers, promtool."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from clusterdns.ops.exposition import (
    COUNTER,
    GAUGE,
    HISTOGRAM,
    Family,
    Histogram,
    decode,
    encode,
    merge,
    number,
    render,
)

HITS = Family("demo_hits_total", COUNTER, 'Hits "counted"\nby path.', ("path",))
UP = Family("demo_up", GAUGE, "Whether it is up.")
WAIT = Family("demo_wait_seconds", HISTOGRAM, "Waits.", ("server",), (0.00025, 0.5, 2.0))


def waits(*values: float) -> Histogram:
    histogram = Histogram(WAIT.buckets)
    for value in values:
        histogram.observe(value)
    return histogram


def test_families_render_sorted_with_help_type_and_escaped_labels() -> None:
    text = render({UP: {(): 1}, HITS: {("/b",): 2, ('a"\\\n',): 1},
                   WAIT: {("dns://[::1]:53",): waits(0.00025, 0.3, 7)}})
    assert text == (
        '# HELP demo_hits_total Hits "counted"\\nby path.\n'
        "# TYPE demo_hits_total counter\n"
        'demo_hits_total{path="/b"} 2\n'
        'demo_hits_total{path="a\\"\\\\\\n"} 1\n'
        "# HELP demo_up Whether it is up.\n"
        "# TYPE demo_up gauge\n"
        "demo_up 1\n"
        "# HELP demo_wait_seconds Waits.\n"
        "# TYPE demo_wait_seconds histogram\n"
        'demo_wait_seconds_bucket{server="dns://[::1]:53",le="0.00025"} 1\n'
        'demo_wait_seconds_bucket{server="dns://[::1]:53",le="0.5"} 2\n'
        'demo_wait_seconds_bucket{server="dns://[::1]:53",le="2"} 2\n'
        'demo_wait_seconds_bucket{server="dns://[::1]:53",le="+Inf"} 3\n'
        'demo_wait_seconds_sum{server="dns://[::1]:53"} 7.30025\n'
        'demo_wait_seconds_count{server="dns://[::1]:53"} 3\n'
    )


def test_a_family_with_labels_and_no_series_is_left_out() -> None:
    assert render({HITS: {}, UP: {(): 0}}) == "# HELP demo_up Whether it is up.\n" \
        "# TYPE demo_up gauge\ndemo_up 0\n"


def test_a_bound_is_in_its_own_bucket() -> None:
    assert waits(0.5).counts == [0, 1, 0, 0]
    assert waits(0.50001).counts == [0, 0, 1, 0]


@pytest.mark.parametrize(("value", "text"), [
    (0, "0"), (3, "3"), (16e3, "16000"), (0.00025, "0.00025"), (8.192, "8.192"),
    (1e-05, "1e-05"), (float("inf"), "+Inf"), (float("nan"), "NaN"), (2.5, "2.5"),
])
def test_numbers_are_written_as_go_writes_them(value: float, text: str) -> None:
    assert number(value) == text


def test_workers_add_up_series_by_series() -> None:
    total = {HITS: {("/a",): 1}, WAIT: {("s",): waits(0.1)}}
    merge(total, {HITS: {("/a",): 2, ("/b",): 5}, WAIT: {("s",): waits(1.0, 9)}})
    assert total[HITS] == {("/a",): 3, ("/b",): 5}
    histogram = total[WAIT][("s",)]
    assert isinstance(histogram, Histogram)
    assert histogram.counts == [0, 1, 1, 1] and histogram.sum == pytest.approx(10.1)


def test_a_snapshot_crosses_processes_as_json_unchanged() -> None:
    samples = {HITS: {("/a",): 4}, UP: {(): 1}, WAIT: {("s",): waits(0.2, 3)}}
    back = decode(encode(samples), {f.name: f for f in (HITS, UP, WAIT)})
    assert render(back) == render(samples)


def test_promtool_accepts_the_text() -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail("promtool is missing: `make test` installs Debian's prometheus")
    text = render({UP: {(): 1}, HITS: {("/b",): 2}, WAIT: {("x",): waits(0.1)}})
    checked = subprocess.run([promtool, "check", "metrics"], input=text, text=True,
                             capture_output=True, timeout=20)
    assert checked.returncode == 0, checked.stdout + checked.stderr
