"""Naming the system's processes from their command lines, and reading our own from /proc."""

from __future__ import annotations

import os

from singlewindow.resources.gauge import Sample, cpu_ms_per_declaration, footprint
from singlewindow.resources.procs import role_of, usage


def test_the_broker_and_each_service_are_named_by_their_command_line() -> None:
    assert role_of(["/root/.calfkit/bin/tansu-v0.6.0-510f3e2", "broker", "--listener-url"]) == (
        "broker"
    )
    assert role_of(
        ["/x/.venv/bin/python", "-m", "singlewindow.serve", "customs", "--port", "1"]
    ) == ("customs")
    assert role_of(["/x/.venv/bin/python", "-m", "pytest"]) is None
    assert role_of([]) is None


def test_a_live_process_has_cpu_time_and_resident_memory() -> None:
    own = usage(os.getpid())
    assert own is not None and own.cpu_s > 0 and own.rss_bytes > 1_000_000


def test_cpu_and_growth_a_declaration_between_two_samples() -> None:
    # 0.5 s of gateway CPU over 100 declarations = 5 ms each; its memory grew 1 MB = 10 kB each;
    # the gateway's database grew 3.2 MB = 32 kB each.
    before = Sample(0, {"gateway": 1.0}, {"gateway": 90_000_000}, {"gateway": 800_000})
    after = Sample(60, {"gateway": 1.5}, {"gateway": 91_000_000}, {"gateway": 4_000_000})
    assert cpu_ms_per_declaration(before, after, 100) == {"gateway": 5.0}
    fp = footprint(before, after, 100)
    assert fp["memory"]["gateway"] == {
        "before": 90_000_000,
        "after": 91_000_000,
        "per_declaration": 10_000.0,
    }
    assert fp["disk"]["gateway"]["per_declaration"] == 32_000.0
    assert cpu_ms_per_declaration(before, after, 0) == {}
