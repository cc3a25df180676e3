"""The soak's slope: least squares a minute, a noise band, and a verdict (worked examples)."""

from __future__ import annotations

import math

import pytest

from singlewindow.resources.slope import after_warmup, trend


def test_a_straight_climb_has_its_slope_and_no_noise() -> None:
    # 100 B at t=0, 160 at 60 s, 220 at 120 s, 280 at 180 s: 60 B a minute, exactly.
    t = trend([(0, 100), (60, 160), (120, 220), (180, 280)])
    assert t is not None
    assert t.slope_per_min == pytest.approx(60)
    assert t.noise == pytest.approx(0)
    assert t.band_per_min == 0 and t.verdict == "growing"


def test_a_file_that_does_not_change_is_flat() -> None:
    # A database nothing writes to: 4096 B at every sample, slope 0, no noise, flat.
    t = trend([(0, 4096), (30, 4096), (60, 4096), (90, 4096)])
    assert t is not None
    assert t.slope_per_min == 0 and t.noise == 0 and t.verdict == "flat"


def test_a_saw_around_a_level_is_flat() -> None:
    # Minutes 0..4: 10, 12, 10, 12, 10. Mean t = 2, mean y = 10.8;
    # Σ(t-2)(y-10.8) = (-2)(-0.8) + (-1)(1.2) + 0 + (1)(1.2) + (2)(-0.8) = 0, so the slope is 0.
    t = trend([(0, 10), (60, 12), (120, 10), (180, 12), (240, 10)])
    assert t is not None
    assert t.slope_per_min == pytest.approx(0)
    # Residuals -0.8, 1.2, -0.8, 1.2, -0.8: Σr² = 3·0.64 + 2·1.44 = 4.8; σ = √(4.8/3) = 1.265;
    # band = 2σ over the 4-minute window = 0.632 a minute.
    assert t.noise == pytest.approx(math.sqrt(1.6))
    assert t.band_per_min == pytest.approx(2 * math.sqrt(1.6) / 4)
    assert t.verdict == "flat"


def test_a_slope_inside_the_noise_is_flat_and_one_above_it_grows() -> None:
    # The saw above plus 0.5 a minute: slope 0.5 (the saw adds nothing), residuals unchanged,
    # band 0.632 → flat. Plus 1 a minute: slope 1 > 0.632 → growing.
    saw = [10, 12, 10, 12, 10]
    gentle = trend([(60 * m, y + 0.5 * m) for m, y in enumerate(saw)])
    steep = trend([(60 * m, y + 1.0 * m) for m, y in enumerate(saw)])
    assert gentle is not None and steep is not None
    assert gentle.slope_per_min == pytest.approx(0.5) and gentle.verdict == "flat"
    assert steep.slope_per_min == pytest.approx(1.0) and steep.verdict == "growing"


def test_a_falling_line_shrinks() -> None:
    t = trend([(0, 300), (30, 250), (60, 200)])  # -50 B in 30 s: -100 a minute
    assert t is not None
    assert t.slope_per_min == pytest.approx(-100) and t.verdict == "shrinking"


def test_the_quantum_widens_the_band() -> None:
    # Half a page (2,048 B) more at the end of a 10-minute window, no other change: the slope is
    # 2,048 / (2·5 min) = 204.8 B a minute. Fitted line at minutes 0, 5, 10: -341.33, 682.67,
    # 1,706.67; residuals 341.33, -682.67, 341.33; σ = √(699,050.7 / 1) = 836.1, so the noise
    # band alone is 2σ / 10 = 167.2 < 204.8: growing. With a page (4,096 B) as the quantum the
    # band is 4,096 / 10 = 409.6 a minute, and the half page is flat.
    pts = [(0, 0), (300, 0), (600, 2048)]
    raw, paged = trend(pts), trend(pts, quantum=4096)
    assert raw is not None and paged is not None
    assert raw.slope_per_min == pytest.approx(204.8) == paged.slope_per_min
    assert raw.noise == pytest.approx(math.sqrt(699_050.67), rel=1e-6)
    assert raw.band_per_min == pytest.approx(167.22, abs=0.01)
    assert raw.verdict == "growing"
    assert paged.band_per_min == pytest.approx(409.6)
    assert paged.verdict == "flat"


def test_too_few_or_simultaneous_samples_give_no_trend() -> None:
    assert trend([(0, 1), (60, 2)]) is None
    assert trend([(5, 1), (5, 2), (5, 3)]) is None


def test_warm_up_samples_are_left_out() -> None:
    assert after_warmup([(0, 1), (10, 2), (20, 3)], 10) == [(10, 2), (20, 3)]
