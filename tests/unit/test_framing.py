"""The frame of the internal topics: many envelopes a record, taken apart in order."""

from __future__ import annotations

import json

import pytest
from aiokafka.partitioner import murmur2

from schemas.topics import STATUS, commands, events
from services.common.changes import OutRow
from services.common.framing import (
    FRAME_MAX_ENVELOPES,
    FrameError,
    frame,
    frames,
    records_of,
    unframe,
)


def test_a_frame_is_a_json_array_its_elements_come_back_as_they_went_in() -> None:
    values = [b'{"id":"a","n":1}', b'{"id":"b","text":"x,\\ny"}', b'{"id":"c"}']
    framed = frame(values)
    assert json.loads(framed) == [json.loads(v) for v in values]
    assert unframe(framed) == values


def test_one_envelope_alone_is_sent_and_read_as_it_is() -> None:
    assert frame([b'{"id":"a"}']) == b'{"id":"a"}'
    assert unframe(b'{"id":"a"}') == [b'{"id":"a"}']


def test_an_array_laid_out_by_another_producer_is_parsed_element_by_element() -> None:
    pretty = json.dumps([{"id": "a", "n": [1, 2]}, {"id": "b"}], indent=2).encode()
    assert unframe(pretty) == [b'{"id":"a","n":[1,2]}', b'{"id":"b"}']
    assert unframe(b"[]") == []


def test_a_record_that_opens_a_frame_but_is_no_json_array_is_refused() -> None:
    with pytest.raises(FrameError):
        unframe(b"[not json")


def test_runs_split_at_the_envelope_limit_and_around_an_envelope_that_cannot_be_framed() -> None:
    values = [b"{}"] * (FRAME_MAX_ENVELOPES + 2) + [b'{\n"pretty":1}', b"{}"]
    runs = list(frames(values))
    assert [(r.start, r.stop) for r in runs] == [
        (0, FRAME_MAX_ENVELOPES),
        (FRAME_MAX_ENVELOPES, FRAME_MAX_ENVELOPES + 2),
        (FRAME_MAX_ENVELOPES + 2, FRAME_MAX_ENVELOPES + 3),
        (FRAME_MAX_ENVELOPES + 3, FRAME_MAX_ENVELOPES + 4),
    ]


def _partition(key: str, count: int) -> int:
    return (murmur2(key.encode()) & 0x7FFFFFFF) % count


def test_a_flush_makes_one_record_a_partition_in_the_order_written_and_status_one_a_row() -> None:
    # Keys chosen to fall on both partitions of a two-partition topic.
    keys = [k for k in (f"d-{i}" for i in range(20))]
    on = {p: [k for k in keys if _partition(k, 2) == p][:2] for p in (0, 1)}
    a, b = on[0]
    c, d = on[1]
    topic = commands("customs")
    written = [(a, 1), (c, 1), (a, 2), (b, 1), (d, 1), (c, 2)]
    rows = [
        OutRow(f"{key}/{n}", topic, key, json.dumps({"id": f"{key}/{n}"}).encode())
        for key, n in written
    ]
    rows.append(OutRow("s1", STATUS, a, b'{"id":"s1"}'))
    rows.append(OutRow("s2", STATUS, a, b'{"id":"s2"}'))
    records = records_of(rows, {topic: [0, 1], events("tax"): [0, 1]})
    framed = {r.partition: r for r in records if r.topic == topic}
    ids = {p: [json.loads(v)["id"] for v in unframe(r.value)] for p, r in framed.items()}
    assert ids == {0: [f"{a}/1", f"{a}/2", f"{b}/1"], 1: [f"{c}/1", f"{d}/1", f"{c}/2"]}
    assert all(r.key is None for r in framed.values())  # a frame of several keys has none
    status = [r for r in records if r.topic == STATUS]
    assert [(r.partition, r.key, r.value) for r in status] == [
        (None, a.encode(), b'{"id":"s1"}'),
        (None, a.encode(), b'{"id":"s2"}'),
    ]
