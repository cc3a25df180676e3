"""What a load run measured: HDR histograms, per-second series, errors and outcomes."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from hdrh.histogram import HdrHistogram

PERCENTILES = (50.0, 90.0, 99.0, 99.9)
MAX_US = 600_000_000  # ten minutes


def histogram() -> HdrHistogram:
    """Microseconds from 1 µs to ten minutes, three significant digits."""
    return HdrHistogram(1, MAX_US, 3)


def summary_ms(h: HdrHistogram) -> dict[str, float | int]:
    """count, p50, p90, p99, p99.9 and max of a histogram, in milliseconds."""
    out: dict[str, float | int] = {"count": h.get_total_count()}
    for p in PERCENTILES:
        out[f"p{p:g}"] = round(h.get_value_at_percentile(p) / 1000, 3)
    out["max"] = round(h.get_max_value() / 1000, 3)
    return out


@dataclass
class Second:
    """Counts and latencies of one second of the run."""

    sent: int = 0
    accepted: int = 0
    completed: int = 0
    errors: int = 0
    completion: HdrHistogram = field(default_factory=histogram)


@dataclass
class Recorder:
    """Everything the run measures; times are seconds since the run started."""

    accept: HdrHistogram = field(default_factory=histogram)
    completion: HdrHistogram = field(default_factory=histogram)
    stages: dict[str, HdrHistogram] = field(default_factory=lambda: defaultdict(histogram))
    seconds: dict[int, Second] = field(default_factory=lambda: defaultdict(Second))
    errors: Counter[str] = field(default_factory=Counter)
    outcomes: Counter[str] = field(default_factory=Counter)
    by_kind: dict[str, HdrHistogram] = field(default_factory=lambda: defaultdict(histogram))
    lag: list[dict[str, Any]] = field(default_factory=list)
    in_flight: list[tuple[float, int]] = field(default_factory=list)
    # Seconds a point of the series covers: a soak of hours keeps one histogram a minute, not a
    # second (one is about 170 KB).
    bucket_s: int = 1

    def _at(self, t: float) -> Second:
        return self.seconds[int(t // self.bucket_s)]

    def sent(self, t: float) -> None:
        self._at(t).sent += 1

    def accepted(self, t: float, latency_s: float) -> None:
        self.accept.record_value(max(1, int(latency_s * 1e6)))
        self._at(t).accepted += 1

    def completed(self, t: float, latency_s: float, status: str, kind: str) -> None:
        us = max(1, int(latency_s * 1e6))
        self.completion.record_value(us)
        self.by_kind[kind].record_value(us)
        second = self._at(t)
        second.completed += 1
        second.completion.record_value(us)
        self.outcomes[status] += 1

    def stage(self, agency: str, seconds: float) -> None:
        self.stages[agency].record_value(max(1, int(seconds * 1e6)))

    def error(self, t: float, kind: str) -> None:
        self.errors[kind] += 1
        self._at(t).errors += 1

    def report(self, meta: dict[str, Any]) -> dict[str, Any]:
        """The JSON report."""
        last = max(self.seconds) if self.seconds else -1
        series = []
        for s in range(last + 1):
            sec = self.seconds.get(s, Second())
            has = sec.completion.get_total_count() > 0
            per_s = self.bucket_s  # counts a second, whatever the bucket
            series.append(
                {
                    "t": s * self.bucket_s,
                    "sent": _rate(sec.sent, per_s),
                    "accepted": _rate(sec.accepted, per_s),
                    "completed": _rate(sec.completed, per_s),
                    "errors": _rate(sec.errors, per_s),
                    "p50_ms": round(sec.completion.get_value_at_percentile(50) / 1000, 3)
                    if has
                    else None,
                    "p99_ms": round(sec.completion.get_value_at_percentile(99) / 1000, 3)
                    if has
                    else None,
                }
            )
        return {
            **meta,
            "accept_ms": summary_ms(self.accept),
            "completion_ms": summary_ms(self.completion),
            "stage_ms": {k: summary_ms(v) for k, v in sorted(self.stages.items())},
            "completion_by_kind_ms": {k: summary_ms(v) for k, v in sorted(self.by_kind.items())},
            "outcomes": dict(self.outcomes),
            "errors": dict(self.errors),
            "series": series,
            "series_bucket_s": self.bucket_s,
            "consumer_lag": self.lag,
            "in_flight": [{"t": round(t, 1), "n": n} for t, n in self.in_flight],
        }


def _rate(count: int, seconds: int) -> float | int:
    return count if seconds == 1 else round(count / seconds, 2)
