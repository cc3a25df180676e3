"""The load report's HTML: charts with axes, ticks, gridlines and units, and no network."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import pytest

from singlewindow.load.charts import nice_ticks
from singlewindow.load.plan import Profile
from singlewindow.load.recorder import Recorder
from singlewindow.load.report import write_reports


@pytest.mark.parametrize(
    ("top", "count", "ticks"),
    [
        # 118 / 5 = 23.6 a tick: the next round step is 25, so 0 … 125 covers 118.
        (118, 5, [0, 25, 50, 75, 100, 125]),
        # 31.5 / 10 = 3.15: step 5, seven steps to reach 35.
        (31.5, 10, [0, 5, 10, 15, 20, 25, 30, 35]),
        # 0.8 / 5 = 0.16: step 0.2, four steps exactly (no fifth for rounding noise).
        (0.8, 5, [0, 0.2, 0.4, 0.6, 0.8]),
        (0, 5, [0, 1]),  # an empty chart still has an axis
    ],
)
def test_ticks_fall_on_round_steps_up_to_the_top(
    top: float, count: int, ticks: list[float]
) -> None:
    assert nice_ticks(top, count) == pytest.approx(ticks)


@dataclass
class Chart:
    title: str = ""
    classes: list[str] = field(default_factory=list)
    texts: dict[str, list[str]] = field(default_factory=dict)  # by class: tick x, unit y …
    series: dict[str, int] = field(default_factory=dict)  # name → number of points


class Page(HTMLParser):
    """The charts of a report page, and every tag and attribute it has."""

    def __init__(self) -> None:
        super().__init__()
        self.charts: list[Chart] = []
        self.tags: set[str] = set()
        self.attributes: list[str] = []
        self._text_class: str | None = None
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        got = dict(attrs)
        self.attributes += [v or "" for v in got.values()]
        if tag == "svg":
            self.charts.append(Chart())
        elif self.charts:
            chart = self.charts[-1]
            chart.classes.append(got.get("class") or "")
            if tag == "polyline":
                chart.series[got["data-name"] or ""] = len((got["points"] or "").split())
            self._text_class = got.get("class") if tag == "text" else None
            self._in_title = tag == "title"

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.charts[-1].title = data
        elif self._text_class:
            self.charts[-1].texts.setdefault(self._text_class, []).append(data)

    def handle_endtag(self, tag: str) -> None:
        self._text_class, self._in_title = None, False


def test_the_report_page_draws_the_offered_rate_against_completions_and_stands_alone(
    tmp_path: Path,
) -> None:
    profile = Profile.parse("ramp:10-30", 4)  # 10/s rising to 30/s over 4 s
    rec = Recorder()
    for t in profile.send_times():
        rec.sent(t)
        rec.accepted(t, 0.002)
        rec.completed(t + 0.25, 0.25, "completed", "export/0110")
        rec.in_flight.append((t, 3))
    offered = [profile.rate_at(t + 0.5) for t in range(4)]
    report = rec.report(
        {
            "model": "open",
            "profile": "ramp:10,30",
            "mix": "export/0110=1",
            "sent": len(profile.send_times()),
            "duration_s": 4.3,
            "offered_rate": 20.0,
            "completion_rate": 20.0,
            "offered_per_s": offered,
        }
    )
    _, html_path = write_reports(report, tmp_path)
    text = html_path.read_text()
    page = Page()
    page.feed(text)

    # Nothing to fetch: no scripts, stylesheets, images or URLs of any kind.
    assert not {"script", "link", "img", "iframe", "object"} & page.tags
    assert not re.search(r"https?:|//|url\(|@import", text)
    assert not [a for a in page.attributes if a.startswith(("http", "//", "data:"))]

    titles = [c.title for c in page.charts]
    assert titles == [
        "throughput: offered against completed",
        "completion latency, per second of completion",
        "declarations in flight",
    ]
    seconds = len(report["series"])  # 0 … 4: the last completions land in second 4
    throughput = page.charts[0]
    assert throughput.series == {
        "errors/s": seconds,
        "completed/s": seconds,
        "sent/s": seconds,
        "offered/s": 4,
    }
    for chart in page.charts:
        assert {"axis x", "axis y"} <= set(chart.classes)
        assert chart.texts["unit x"] == ["time since the run started (s)"]
        # One time axis for all three: 0 … 5 s (the run's last second ends at 5).
        assert chart.texts["tick x"] == ["0", "1", "2", "3", "4", "5"]
        assert len(chart.texts["tick y"]) >= 3
        # A gridline across the plot at each y tick, and one up from each x tick.
        grids = chart.classes.count("grid")
        assert grids == len(chart.texts["tick y"]) + len(chart.texts["tick x"])
    assert [c.texts["unit y"] for c in page.charts] == [
        ["declarations per second"],
        ["latency (ms)"],
        ["declarations"],
    ]
    # The throughput's y axis reaches past the highest rate offered (27.5/s in the last second).
    assert float(throughput.texts["tick y"][-1]) >= max(offered) == 27.5
