"""Is it growing? A least-squares slope per minute against the samples' own noise (pure)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Trend:
    """A fitted line through (seconds, value) samples and its verdict."""

    slope_per_min: float  # value units a minute
    band_per_min: float  # a slope within ± this cannot be told from noise
    noise: float  # residual standard deviation, value units
    samples: int
    span_min: float

    @property
    def verdict(self) -> str:
        """`flat` within the band, else `growing` or `shrinking`."""
        if abs(self.slope_per_min) <= self.band_per_min:
            return "flat"
        return "growing" if self.slope_per_min > 0 else "shrinking"


def trend(points: Sequence[tuple[float, float]], quantum: float = 0.0) -> Trend | None:
    """The least-squares slope of `points` (t in seconds) per minute, with a noise band.

    The band is the rise over the whole window that two residual standard deviations (or the
    measurement's `quantum`, e.g. a 4 KiB page, if larger) would explain, per minute: a line
    that climbs less than the noise spreads over the window is called flat. None with fewer
    than three samples or no time between them.
    """
    n = len(points)
    if n < 3:
        return None
    ts = [t / 60 for t, _ in points]
    ys = [y for _, y in points]
    t_mean, y_mean = sum(ts) / n, sum(ys) / n
    sxx = sum((t - t_mean) ** 2 for t in ts)
    if sxx == 0:
        return None
    slope = sum((t - t_mean) * (y - y_mean) for t, y in zip(ts, ys, strict=True)) / sxx
    residuals = [y - (y_mean + slope * (t - t_mean)) for t, y in zip(ts, ys, strict=True)]
    noise = math.sqrt(sum(r * r for r in residuals) / (n - 2))
    span = max(ts) - min(ts)
    return Trend(slope, max(2 * noise, quantum) / span, noise, n, span)


def after_warmup(
    points: Sequence[tuple[float, float]], warmup_s: float
) -> list[tuple[float, float]]:
    """The samples taken at or after `warmup_s`."""
    return [(t, y) for t, y in points if t >= warmup_s]
