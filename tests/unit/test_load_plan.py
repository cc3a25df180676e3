"""The load tool's plan: arrival schedules, the scenario mix, and what the recorder reports."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from singlewindow.load.plan import Profile, choose, parse_mix
from singlewindow.load.recorder import Recorder


def test_a_constant_rate_sends_evenly_spaced() -> None:
    times = Profile.parse("200", 2.0).send_times()
    # 200/s for 2 s: 400 sends, 5 ms apart, the first at 0.
    assert len(times) == 400
    assert times[1] - times[0] == pytest.approx(0.005)
    assert times[-1] == pytest.approx(1.995)


def test_a_ramp_sends_the_area_under_the_rate() -> None:
    times = Profile.parse("ramp:10-100", 10.0).send_times()
    # The rate climbs linearly from 10/s to 100/s over 10 s: about (10 + 100) / 2 × 10 = 550 sends.
    assert 530 <= len(times) <= 570
    first_second = sum(1 for t in times if t < 1)
    last_second = sum(1 for t in times if t >= 9)
    assert first_second < 20 and last_second > 85


def test_steps_split_the_duration_evenly() -> None:
    profile = Profile.parse("step:10,20,40", 3.0)
    assert [profile.rate_at(t) for t in (0.5, 1.5, 2.5)] == [10, 20, 40]
    # 10 + 20 + 40 sends, one second each.
    assert len(profile.send_times()) == 70


@pytest.mark.parametrize("spec", ["fast", "ramp:10", "step:", "0", "-5", "wave:1-2"])
def test_a_bad_profile_is_refused_with_the_accepted_forms(spec: str) -> None:
    with pytest.raises(ValueError, match=r"200, ramp:50-500 or step:100,200,400|positive"):
        Profile.parse(spec, 10)


def test_the_mix_is_drawn_by_weight_and_the_same_seed_draws_the_same() -> None:
    mix = parse_mix("export/0110/happy=3,import/1210=1")
    assert [e.label for e in mix] == ["export/0110/happy", "import/1210"]
    draws = choose(mix, 4000, seed=7)
    shares = Counter(e.label for e in draws)
    assert 2850 <= shares["export/0110/happy"] <= 3150  # 3/4 of 4,000 = 3,000
    assert [e.label for e in choose(mix, 50, seed=7)] == [e.label for e in draws[:50]]


def test_the_mix_can_come_from_a_file(tmp_path: Path) -> None:
    path = tmp_path / "mix.json"
    path.write_text(
        json.dumps(
            [
                {"direction": "export", "trade_mode": "9610", "weight": 2},
                {"direction": "import", "trade_mode": "0110", "scenario": "happy"},
            ]
        )
    )
    mix = parse_mix(f"@{path}")
    assert [(e.label, e.weight) for e in mix] == [("export/9610", 2.0), ("import/0110/happy", 1.0)]


@pytest.mark.parametrize("spec", ["", "sideways/0110=1", "export=1", "export/0110=0"])
def test_a_bad_mix_is_refused(spec: str) -> None:
    with pytest.raises(ValueError):
        parse_mix(spec)


def test_the_report_summarises_latencies_in_milliseconds_per_second() -> None:
    rec = Recorder()
    for i in range(100):
        rec.sent(i / 100)
        rec.accepted(i / 100, 0.002)
        rec.completed(1 + i / 100, 0.1 + i / 1000, "completed", "export/0110")
    rec.error(1.5, "http_503")
    report = rec.report({"model": "open"})
    # Completions took 100, 101, … 199 ms: the 50th of 100 values is 149 ms; max 199 ms
    # (HDR keeps three significant digits, so within half a millisecond).
    assert report["completion_ms"]["count"] == 100
    assert report["completion_ms"]["p50"] == pytest.approx(149, abs=0.5)
    assert report["completion_ms"]["max"] == pytest.approx(199.0, abs=0.5)
    assert report["accept_ms"]["p99"] == pytest.approx(2.0, abs=0.01)
    assert [s["sent"] for s in report["series"]] == [100, 0]
    assert [s["completed"] for s in report["series"]] == [0, 100]
    assert report["errors"] == {"http_503": 1}
    assert report["outcomes"] == {"completed": 100}
