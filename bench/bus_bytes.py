"""Records and bytes a declaration puts on the bus, by topic.

Starts a fresh embedded system (`singlewindow up` on free ports), submits `--count` sample
declarations of one kind (export 0110 happy by default), waits for each to end, then reads
every topic from its start and counts what is there: on a fresh broker that is exactly what
those declarations put on the bus. Bytes are each record's key and value.

    .venv/bin/python bench/bus_bytes.py [--count 5] [--direction export] [--mode 0110]

`bus_bytes(bootstrap, count)` is the part the bench can call against a system it started.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition

from schemas.samples import sample_declaration
from schemas.topics import all_topics
from singlewindow.spawn import Spawned, spawn_system

API_KEY = "sk_test_singlewindow_demo"
TERMINAL = {"completed", "rejected", "failed", "cancelled"}


@dataclass
class TopicCount:
    """Records and bytes on one topic."""

    records: int = 0
    bytes: int = 0


@dataclass
class BusCount:
    """What a number of declarations put on the bus, by topic."""

    declarations: int
    topics: dict[str, TopicCount] = field(default_factory=dict)

    def table(self) -> str:
        """Per declaration, by topic, and the total."""
        n = self.declarations
        lines = [f"{'topic':<26} {'records':>8} {'bytes':>8}   (per declaration, {n} declared)"]
        for topic, c in sorted(self.topics.items()):
            if c.records:
                lines.append(f"{topic:<26} {c.records / n:>8.1f} {c.bytes / n:>8.0f}")
        records = sum(c.records for c in self.topics.values()) / n
        size = sum(c.bytes for c in self.topics.values()) / n
        lines.append(f"{'total':<26} {records:>8.1f} {size:>8.0f}")
        lines.append(f"bus_records={records:.1f} bus_bytes={size:.0f}")
        return "\n".join(lines)


async def count_topics(bootstrap: str) -> dict[str, TopicCount]:
    """Every record on every topic of the system, from the start until nothing more comes.

    (The embedded broker's end offsets name the last batch, not the end of the log, so the
    reading stops when two fetches in a row find nothing.)
    """
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        parts = [
            TopicPartition(t, p)
            for t in all_topics()
            for p in sorted(consumer.partitions_for_topic(t) or ())
        ]
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        counts = {t: TopicCount() for t in all_topics()}
        empty = 0
        deadline = time.monotonic() + 60
        while empty < 2 and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=1000)
            empty = 0 if batches else empty + 1
            for tp, records in batches.items():
                c = counts[tp.topic]
                c.records += len(records)
                c.bytes += sum(len(r.key or b"") + len(r.value or b"") for r in records)
        return counts
    finally:
        await consumer.stop()


def run_declarations(base_url: str, count: int, direction: str, mode: str) -> list[str]:
    """Submit `count` sample declarations one after another; wait for each to end."""
    ids = []
    with httpx.Client(
        base_url=base_url, timeout=10, headers={"Authorization": f"Bearer {API_KEY}"}
    ) as client:
        for _ in range(count):
            resp = client.post(
                "/v1/declarations", json=sample_declaration(direction, mode, "happy")
            )
            resp.raise_for_status()
            ids.append(resp.json()["id"])
        deadline = time.monotonic() + 60
        for declaration_id in ids:
            while client.get(f"/v1/declarations/{declaration_id}").json()["status"] not in TERMINAL:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{declaration_id} did not end in 60 s")
                time.sleep(0.1)  # polling a condition with a deadline
    return ids


def bus_bytes(
    system: Spawned, count: int, direction: str = "export", mode: str = "0110"
) -> BusCount:
    """What `count` declarations put on the bus of a fresh system (nothing else on it)."""
    run_declarations(system.url("gateway"), count, direction, mode)
    # The last records (status, a relay's late flush) may follow the end the API shows:
    # count until two counts agree.
    counts = asyncio.run(count_topics(system.broker))
    for _ in range(20):
        again = asyncio.run(count_topics(system.broker))
        if again == counts:
            break
        counts = again
    return BusCount(count, counts)


@contextmanager
def fresh_system() -> Iterator[Spawned]:
    """A fresh embedded system in a temporary folder."""
    with tempfile.TemporaryDirectory() as tmp, spawn_system(Path(tmp) / "system") as system:
        yield system


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=5)
    parser.add_argument("--direction", default="export")
    parser.add_argument("--mode", default="0110")
    args = parser.parse_args()
    with fresh_system() as system:
        print(bus_bytes(system, args.count, args.direction, args.mode).table())


if __name__ == "__main__":
    main()
