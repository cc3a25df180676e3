"""An agency's CPU per command: customs, forex and tax consuming a happy export 0110, in one process.

The workflow of bench/saga_cpu.py: N declarations are submitted as
`POST /v1/declarations/batch` would, each agency consumes its commands in batches and the
gateway their events, each on its own real SQLite file, until every declaration completes.
Here the agencies are timed, the gateway is not: each agency's decode of the bytes +
`Processor.process` (inbox, records, handler, outbox and journal rows, commit, and the delete
of the outbox rows its relay sent) with `time.process_time` (every thread of this process:
the database thread too). An export 0110 in the `happy` scenario is five commands: customs
file, release, close; forex settle; tax refund.

    .venv/bin/python bench/agency_cpu.py                            # this checkout, 3 rounds
    .venv/bin/python bench/agency_cpu.py --compare /work/wt/base    # and another, interleaved

With `--compare`, every round runs in a fresh process: this checkout's interpreter, then the
other's (its .venv/bin/python, which imports its own code) on this same script.
"""

from __future__ import annotations

import statistics

from saga_cpu import rounds, workflow  # this folder is on sys.path when run

from schemas.topics import AGENCIES


async def one_round(n: int, batch: int) -> dict[str, float]:
    """Run n declarations through; each agency's CPU seconds and commands consumed."""
    tally = await workflow(n, batch, timed=AGENCIES)
    result: dict[str, float] = {"declarations": n}
    for agency in tally.handled:
        result[f"{agency}_cpu_s"] = tally.cpu[agency]
        result[f"{agency}_commands"] = tally.handled[agency]
    return result


def per_command(rounds: list[dict[str, float]], agency: str) -> list[float]:
    """µs of CPU per command of one agency, a figure a round."""
    return [r[f"{agency}_cpu_s"] / r[f"{agency}_commands"] * 1e6 for r in rounds]


def summary(name: str, rounds: list[dict[str, float]]) -> dict[str, tuple[float, float]]:
    """Print each agency's median and least CPU per command (and every round's); return them.

    On a shared machine a round only ever costs more than the work: the least of several
    rounds is the steadiest figure, the median the typical one."""
    figures: dict[str, tuple[float, float]] = {}
    for agency in AGENCIES:
        if f"{agency}_commands" not in rounds[0]:
            continue
        each = per_command(rounds, agency)
        figures[agency] = (statistics.median(each), min(each))
        per_decl = statistics.median(r[f"{agency}_cpu_s"] / r["declarations"] * 1e3 for r in rounds)
        print(
            f"{name:10s} {agency:8s} CPU per command: median {figures[agency][0]:4.0f} µs, "
            f"least {figures[agency][1]:4.0f} µs   per declaration: median {per_decl:4.2f} ms   "
            f"(rounds, µs/command: {' '.join(f'{x:.0f}' for x in each)})"
        )
    return figures


def main() -> None:
    args, ours, theirs = rounds(__doc__, "commands", __file__, one_round)
    counts = ", ".join(
        f"{a} {ours[0][f'{a}_commands'] / args.n:.0f}"
        for a in AGENCIES
        if f"{a}_commands" in ours[0]
    )
    print(f"commands a declaration: {counts}")
    if not theirs:
        summary("this", ours)
        return
    base = summary(str(args.compare), theirs)
    mine = summary("this", ours)
    for agency, (median, least) in mine.items():
        print(
            f"{agency:8s} ratio other / this: median {base[agency][0] / median:.2f}×, "
            f"least {base[agency][1] / least:.2f}×"
        )


if __name__ == "__main__":
    main()
