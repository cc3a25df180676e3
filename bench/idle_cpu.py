"""At rest it should rest: CPU per process with nothing submitted, and a first declaration after.

    .venv/bin/python bench/idle_cpu.py [seconds]      # default 30 s of quiet

Starts a fresh system as `make run` does (singlewindow/bench/idle.py, `measure_idle`).
"""

from __future__ import annotations

import sys

from singlewindow.bench.idle import measure_idle

if __name__ == "__main__":
    report = measure_idle(float(sys.argv[1]) if len(sys.argv) > 1 else 30)
    print("\n".join(report.lines()))
