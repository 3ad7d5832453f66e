"""Prometheus's text format (version 0.0.4), written from plain numbers at scrape time.

prometheus-client is not used: a labelled `Counter.inc` costs microseconds, as much as a
whole answer from a stored reply. Counting stays plain integers and dictionaries of
them where the queries are answered; this module only turns a snapshot of those numbers
into the text a scraper reads, sums the snapshots of several processes, and carries a
snapshot between processes as JSON.
"""

from __future__ import annotations

import bisect
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass

COUNTER, GAUGE, HISTOGRAM = "counter", "gauge", "histogram"


@dataclass(frozen=True)
class Family:
    """One metric family: its name, type, help text, label names and (histograms) buckets."""

    name: str
    kind: str
    help: str
    labels: tuple[str, ...] = ()
    buckets: tuple[float, ...] = ()


class Histogram:
    """Observations counted per bucket (each bucket alone, not cumulative) and summed."""

    __slots__ = ("bounds", "counts", "sum")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)  # the last one is +Inf
        self.sum = 0.0

    @property
    def count(self) -> int:
        return sum(self.counts)

    def observe(self, value: float) -> None:
        """Count `value` in the first bucket whose upper bound (`le`) it does not pass."""
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.sum += value

    def add(self, other: Histogram) -> None:
        for index, count in enumerate(other.counts):
            self.counts[index] += count
        self.sum += other.sum


Value = int | float | Histogram
Series = dict[tuple[str, ...], Value]  # label values, in the family's label order -> value
Samples = dict[Family, Series]


def render(samples: Mapping[Family, Series]) -> str:
    """The exposition: families sorted by name, series by label values, as Go's client does.

    A family with labels but no series is left out, as client_golang leaves out a vector
    that was never used.
    """
    lines: list[str] = []
    for family in sorted(samples, key=lambda f: f.name):
        series = samples[family]
        if not series:
            continue
        lines.append(f"# HELP {family.name} {_escape_help(family.help)}")
        lines.append(f"# TYPE {family.name} {family.kind}")
        for values in sorted(series):
            labels = list(zip(family.labels, values, strict=True))
            value = series[values]
            if isinstance(value, Histogram):
                lines.extend(_histogram_lines(family, labels, value))
            else:
                lines.append(f"{family.name}{_labels(labels)} {number(value)}")
    return "\n".join(lines) + "\n"


def _histogram_lines(family: Family, labels: list[tuple[str, str]],
                     histogram: Histogram) -> list[str]:
    lines = []
    cumulative = 0
    for bound, count in zip((*family.buckets, math.inf), histogram.counts, strict=True):
        cumulative += count
        le = [*labels, ("le", number(bound))]
        lines.append(f"{family.name}_bucket{_labels(le)} {cumulative}")
    lines.append(f"{family.name}_sum{_labels(labels)} {number(histogram.sum)}")
    lines.append(f"{family.name}_count{_labels(labels)} {cumulative}")
    return lines


def number(value: float) -> str:
    """A sample value or bucket bound as Go writes it: integers without a point."""
    if isinstance(value, int) or (math.isfinite(value) and value == int(value)
                                  and abs(value) < 1e15):
        return str(int(value))
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(value)


def _labels(pairs: list[tuple[str, str]]) -> str:
    if not pairs:
        return ""
    return "{" + ",".join(f'{name}="{_escape_value(value)}"' for name, value in pairs) + "}"


def _escape_value(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def merge(into: Samples, other: Mapping[Family, Series]) -> None:
    """Add `other` to `into`, series by series: counts add up, and so do histograms."""
    for family, series in other.items():
        mine = into.setdefault(family, {})
        for labels, value in series.items():
            if isinstance(value, Histogram):
                total = mine.get(labels)
                if not isinstance(total, Histogram):
                    total = mine[labels] = Histogram(family.buckets)
                total.add(value)
            else:
                mine[labels] = mine.get(labels, 0) + value  # type: ignore[operator]


def encode(samples: Mapping[Family, Series]) -> bytes:
    """`samples` as JSON, to hand to another process (see `decode`)."""
    return json.dumps({
        family.name: [[list(labels), _encode_value(value)] for labels, value in series.items()]
        for family, series in samples.items()
    }).encode()


def _encode_value(value: Value) -> object:
    if isinstance(value, Histogram):
        return {"counts": value.counts, "sum": value.sum}
    return value


def decode(data: bytes, families: Mapping[str, Family]) -> Samples:
    """What `encode` wrote, with its families looked up by name in `families`."""
    samples: Samples = {}
    for name, rows in json.loads(data).items():
        family = families[name]
        series: Series = {}
        for labels, value in rows:
            if isinstance(value, dict):
                histogram = Histogram(family.buckets)
                histogram.counts = [int(c) for c in value["counts"]]
                histogram.sum = float(value["sum"])
                series[tuple(labels)] = histogram
            else:
                series[tuple(labels)] = value
        samples[family] = series
    return samples
