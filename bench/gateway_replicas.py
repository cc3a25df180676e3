"""One gateway process against two (`--replicas gateway=2`), at fixed rates, alternating.

Each run starts a fresh system (`singlewindow up` on free ports), warms it with a few
declarations, then offers a constant rate of happy export 0110 for 20 s through the load tool
at the first gateway's URL. The second gateway shares the saga's consumer group (one of the
two partitions each) and the SQLite file; HTTP goes to the first.

    .venv/bin/python bench/gateway_replicas.py
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from singlewindow.spawn import Spawned, spawn_system

BIN = str(Path(sys.executable).parent / "singlewindow")


def load(system: Spawned, rate: int, duration_s: int, out: Path) -> dict[str, Any]:
    """`singlewindow load` against the system's first gateway; its JSON report."""
    subprocess.run(
        [
            *(BIN, "load", "--rate", str(rate), "--duration", str(duration_s)),
            *("--timeout", "60", "--mix", "export/0110/happy=1", "--out", str(out)),
            *("--gateway", system.url("gateway"), "--kafka", system.broker),
        ],
        capture_output=True,
        check=True,
    )
    report: dict[str, Any] = json.loads((out / "report.json").read_text())
    return report


def main() -> None:
    for round_ in (1, 2):
        for replicas in ("gateway=1", "gateway=2"):
            for rate in (60, 120):
                with tempfile.TemporaryDirectory() as tmp:
                    args = ("--replicas", replicas)
                    with spawn_system(Path(tmp) / "system", args=args) as system:
                        load(system, 5, 2, Path(tmp) / "warm-up")
                        r = load(system, rate, 20, Path(tmp) / "load")
                    a, c = r["accept_ms"], r["completion_ms"]
                    print(
                        f"round {round_} {replicas} {rate:>4}/s: "
                        f"completed {r['completion_rate']:.0f}/s, "
                        f"accept p50/p99 {a['p50']:.0f}/{a['p99']:.0f} ms, "
                        f"completion p50/p99 {c['p50']:.0f}/{c['p99']:.0f} ms, "
                        f"outcomes {r['outcomes']}",
                        flush=True,
                    )


if __name__ == "__main__":
    main()
