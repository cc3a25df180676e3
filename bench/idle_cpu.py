"""At rest it should rest: CPU per process with nothing submitted, and a first declaration after.

    .venv/bin/python bench/idle_cpu.py [seconds] [--declarations N] [--also SW_X=V ...]

Starts a fresh system as `make run` does (singlewindow/bench/idle.py, `measure_idle`) and
prints each process's share of a core over `seconds` of quiet (default 30), then the time from
POST to completed of declarations submitted one at a time after quiet spells. `--also` runs the
same again with those settings, e.g. `--also SW_IDLE_AFTER_S=1e9` (consumers that never rest,
as before they could), for a side-by-side figure in one run.
"""

from __future__ import annotations

import argparse

from singlewindow.bench.idle import measure_idle

if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("seconds", nargs="?", type=float, default=30)
    parser.add_argument("--declarations", type=int, default=3)
    parser.add_argument("--also", nargs="*", default=[])
    args = parser.parse_args()
    runs: list[dict[str, str]] = [{}]
    if args.also:
        runs.append(dict(a.split("=", 1) for a in args.also))
    for env in runs:
        report = measure_idle(args.seconds, declarations=args.declarations, extra_env=env)
        print(f"-- {' '.join(f'{k}={v}' for k, v in env.items()) or 'defaults'}")
        print("\n".join(report.lines()), flush=True)
