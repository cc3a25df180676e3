"""Many envelopes a Kafka record on the internal topics: the frame, and taking it apart.

A record on `sw.<agency>.commands` or `sw.<agency>.events` holds either one envelope (a JSON
object, as any producer may still send) or a frame: a JSON array of envelopes in the order
they were written, one to a line:

    [
    {"id":"0193…","type":"customs.declaration.file",…},
    {"id":"0193…","type":"forex.receipt.settle",…}
    ]

It is CloudEvents' batched mode (`application/cloudevents-batch+json`) in shape, so any JSON
tool reads it; the line layout lets a consumer split it without parsing (compact JSON has no
raw newline), so each element is decoded, deduplicated and, if bad, dead-lettered on its own.
The public status topic and the dead-letter topic keep one message a record.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from typing import NamedTuple

from aiokafka.partitioner import DefaultPartitioner

from schemas.topics import internal_topics
from services.common.changes import OutRow

FRAMED_TOPICS = frozenset(internal_topics())
# A frame stays well under the producer's max_request_size (1 MiB) and the broker's limit.
FRAME_MAX_BYTES = 256 * 1024
FRAME_MAX_ENVELOPES = 500

_OPEN, _SEP, _CLOSE = b"[\n", b",\n", b"\n]"


_PARTITIONER = DefaultPartitioner()


class Record(NamedTuple):
    """A Kafka record to send (partition None: the producer picks it by key)."""

    topic: str
    partition: int | None
    key: bytes | None
    value: bytes


class FrameError(ValueError):
    """A record that starts as a frame but is no JSON array."""


def frameable(value: bytes) -> bool:
    """Whether an envelope can go inside a frame (compact JSON: no raw newline)."""
    return b"\n" not in value


def frame(values: Sequence[bytes]) -> bytes:
    """One record's value for these envelopes (each `frameable`); one alone stays as it is."""
    if len(values) == 1:
        return values[0]
    return _OPEN + _SEP.join(values) + _CLOSE


def frames(values: Sequence[bytes]) -> Iterator[slice]:
    """Split one partition's envelopes, in order, into runs that each make one record."""
    start = size = 0
    for i, value in enumerate(values):
        if not frameable(value):  # sent alone, between the runs before and after it
            if i > start:
                yield slice(start, i)
            yield slice(i, i + 1)
            start, size = i + 1, 0
            continue
        if i > start and (size + len(value) > FRAME_MAX_BYTES or i - start >= FRAME_MAX_ENVELOPES):
            yield slice(start, i)
            start, size = i, 0
        size += len(value) + len(_SEP)
    if len(values) > start:
        yield slice(start, len(values))


def unframe(value: bytes) -> list[bytes]:
    """The envelopes a record carries, as bytes, in order (one for a record that is no frame).

    A JSON array laid out otherwise (another producer's) is parsed and each element written
    back compact; what is no JSON array raises FrameError."""
    if not value.startswith(b"["):
        return [value]
    if value.startswith(_OPEN) and value.endswith(_CLOSE):
        body = value[len(_OPEN) : -len(_CLOSE)]
        if not body:
            return []
        pieces = body.split(_SEP)
        if body.count(b"\n") == len(pieces) - 1:  # every newline a separator: our layout
            return pieces
    try:
        elements = json.loads(value)
    except ValueError as exc:
        raise FrameError(f"a frame that is no JSON array: {exc}") from exc
    if not isinstance(elements, list):
        raise FrameError("a frame that is no JSON array")
    return [json.dumps(e, separators=(",", ":"), ensure_ascii=False).encode() for e in elements]


def records_of(rows: Sequence[OutRow], partitions: Mapping[str, Sequence[int]]) -> list[Record]:
    """The records that carry outbox rows: on an internal topic, one frame a partition (in the
    rows' order, so a declaration's messages stay in order); elsewhere one record a row.

    `partitions`: each internal topic's partition ids, sorted. A row goes to the partition the
    producer's own partitioner gives its key, where it would land sent alone.
    """
    records: list[Record] = []
    by_partition: dict[tuple[str, int], list[OutRow]] = {}
    for row in rows:
        key = row.key.encode()
        if row.topic not in FRAMED_TOPICS:
            records.append(Record(row.topic, None, key, row.value))
            continue
        ids = partitions[row.topic]
        partition = _PARTITIONER(key, ids, ids)
        by_partition.setdefault((row.topic, partition), []).append(row)
    for (topic, partition), group in by_partition.items():
        values = [r.value for r in group]
        for part in frames(values):
            alone = part.stop - part.start == 1  # a frame of several has no one key
            key_of = group[part.start].key.encode() if alone else None
            records.append(Record(topic, partition, key_of, frame(values[part])))
    return records
