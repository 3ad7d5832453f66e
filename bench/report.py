"""The one table `make bench` prints: metric | dnsmasq | clusterdns | ratio | target | ok?"""

from __future__ import annotations

from dataclasses import dataclass

HEADER = ("metric", "dnsmasq", "clusterdns", "ratio", "target", "ok?")


@dataclass(frozen=True)
class Row:
    """One measured figure for both servers (None where a server has no such figure).

    `ratio` is clusterdns/dnsmasq unless given; `ok` is None when the row has no target.
    """

    metric: str
    dnsmasq: float | None
    clusterdns: float | None
    fmt: str = "{:,.0f}"
    target: str = ""
    ok: bool | None = None
    ratio: float | None = None

    def ratio_value(self) -> float | None:
        """The given ratio, else clusterdns/dnsmasq when both were measured."""
        if self.ratio is not None:
            return self.ratio
        if self.dnsmasq and self.clusterdns is not None:
            return self.clusterdns / self.dnsmasq
        return None

    def cells(self) -> tuple[str, ...]:
        """The row as the six strings of the table."""
        ratio = self.ratio_value()
        verdict = {None: "", True: "ok", False: "MISS"}[self.ok]
        return (self.metric, self._format(self.dnsmasq), self._format(self.clusterdns),
                "-" if ratio is None else f"{ratio:.2f}x", self.target or "-", verdict)

    def _format(self, value: float | None) -> str:
        return "-" if value is None else self.fmt.format(value)

    def as_json(self) -> dict[str, object]:
        """The row with raw numbers, for scripts that compare runs."""
        return {"metric": self.metric, "dnsmasq": self.dnsmasq, "clusterdns": self.clusterdns,
                "ratio": self.ratio_value(), "target": self.target, "ok": self.ok}


def table(rows: list[Row]) -> str:
    """Plain text, columns aligned: text left, numbers right."""
    lines = [HEADER, *(row.cells() for row in rows)]
    widths = [max(len(line[i]) for line in lines) for i in range(len(HEADER))]
    left = {0, 4, 5}
    out = []
    for n, line in enumerate(lines):
        out.append("  ".join(cell.ljust(w) if i in left or n == 0 else cell.rjust(w)
                             for i, (cell, w) in enumerate(zip(line, widths, strict=True)))
                   .rstrip())
        if n == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)
