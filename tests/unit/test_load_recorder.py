"""A long run's series keeps a point every few seconds, its counts still a second."""

from __future__ import annotations

import time

import pytest

from singlewindow.load.costs import sent_until
from singlewindow.load.recorder import Recorder


def test_a_bucket_of_ten_seconds_reports_rates_a_second() -> None:
    r = Recorder(bucket_s=10)
    for i in range(30):  # 30 sent in the first 15 s: one every half second
        r.sent(i * 0.5)
    r.completed(3.0, 0.2, "completed", "export/0110")
    r.completed(12.0, 0.4, "completed", "export/0110")
    r.error(12.5, "http_503")
    report = r.report({})
    assert report["series_bucket_s"] == 10
    # 0-10 s: 20 sent, 1 completed → 2.0 and 0.1 a second; 10-15 s: 10 sent, 1 completed, 1 error.
    assert [(p["t"], p["sent"], p["completed"], p["errors"]) for p in report["series"]] == [
        (0, 2.0, 0.1, 0.0),
        (10, 1.0, 0.1, 0.1),
    ]
    assert report["series"][1]["p50_ms"] == pytest.approx(400, rel=1e-3)  # HDR: 3 digits


def test_a_bucket_of_one_second_keeps_plain_counts() -> None:
    r = Recorder()
    r.sent(0.1)
    r.sent(0.9)
    r.sent(1.2)
    assert [(p["t"], p["sent"]) for p in r.report({})["series"]] == [(0, 2), (1, 1)]


def test_sent_until_counts_the_buckets_wholly_before_a_wall_clock_time() -> None:
    r = Recorder()
    for t in (0.5, 1.5, 2.5, 3.5):
        r.sent(t)
    count = sent_until(r, time.monotonic())  # the run starts now
    # 2.5 s from now: buckets 0 and 1 are over (sent at 0.5 and 1.5), bucket 2 is not.
    assert count(time.time() + 2.5) == 2
    assert count(time.time() - 1) == 0
    assert count(time.time() + 100) == 4
