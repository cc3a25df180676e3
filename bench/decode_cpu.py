"""Decoding an envelope: the generic model (payload model looked up in Python) against the
typed adapter `decode` uses (one pydantic-core pass), on a real workflow's messages.

    .venv/bin/python bench/decode_cpu.py [--n 200] [--rounds 7]

Both run in this one process, interleaved round by round (CPU time a message, every thread).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Callable, Sequence

import saga_cpu  # this folder is on sys.path when run

from schemas.envelope import Envelope, decode
from services.common.changes import OutRow
from services.common.handling import Processor


def messages(n: int) -> list[bytes]:
    """The bytes of every message n happy export 0110 declarations put on the bus."""
    seen: list[bytes] = []
    consume = saga_cpu.Tally.consume

    async def keep(
        self: saga_cpu.Tally,
        service: str,
        proc: Processor,
        chunk: Sequence[OutRow],
        *,
        timed: bool,
    ) -> list[OutRow]:
        seen.extend(r.value for r in chunk)
        return await consume(self, service, proc, chunk, timed=timed)

    saga_cpu.Tally.consume = keep  # type: ignore[method-assign]
    try:
        asyncio.run(saga_cpu.workflow(n, 50, timed=()))
    finally:
        saga_cpu.Tally.consume = consume  # type: ignore[method-assign]
    return seen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0] if __doc__ else None)
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    values = messages(args.n)
    print(f"{len(values)} messages, {sum(map(len, values)) // len(values)} bytes on average")
    ways: dict[str, Callable[[bytes], Envelope]] = {
        "generic": Envelope.model_validate_json,
        "typed": decode,
    }
    figures: dict[str, list[float]] = {name: [] for name in ways}
    for _ in range(args.rounds):
        for name, way in ways.items():
            started = time.process_time()
            for value in values:
                way(value)
            figures[name].append((time.process_time() - started) / len(values) * 1e6)
    for name, each in figures.items():
        print(
            f"{name:8s} µs a message: median {statistics.median(each):.1f}, least {min(each):.1f}"
        )


if __name__ == "__main__":
    main()
