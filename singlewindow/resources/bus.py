"""Records and bytes put on the bus in a time window, read back from the topics afterwards."""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from services.common.bus import make_reader
from services.common.generations import base_of, layout
from services.common.settings import Settings

Offsets = dict[TopicPartition, int]
PREFIX = "sw."


@dataclass
class Traffic:
    """What one topic carried between two offset snapshots."""

    records: int
    bytes: int


async def end_offsets(bootstrap: str, prefix: str = PREFIX) -> Offsets:
    """The end offset the broker reports for every partition of the topics named `prefix…`.

    Where to start reading, not how much there is: the embedded broker (Tansu 0.6.0) answers
    the number of producer batches a partition holds, not its next offset, so the figure is at
    or before the true end.
    """
    reader = make_reader(Settings(kafka_bootstrap=bootstrap))
    await reader.start()
    try:
        return dict(await reader.end_offsets(await _partitions(reader, prefix)))
    finally:
        await reader.stop()


async def _partitions(reader: AIOKafkaConsumer, prefix: str) -> list[TopicPartition]:
    topics = {t: parts for t, parts in (await layout(reader)).items() if t.startswith(prefix)}
    return [TopicPartition(t, p) for t, parts in sorted(topics.items()) for p in sorted(parts)]


def _size(record: ConsumerRecord[bytes, bytes]) -> int:
    key = record.key or b""
    value = record.value or b""
    return len(key) + len(value) + sum(len(k) + len(v or b"") for k, v in record.headers or ())


async def traffic(
    bootstrap: str,
    start: Offsets,
    t_from: float,
    t_to: float,
    budget_s: float = 60.0,
    prefix: str = PREFIX,
) -> tuple[dict[str, Traffic], float, float]:
    """Records and bytes (key + value + headers) each topic took from `t_from` to `t_to`.

    Reads every partition from `start` (at or before where the window begins) and counts the
    records whose timestamp falls in the window (epoch seconds). Returns the figures and the
    window they cover: from `t_from`, or later when a topic generation was deleted during the
    window (its records are gone; the count starts where the oldest one left begins), to
    `t_to`, or earlier when `budget_s` ran out first.
    """
    counted: dict[tuple[str, int], list[int]] = defaultdict(lambda: [0, 0])  # (topic, s)
    reader = make_reader(Settings(kafka_bootstrap=bootstrap), max_partition_fetch_bytes=4 << 20)
    await reader.start()
    try:
        parts = await _partitions(reader, prefix)
        reader.assign(parts)
        for tp in parts:
            reader.seek(tp, start.get(tp, 0))
        reached: dict[TopicPartition, float] = dict.fromkeys(parts, t_from)
        lo, hi = t_from * 1000, t_to * 1000
        deadline = time.monotonic() + budget_s
        pending = set(parts)
        partial = False
        while pending:
            if time.monotonic() > deadline:  # out of time: count the seconds read in full
                t_to, partial = float(int(min(reached[tp] for tp in pending))), True
                break
            batches = await reader.getmany(*pending, timeout_ms=300, max_records=10_000)
            for tp, records in batches.items():
                for r in records:
                    if r.timestamp > hi:
                        pending.discard(tp)
                        reader.pause(tp)
                        break
                    if r.timestamp >= lo:
                        cell = counted[(tp.topic, int(r.timestamp // 1000))]
                        cell[0] += 1
                        cell[1] += _size(r)
                if records:
                    reached[tp] = max(reached[tp], records[-1].timestamp / 1000)
            # A fetch answers with the partition's true end (its high watermark), which the
            # embedded broker's ListOffsets does not: read to it, and the partition is done.
            for tp in list(pending):
                end = reader.highwater(tp)
                if end is not None and await reader.position(tp) >= end:
                    pending.discard(tp)
                    reader.pause(tp)
    finally:
        await reader.stop()
    t_from = max(t_from, _whole_from(start, parts, counted))
    # A topic's generations count as the topic.
    out = {base_of(tp.topic): Traffic(0, 0) for tp in parts}
    for (topic, second), (count, size) in counted.items():
        if second >= t_from and (not partial or second < t_to):
            out[base_of(topic)].records += count
            out[base_of(topic)].bytes += size
    return out, t_from, t_to


def _whole_from(
    start: Offsets, parts: list[TopicPartition], counted: dict[tuple[str, int], list[int]]
) -> float:
    """The first whole second from which every topic's records are all still there: for a topic
    that had a generation deleted since `start`, the first second of what is left of it."""
    now = {tp.topic for tp in parts}
    lost = {base_of(tp.topic) for tp in start if tp.topic not in now}
    firsts = [min((s for (t, s) in counted if base_of(t) == base), default=0) for base in lost]
    return float(max(firsts, default=0))


def bus_per_declaration(
    traffic: dict[str, Traffic], declarations: int, partial: bool = False
) -> dict[str, Any]:
    """Records and bytes a declaration on each topic, and in all (`partial`: of a part of the
    run, for lack of time to read it all)."""
    n = max(declarations, 1)
    topics = {
        topic: {
            "records": t.records,
            "bytes": t.bytes,
            "records_per_declaration": round(t.records / n, 2),
            "bytes_per_declaration": round(t.bytes / n),
        }
        for topic, t in sorted(traffic.items())
        if t.records
    }
    return {
        "declarations": declarations,
        "partial": partial,
        "topics": topics,
        "records_per_declaration": round(sum(t.records for t in traffic.values()) / n, 2),
        "bytes_per_declaration": round(sum(t.bytes for t in traffic.values()) / n),
    }
